/*
 * pickle_internal.h - what the three files of the pickle machine share
 * (zstd's *_internal.h pattern); nothing outside lib/pickle includes it.
 *
 *   pickle_vm.c      the machine: values, stack, memo, the opcode loop,
 *                    dict keys, tsl__pickle_load
 *   pickle_global.c  the GLOBAL allow-list and what its entries do
 *                    (tensor rebuilding, typed lists, Python builtins):
 *                    the one file to review for what a pickle may call
 *   pickle_fast.c    the tensor fast path: a second reader of the same
 *                    bytes for the usual tensor pattern, falling back to
 *                    the machine (FT_GENERIC) for anything else
 *
 * Every function takes the machine (struct vm) and reports errors through
 * it (tsl__vm_fail: record and offset of the current opcode).
 */
#ifndef TSL_PICKLE_INTERNAL_H
#define TSL_PICKLE_INTERNAL_H

#include "pickle.h"

/* GLOBAL actions (u.global.action of a TSL__VALUE_GLOBAL placeholder). */
enum {
	TSL__G_CLASS = 1,        /* __torch__.*: object (NEWOBJ/BUILD) or enum */
	TSL__G_TENSOR_V2,        /* torch._utils _rebuild_tensor_v2 */
	TSL__G_TENSOR_V3,        /* torch._utils _rebuild_tensor_v3 (Python) */
	TSL__G_QTENSOR,          /* torch._utils _rebuild_qtensor */
	TSL__G_SPARSE,           /* torch._utils _rebuild_sparse_tensor */
	TSL__G_PARAMETER,        /* torch._utils _rebuild_parameter[_with_state] */
	TSL__G_FROM_TYPE_V2,     /* torch._tensor _rebuild_from_type_v2 */
	TSL__G_PARAMETER_CLS,    /* torch.nn.parameter Parameter */
	TSL__G_TENSOR_CLS,       /* torch Tensor, torch._tensor Tensor */
	TSL__G_ORDERED_DICT,     /* collections OrderedDict */
	TSL__G_RESTORE_TYPE_TAG, /* torch.jit._pickle restore_type_tag */
	TSL__G_INTLIST,          /* build_intlist, __main__ IntList */
	TSL__G_DOUBLELIST,
	TSL__G_BOOLLIST,
	TSL__G_TENSORLIST,
	TSL__G_TENSOR_FROM_ID,   /* build_tensor_from_id, __main__ TensorID */
	TSL__G_DEVICE,           /* torch device */
	TSL__G_COMPLEX,          /* builtins complex */
	TSL__G_CODECS_ENCODE,    /* _codecs encode (Python) */
	TSL__G_SET,              /* builtins set (Python) */
	TSL__G_FROZENSET,        /* builtins frozenset (Python) */
	TSL__G_BYTEARRAY,        /* builtins bytearray (Python) */
	TSL__G_SIZE,             /* torch Size (Python) */
	TSL__G_GET_LAYOUT        /* torch.serialization _get_layout (Python) */
};

/* Opcodes. */
enum {
	OP_MARK = '(', OP_STOP = '.', OP_POP = '0', OP_POP_MARK = '1',
	OP_DUP = '2', OP_FLOAT = 'F', OP_INT = 'I', OP_BININT = 'J',
	OP_BININT1 = 'K', OP_LONG = 'L', OP_BININT2 = 'M', OP_NONE = 'N',
	OP_PERSID = 'P', OP_BINPERSID = 'Q', OP_REDUCE = 'R', OP_STRING = 'S',
	OP_BINSTRING = 'T', OP_SHORT_BINSTRING = 'U', OP_UNICODE = 'V',
	OP_BINUNICODE = 'X', OP_APPEND = 'a', OP_BUILD = 'b', OP_GLOBAL = 'c',
	OP_DICT = 'd', OP_EMPTY_DICT = '}', OP_APPENDS = 'e', OP_GET = 'g',
	OP_BINGET = 'h', OP_INST = 'i', OP_LONG_BINGET = 'j', OP_LIST = 'l',
	OP_EMPTY_LIST = ']', OP_OBJ = 'o', OP_PUT = 'p', OP_BINPUT = 'q',
	OP_LONG_BINPUT = 'r', OP_SETITEM = 's', OP_TUPLE = 't',
	OP_EMPTY_TUPLE = ')', OP_SETITEMS = 'u', OP_BINFLOAT = 'G',
	OP_PROTO = 0x80, OP_NEWOBJ = 0x81, OP_EXT1 = 0x82, OP_EXT2 = 0x83,
	OP_EXT4 = 0x84, OP_TUPLE1 = 0x85, OP_TUPLE2 = 0x86, OP_TUPLE3 = 0x87,
	OP_NEWTRUE = 0x88, OP_NEWFALSE = 0x89, OP_LONG1 = 0x8a, OP_LONG4 = 0x8b,
	OP_BINBYTES = 'B', OP_SHORT_BINBYTES = 'C',
	OP_SHORT_BINUNICODE = 0x8c, OP_BINUNICODE8 = 0x8d, OP_BINBYTES8 = 0x8e,
	OP_EMPTY_SET = 0x8f, OP_ADDITEMS = 0x90, OP_FROZENSET = 0x91,
	OP_NEWOBJ_EX = 0x92, OP_STACK_GLOBAL = 0x93, OP_MEMOIZE = 0x94,
	OP_FRAME = 0x95, OP_BYTEARRAY8 = 0x96, OP_NEXT_BUFFER = 0x97,
	OP_READONLY_BUFFER = 0x98
};

#define GLOBAL_MAX 65536    /* bytes in a GLOBAL module or name: a bound
                               on the line scan (libtorch has none; a
                               module name of 1,199 bytes was refused at
                               1,024) */
#define VALUE_SLAB 64       /* values allocated from the arena at once */
#define FT_SHARE_RANK 4     /* the fast path shares dims up to this rank */

/* the longest item array recycled: a dict of 32 entries (a module's
 * attributes: a Conv2d has 15); those of up to FREE_ITEMS_EXACT slots
 * have a list per length, longer ones share one (the struct is on the
 * stack: a bigger one costs a page fault in some callers) */
#define FREE_ITEMS_MAX 64
#define FREE_ITEMS_EXACT 16

struct vm {
	const tsl_pickle_ctx *ctx;
	tsl_error *err;
	const uint8_t *data;
	size_t len;
	size_t pos;             /* next byte to read */
	size_t op;              /* position of the current opcode */
	unsigned char opcode;
	bool python;
	uint32_t max_depth;

	tsl_value **stack;
	size_t sp, scap;
	size_t *marks;
	size_t nmarks, mcap;
	tsl_value **memo;
	size_t memo_cap;        /* slots allocated */
	size_t memo_count;      /* slots set (MEMOIZE's next index) */
	size_t memo_populated;  /* bytes of memo populated ahead */
	size_t memo_pf_next;    /* publish to the prefault helper here */
	tsl_value **dicts;      /* every dict made, for the key pass at STOP */
	size_t ndicts, dcap;
	uint32_t *dtable;      /* dedup scratch table */
	size_t dtcap;

	tsl_value *slab;
	size_t slab_left;
	/* recycled transient values and item arrays (argument tuples of
	 * REDUCE and BINPERSID that nothing else can reach) */
	tsl_value *free_values;
	tsl_value **free_items[FREE_ITEMS_EXACT + 1]; /* by length 1..16 */
	tsl_value **free_long;  /* 17..FREE_ITEMS_MAX slots, length in [1] */
	tsl_value *none, *yes, *no, *empty_tuple;
	tsl_value *small[256];  /* shared ints 0..255 */
	/* the fast path's last geometry block (offset, sizes, strides) by
	 * rank, shared by the tensors that have the same one; nothing writes
	 * a block once a tensor has it */
	int64_t *dims[FT_SHARE_RANK + 1];
};


/* ---- pickle_vm.c: errors ---- */
/* The file offset of the current opcode (TSL_NO_OFFSET if unknown). */
TSL_INTERNAL uint64_t tsl__vm_err_offset(const struct vm *m);
/* Fail with code and a message naming the opcode and its offset. */
TSL_INTERNAL int tsl__vm_fail(struct vm *m, int code, const char *fmt, ...)
	TSL_PRINTF(3, 4);
/* A callback (make_storage, tensor_made, object_built) failed with rc and
 * filled m->err: add the current opcode's offset and the record where the
 * callee named none.  Returns rc. */
TSL_INTERNAL int tsl__vm_callee_fail(struct vm *m, int rc);
/* Out of arena memory: TSL_ELIMIT or TSL_ENOMEM. */
TSL_INTERNAL int tsl__vm_fail_mem(struct vm *m);
/* "int", "dict", "tensor"... for messages. */
TSL_INTERNAL const char *tsl__vm_kind_name(const tsl_value *v);

/* ---- pickle_vm.c: values (in the arena; NULL when it is full) ---- */
TSL_INTERNAL tsl_value *tsl__vm_new_value(struct vm *m, int kind);
/* A new TENSOR value's tensor (tsl__tensor_value gives the value back),
 * zeroed but for its kind: the caller sets at least geom before
 * tsl__vm_push_tensor.  NULL when the arena is full. */
TSL_INTERNAL struct tsl_tensor *tsl__vm_new_tensor(struct vm *m);
/* Give a transient value (an argument tuple nothing else reaches) back. */
TSL_INTERNAL void tsl__vm_recycle(struct vm *m, tsl_value *v, int depth);
TSL_INTERNAL tsl_value *tsl__vm_new_int(struct vm *m, int64_t i);
TSL_INTERNAL tsl_value *tsl__vm_new_str(struct vm *m, int kind,
	const void *s, size_t n);
/* A new LIST/TUPLE/DICT from n items (n/2 entries for a dict). */
TSL_INTERNAL int tsl__vm_new_seq(struct vm *m, int kind, tsl_value **items,
	size_t n, tsl_value **out);

/* ---- pickle_vm.c: stack and memo ---- */
TSL_INTERNAL int tsl__vm_push_slow(struct vm *m, tsl_value *v);
/* The stack index above the innermost open MARK. */
TSL_INTERNAL size_t tsl__vm_stack_floor(const struct vm *m);
/* Set memo slot idx to a value or a tagged entry (MEMO_*). */
TSL_INTERNAL int tsl__vm_memo_set(struct vm *m, uint64_t idx,
	uintptr_t entry);
/* The value of memo slot idx, made from a tagged entry when needed. */
TSL_INTERNAL tsl_value *tsl__vm_memo_value(struct vm *m, size_t idx);
/* The caller's make_storage for a BINPERSID. */
TSL_INTERNAL int tsl__vm_make_storage(struct vm *m, int dtype,
	const char *key, const char *location, uint64_t numel,
	struct tsl_storage **out);

/* ---- pickle_global.c ---- */
/* GLOBAL mod name: an allowed entry's placeholder or value is pushed;
 * anything else is TSL_EUNSAFE. */
TSL_INTERNAL int tsl__vm_global(struct vm *m, const char *mod, size_t mlen,
	const char *name, size_t nlen);
/* A GLOBAL placeholder (NULL: out of arena memory). */
TSL_INTERNAL tsl_value *tsl__vm_new_global(struct vm *m, int action,
	const char *mod, size_t mlen, const char *name, size_t nlen);
/* REDUCE / NEWOBJ (build false) or BUILD (true) on placeholder g. */
TSL_INTERNAL int tsl__vm_apply(struct vm *m, tsl_value *g, tsl_value *arg,
	bool build);
TSL_INTERNAL int tsl__vm_want_int(struct vm *m, const tsl_value *v,
	const char *what, int64_t *out);
/* A view's sizes, strides and offset fit (m NULL: no message, 1). */
TSL_INTERNAL int tsl__vm_check_view(struct vm *m, const int64_t *shape,
	const int64_t *stride, uint32_t n, int64_t off);
/* Push a rebuilt tensor's value (t from tsl__vm_new_tensor; tell the
 * caller first, tensor_made). */
TSL_INTERNAL int tsl__vm_push_tensor(struct vm *m, struct tsl_tensor *t);

/* ---- pickle_fast.c ---- */
/* At a MARK that may open a tensor: TSL_OK when the fast path read it,
 * FT_GENERIC when the machine must, or an error. */
TSL_INTERNAL int tsl__vm_fast_tensor(struct vm *m);

/* ---- shared inline helpers ---- */

/*
 * A memo slot holds a value, or - set only by the tensor fast path
 * (fast_tensor) - a tagged stand-in for one that was never needed as a
 * value: memoized, but maybe never fetched.  memo_value makes the value on
 * the first fetch and puts it in the slot, so every later fetch sees the
 * same value (identity is kept).
 *   MEMO_STR: (pos << 2) | 1: the str of the BINUNICODE opcode at pickle
 *             byte pos (its bytes were checked when the slot was set);
 *   MEMO_ST:  tensor | 2: the storage of that tensor (the result of its
 *             BINPERSID: t->storage, t->dtype).
 */
#define MEMO_TAG 3u
#define MEMO_STR 1u
#define MEMO_ST 2u

static inline uintptr_t memo_entry(const struct vm *m, size_t idx)
{
	return (uintptr_t)m->memo[idx];
}

#define FT_GENERIC 1      /* not the pattern: run the generic path */

/* Every opcode pushes: the common case inline, growth and NULL apart. */
static inline int push(struct vm *m, tsl_value *v)
{
	if (__builtin_expect(v && m->sp < m->scap, 1)) {
		m->stack[m->sp++] = v;
		return TSL_OK;
	}
	return tsl__vm_push_slow(m, v);
}

/* Account for `item` becoming part of container c (depth, INNER, cycles). */
static inline int adopt(struct vm *m, tsl_value *c, tsl_value *item)
{
	if (item == c)
		return tsl__vm_fail(m, TSL_EUNSUPPORTED,
			"a %s that contains itself (cyclic structures are not "
			"supported)", tsl__vm_kind_name(c));
	item->flags |= TSL__VF_INNER;
	/* lets later layers skip containers that hold no object */
	if (item->kind == TSL_VALUE_OBJECT || item->kind == TSL_VALUE_ENUM ||
		(item->flags & TSL__VF_HAS_OBJ) || item->kind >= TSL__VALUE_GLOBAL)
		c->flags |= TSL__VF_HAS_OBJ;
	if (item->depth >= c->depth) {
		if (item->depth >= m->max_depth)
			return tsl__vm_fail(m, TSL_ELIMIT,
				"values nested deeper than max_depth (%u)",
				m->max_depth);
		c->depth = item->depth + 1;
	}
	return TSL_OK;
}

/* s[0..n) equals the literal; the first byte is compared before the
 * length, so a scan of the tables below rejects most entries at once */
static inline bool eq(const char *s, size_t n, const char *lit)
{
	return n && s[0] == lit[0] && strlen(lit) == n &&
		memcmp(s, lit, n) == 0;
}

#endif
