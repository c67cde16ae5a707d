/*
 * pickle_vm.c - the restricted pickle machine (see pickle.h; FORMAT.md
 * sections 5 and 14).
 *
 * An iterative stack machine: the value stack and the mark stack are
 * malloc'd growable arrays, the memo is an array indexed by the BINPUT
 * index; every value lives in ctx->arena.  Nothing recurses on the C stack
 * in proportion to the input.
 *
 * Invariants that protect the layers above:
 *  - depth: every value's `depth` (nesting height) is <= max_depth, and at
 *    most max_depth MARKs are open at once;
 *  - no cycles: a container may only be changed (APPEND, SETITEM(S),
 *    ADDITEMS, BUILD) while it is not an item of another value
 *    (TSL__VF_INNER); changing it later, which only a cyclic (or hostile)
 *    pickle does, is TSL_EUNSUPPORTED.  So the value graph is a DAG whose
 *    heights stay exact;
 *  - dicts: a key that occurs twice keeps its first position and takes the
 *    last value (Python semantics), resolved once at STOP.
 *    Keys compare by content for None/bool/int/float/str/bytes/device and
 *    by identity for everything else.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pickle_internal.h"

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

#define GLOBAL_MAX 1024     /* bytes in a GLOBAL module or name */
#define VALUE_SLAB 64       /* values allocated from the arena at once */
#define FT_SHARE_RANK 4     /* the fast path shares dims up to this rank */

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
	tsl_value **dicts;      /* every dict made, for the key pass at STOP */
	size_t ndicts, dcap;
	uint32_t *dtable;      /* dedup scratch table */
	size_t dtcap;

	tsl_value *slab;
	size_t slab_left;
	/* recycled transient values and item arrays (argument tuples of
	 * REDUCE and BINPERSID that nothing else can reach) */
	tsl_value *free_values;
	tsl_value **free_items[9];   /* by length 1..8 */
	tsl_value *none, *yes, *no, *empty_tuple;
	tsl_value *small[256];  /* shared ints 0..255 */
	/* the fast path's last sizes+strides array by rank (shared by the
	 * tensors that have the same ones; nothing writes them) */
	int64_t *dims[FT_SHARE_RANK + 1];
};

uint64_t tsl__vm_err_offset(const struct vm *m)
{
	if (m->ctx->file_offset == TSL_NO_OFFSET)
		return TSL_NO_OFFSET;
	return m->ctx->file_offset + m->op;
}

static const char *op_name(unsigned op)
{
	switch (op) {
	case OP_MARK: return "MARK";
	case OP_STOP: return "STOP";
	case OP_POP: return "POP";
	case OP_POP_MARK: return "POP_MARK";
	case OP_DUP: return "DUP";
	case OP_FLOAT: return "FLOAT";
	case OP_INT: return "INT";
	case OP_BININT: return "BININT";
	case OP_BININT1: return "BININT1";
	case OP_LONG: return "LONG";
	case OP_BININT2: return "BININT2";
	case OP_NONE: return "NONE";
	case OP_PERSID: return "PERSID";
	case OP_BINPERSID: return "BINPERSID";
	case OP_REDUCE: return "REDUCE";
	case OP_STRING: return "STRING";
	case OP_BINSTRING: return "BINSTRING";
	case OP_SHORT_BINSTRING: return "SHORT_BINSTRING";
	case OP_UNICODE: return "UNICODE";
	case OP_BINUNICODE: return "BINUNICODE";
	case OP_APPEND: return "APPEND";
	case OP_BUILD: return "BUILD";
	case OP_GLOBAL: return "GLOBAL";
	case OP_DICT: return "DICT";
	case OP_EMPTY_DICT: return "EMPTY_DICT";
	case OP_APPENDS: return "APPENDS";
	case OP_GET: return "GET";
	case OP_BINGET: return "BINGET";
	case OP_INST: return "INST";
	case OP_LONG_BINGET: return "LONG_BINGET";
	case OP_LIST: return "LIST";
	case OP_EMPTY_LIST: return "EMPTY_LIST";
	case OP_OBJ: return "OBJ";
	case OP_PUT: return "PUT";
	case OP_BINPUT: return "BINPUT";
	case OP_LONG_BINPUT: return "LONG_BINPUT";
	case OP_SETITEM: return "SETITEM";
	case OP_TUPLE: return "TUPLE";
	case OP_EMPTY_TUPLE: return "EMPTY_TUPLE";
	case OP_SETITEMS: return "SETITEMS";
	case OP_BINFLOAT: return "BINFLOAT";
	case OP_PROTO: return "PROTO";
	case OP_NEWOBJ: return "NEWOBJ";
	case OP_EXT1: return "EXT1";
	case OP_EXT2: return "EXT2";
	case OP_EXT4: return "EXT4";
	case OP_TUPLE1: return "TUPLE1";
	case OP_TUPLE2: return "TUPLE2";
	case OP_TUPLE3: return "TUPLE3";
	case OP_NEWTRUE: return "NEWTRUE";
	case OP_NEWFALSE: return "NEWFALSE";
	case OP_LONG1: return "LONG1";
	case OP_LONG4: return "LONG4";
	case OP_BINBYTES: return "BINBYTES";
	case OP_SHORT_BINBYTES: return "SHORT_BINBYTES";
	case OP_SHORT_BINUNICODE: return "SHORT_BINUNICODE";
	case OP_BINUNICODE8: return "BINUNICODE8";
	case OP_BINBYTES8: return "BINBYTES8";
	case OP_EMPTY_SET: return "EMPTY_SET";
	case OP_ADDITEMS: return "ADDITEMS";
	case OP_FROZENSET: return "FROZENSET";
	case OP_NEWOBJ_EX: return "NEWOBJ_EX";
	case OP_STACK_GLOBAL: return "STACK_GLOBAL";
	case OP_MEMOIZE: return "MEMOIZE";
	case OP_FRAME: return "FRAME";
	case OP_BYTEARRAY8: return "BYTEARRAY8";
	case OP_NEXT_BUFFER: return "NEXT_BUFFER";
	case OP_READONLY_BUFFER: return "READONLY_BUFFER";
	default: return "?";
	}
}

TSL_PRINTF(3, 4)
int tsl__vm_fail(struct vm *m, int code, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return tsl__error(m->err, code, m->ctx->record, tsl__vm_err_offset(m),
		"%s at pickle byte %zu: %s", op_name(m->opcode), m->op, msg);
}

int tsl__vm_fail_mem(struct vm *m)
{
	return tsl__arena_error(m->ctx->arena, m->err, m->ctx->record,
		tsl__vm_err_offset(m));
}

static int fail_nomem(struct vm *m)
{
	return tsl__error(m->err, TSL_ENOMEM, m->ctx->record,
		tsl__vm_err_offset(m),
		"out of memory for the pickle stack or memo");
}

const char *tsl__vm_kind_name(const tsl_value *v)
{
	switch (v->kind) {
	case TSL_VALUE_NONE: return "None";
	case TSL_VALUE_BOOL: return "bool";
	case TSL_VALUE_INT: return "int";
	case TSL_VALUE_FLOAT: return "float";
	case TSL_VALUE_COMPLEX: return "complex";
	case TSL_VALUE_STRING: return "str";
	case TSL_VALUE_BYTES: return "bytes";
	case TSL_VALUE_LIST: return "list";
	case TSL_VALUE_TUPLE: return "tuple";
	case TSL_VALUE_DICT: return "dict";
	case TSL_VALUE_DEVICE: return "device";
	case TSL_VALUE_ENUM: return "enum";
	case TSL_VALUE_OBJECT: return "object";
	case TSL_VALUE_MODULE: return "module";
	case TSL_VALUE_TENSOR: return "tensor";
	case TSL__VALUE_GLOBAL: return "GLOBAL";
	case TSL__VALUE_STORAGE: return "storage";
	default: return "?";
	}
}

/* ---- values ------------------------------------------------------------ */

tsl_value *tsl__vm_new_value(struct vm *m, int kind)
{
	tsl_value *v;

	if (m->free_values) {
		v = m->free_values;
		m->free_values = v->u.seq.items ? (tsl_value *)v->u.seq.items :
			NULL;
		memset(v, 0, sizeof *v);
		v->kind = (uint16_t)kind;
		return v;
	}
	if (!m->slab_left) {
		m->slab = tsl__arena_calloc(m->ctx->arena, VALUE_SLAB,
			sizeof *m->slab);
		if (!m->slab)
			return NULL;
		m->slab_left = VALUE_SLAB;
	}
	v = m->slab++;   /* zeroed by the arena */
	m->slab_left--;
	v->kind = (uint16_t)kind;
	return v;
}

/*
 * Give back a transient container: a TUPLE (or an empty DICT) that was
 * only ever an argument (never memoized, so nothing else can reach it) is
 * recycled with its items array, and so are such tuples among its items.
 * On a 20,000-tensor model this keeps the working set in cache and the
 * arena a third smaller.
 */
void tsl__vm_recycle(struct vm *m, tsl_value *v, int depth)
{
	if (!v || (v->flags & TSL__VF_MEMO) ||
		!(v->kind == TSL_VALUE_TUPLE ||
		(v->kind == TSL_VALUE_DICT && v->len == 0)))
		return;
	if (v->kind == TSL_VALUE_TUPLE && v->len) {
		if (v->len > 8 || v->len != v->u.seq.cap)
			return;   /* not an exact small array: leave it */
		if (depth < 2)
			for (uint32_t i = 0; i < v->len; i++) {
				tsl_value *it = v->u.seq.items[i];

				if (it->kind == TSL_VALUE_TUPLE ||
					it->kind == TSL_VALUE_DICT)
					tsl__vm_recycle(m, it, depth + 1);
			}
		v->u.seq.items[0] = (tsl_value *)m->free_items[v->len];
		m->free_items[v->len] = v->u.seq.items;
	}
	v->u.seq.items = (tsl_value **)m->free_values;
	m->free_values = v;
}

tsl_value *tsl__vm_new_int(struct vm *m, int64_t i)
{
	tsl_value *v;

	if (i >= 0 && i < 256 && m->small[i])
		return m->small[i];
	v = tsl__vm_new_value(m, TSL_VALUE_INT);
	if (v) {
		v->u.i = i;
		if (i >= 0 && i < 256)
			m->small[i] = v;
	}
	return v;
}

static tsl_value *new_bool(struct vm *m, int b)
{
	tsl_value **slot = b ? &m->yes : &m->no;

	if (!*slot) {
		*slot = tsl__vm_new_value(m, TSL_VALUE_BOOL);
		if (*slot)
			(*slot)->u.b = b;
	}
	return *slot;
}

static tsl_value *new_none(struct vm *m)
{
	if (!m->none)
		m->none = tsl__vm_new_value(m, TSL_VALUE_NONE);
	return m->none;
}

tsl_value *tsl__vm_new_str(struct vm *m, int kind, const void *s, size_t n)
{
	tsl_value *v = tsl__vm_new_value(m, kind);

	if (!v)
		return NULL;
	v->u.s = tsl__arena_strndup(m->ctx->arena, s, n);
	if (!v->u.s)
		return NULL;
	v->len = (uint32_t)n;
	return v;
}

static int dedup_one(struct vm *m, tsl_value *v);

static int track_dict(struct vm *m, tsl_value *d)
{
	if (m->ndicts == m->dcap) {
		size_t cap = m->dcap ? m->dcap * 2 : 64;
		tsl_value **p = realloc(m->dicts, cap * sizeof *p);

		if (!p)
			return fail_nomem(m);
		m->dicts = p;
		m->dcap = cap;
	}
	m->dicts[m->ndicts++] = d;
	return TSL_OK;
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

/* A new LIST/TUPLE/DICT from n items (n/2 entries for a dict). */
int tsl__vm_new_seq(struct vm *m, int kind, tsl_value **items, size_t n,
	tsl_value **out)
{
	size_t units = kind == TSL_VALUE_DICT ? n / 2 : n;
	tsl_value *v = NULL;
	int rc;

	if (units > m->ctx->limits->max_container || units > UINT32_MAX)
		return tsl__vm_fail(m, TSL_ELIMIT,
			"a %s of %zu items is over max_container (%llu)",
			kind == TSL_VALUE_DICT ? "dict" : kind == TSL_VALUE_LIST ?
			"list" : "tuple", units,
			(unsigned long long)m->ctx->limits->max_container);
	v = tsl__vm_new_value(m, kind);
	if (!v)
		return tsl__vm_fail_mem(m);
	v->depth = 1;
	v->flags |= TSL__VF_VM;
	if (n) {
		if (n <= 8 && m->free_items[n]) {
			v->u.seq.items = m->free_items[n];
			m->free_items[n] = (tsl_value **)v->u.seq.items[0];
		} else {
			v->u.seq.items = tsl__arena_calloc(m->ctx->arena, n,
				sizeof *items);
		}
		if (!v->u.seq.items)
			return tsl__vm_fail_mem(m);
		memcpy(v->u.seq.items, items, n * sizeof *items);
		for (size_t i = 0; i < n; i++)
			if ((rc = adopt(m, v, items[i])))
				return rc;
	}
	v->len = (uint32_t)units;
	v->u.seq.cap = (uint32_t)units;
	if (kind == TSL_VALUE_DICT && units > 1 && (rc = dedup_one(m, v)))
		return rc;
	*out = v;
	return TSL_OK;
}

static int check_mutable(struct vm *m, tsl_value *c)
{
	if (c->flags & TSL__VF_INNER)
		return tsl__vm_fail(m, TSL_EUNSUPPORTED,
			"changes a %s that is already inside another value "
			"(cyclic structures are not supported)",
				tsl__vm_kind_name(c));
	return TSL_OK;
}

/* Append n items (n/2 entries for a dict) to list/dict/set c. */
static int seq_extend(struct vm *m, tsl_value *c, tsl_value **items, size_t n)
{
	size_t unit = c->kind == TSL_VALUE_DICT ? 2 : 1;
	size_t units = n / unit, need, cap;
	tsl_value **p;
	int rc;

	if ((rc = check_mutable(m, c)))
		return rc;
	need = (size_t)c->len + units;
	if (need > m->ctx->limits->max_container || need > UINT32_MAX)
		return tsl__vm_fail(m, TSL_ELIMIT,
			"a %s of %zu items is over max_container (%llu)",
			tsl__vm_kind_name(c), need,
			(unsigned long long)m->ctx->limits->max_container);
	if (need > c->u.seq.cap) {
		cap = c->u.seq.cap ? (size_t)c->u.seq.cap * 2 : need;
		if (cap < need)
			cap = need;
		if (cap > UINT32_MAX)
			cap = UINT32_MAX;
		if (cap > m->ctx->limits->max_container)
			cap = need;
		p = tsl__arena_calloc(m->ctx->arena, cap, unit * sizeof *p);
		if (!p)
			return tsl__vm_fail_mem(m);
		if (c->len)
			memcpy(p, c->u.seq.items, c->len * unit * sizeof *p);
		c->u.seq.items = p;
		c->u.seq.cap = (uint32_t)cap;
	}
	for (size_t i = 0; i < units * unit; i++) {
		if ((rc = adopt(m, c, items[i])))
			return rc;
		c->u.seq.items[c->len * unit + i] = items[i];
	}
	if (c->kind == TSL_VALUE_DICT) {
		/* a dict filled once (the usual SETITEMS) is deduplicated now,
		 * while it is in cache; one filled again is done at STOP */
		bool first = c->len == 0;

		c->len = (uint32_t)need;
		if (first)
			return need > 1 ? dedup_one(m, c) : TSL_OK;
		if (!(c->flags & TSL__VF_TRACKED)) {
			c->flags |= TSL__VF_TRACKED;
			return track_dict(m, c);
		}
		return TSL_OK;
	}
	c->len = (uint32_t)need;
	return TSL_OK;
}

/* ---- the stack ----------------------------------------------------------- */

int tsl__vm_push_slow(struct vm *m, tsl_value *v) __attribute__((noinline));

int tsl__vm_push_slow(struct vm *m, tsl_value *v)
{
	if (!v)
		return tsl__vm_fail_mem(m);
	if (m->sp == m->scap) {
		size_t cap = m->scap ? m->scap * 2 : 256;
		tsl_value **p = realloc(m->stack, cap * sizeof *p);

		if (!p)
			return fail_nomem(m);
		m->stack = p;
		m->scap = cap;
	}
	m->stack[m->sp++] = v;
	return TSL_OK;
}

/* Every opcode pushes: the common case inline, growth and NULL apart. */
static inline int push(struct vm *m, tsl_value *v)
{
	if (__builtin_expect(v && m->sp < m->scap, 1)) {
		m->stack[m->sp++] = v;
		return TSL_OK;
	}
	return tsl__vm_push_slow(m, v);
}

size_t tsl__vm_stack_floor(const struct vm *m)
{
	return m->nmarks ? m->marks[m->nmarks - 1] : 0;
}

/* At least n values above the innermost mark. */
static int need(struct vm *m, size_t n)
{
	if (m->sp - tsl__vm_stack_floor(m) < n)
		return tsl__vm_fail(m, TSL_EFORMAT,
			"needs %zu value%s on the stack, "
			"has %zu", n, n == 1 ? "" : "s",
			m->sp - tsl__vm_stack_floor(m));
	return TSL_OK;
}

/* Pop the innermost mark: *start is the first item above it. */
static int pop_mark(struct vm *m, size_t *start)
{
	if (!m->nmarks)
		return tsl__vm_fail(m, TSL_EFORMAT, "no MARK on the stack");
	*start = m->marks[--m->nmarks];
	return TSL_OK;
}

/* ---- input ---------------------------------------------------------------- */

static int take_fail(struct vm *m, size_t n) __attribute__((noinline, cold));

static int take_fail(struct vm *m, size_t n)
{
	return tsl__error(m->err, TSL_EFORMAT, m->ctx->record,
		tsl__vm_err_offset(m),
		"truncated pickle: %s at pickle byte %zu needs %zu bytes, %zu "
		"left", op_name(m->opcode), m->op, n, m->len - m->pos);
}

static inline int take(struct vm *m, size_t n, const uint8_t **p)
{
	if (__builtin_expect(m->len - m->pos < n, 0))
		return take_fail(m, n);
	*p = m->data + m->pos;
	m->pos += n;
	return TSL_OK;
}

/* A line ending in '\n' (not included), at most max bytes. */
static int take_line(struct vm *m, size_t max, const char **s, size_t *n)
{
	const uint8_t *start = m->data + m->pos;
	size_t left = m->len - m->pos;
	const uint8_t *nl = memchr(start, '\n', left < max + 1 ? left : max + 1);

	if (!nl) {
		if (left <= max)
			return tsl__error(m->err, TSL_EFORMAT, m->ctx->record,
				tsl__vm_err_offset(m),
				"truncated pickle: %s at pickle byte "
				"%zu has no end of line", op_name(m->opcode),
				m->op);
		return tsl__vm_fail(m, TSL_EFORMAT,
			"line longer than %zu bytes", max);
	}
	*s = (const char *)start;
	*n = (size_t)(nl - start);
	m->pos += *n + 1;
	return TSL_OK;
}

/* ---- memo ------------------------------------------------------------------ */

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

/* Set slot idx (< max_memo, checked by the caller) to a value or a tagged
 * entry, growing the memo. */
int tsl__vm_memo_set(struct vm *m, uint64_t idx, uintptr_t entry)
{
	if (idx >= m->memo_cap) {
		/* first size from the pickle's length: memo entries take at
		 * least 2 bytes of opcodes each, TorchScript's about 20 (a
		 * 20,000-tensor data.pkl: 1.4 MB, 70,000 entries), so one
		 * array usually suffices and is never copied; the untouched
		 * rest of a big one costs no memory (calloc'd) */
		uint64_t cap = m->memo_cap ? (uint64_t)m->memo_cap * 2 :
			256 + m->len / 16;
		tsl_value **p;

		if (cap <= idx)
			cap = idx + 1;
		if (cap > m->ctx->limits->max_memo)
			cap = m->ctx->limits->max_memo;
		if (cap > SIZE_MAX / sizeof *p)
			return fail_nomem(m);
		p = tsl__big_grow(m->memo, m->memo_cap, (size_t)cap, sizeof *p,
			m->ctx->arena->huge);
		if (!p)
			return fail_nomem(m);
		m->memo = p;
		m->memo_cap = (size_t)cap;
	}
	if (!m->memo[idx])
		m->memo_count++;
	m->memo[idx] = (tsl_value *)entry;
	return TSL_OK;
}

static int memo_put(struct vm *m, uint64_t idx)
{
	int rc;

	if ((rc = need(m, 1)))
		return rc;
	if (idx >= m->ctx->limits->max_memo)
		return tsl__vm_fail(m, TSL_ELIMIT,
			"memo index %llu is over max_memo "
			"(%llu)", (unsigned long long)idx,
			(unsigned long long)m->ctx->limits->max_memo);
	if ((rc = tsl__vm_memo_set(m, idx, (uintptr_t)m->stack[m->sp - 1])))
		return rc;
	m->stack[m->sp - 1]->flags |= TSL__VF_MEMO;
	return TSL_OK;
}

/* The value in set slot idx, made now if the slot holds a stand-in
 * (NULL: out of arena memory). */
tsl_value *tsl__vm_memo_value(struct vm *m, size_t idx)
{
	uintptr_t e = memo_entry(m, idx);
	tsl_value *v;

	if (!(e & MEMO_TAG))
		return (tsl_value *)e;
	if ((e & MEMO_TAG) == MEMO_STR) {
		const uint8_t *op = m->data + (e >> 2);

		v = tsl__vm_new_str(m, TSL_VALUE_STRING, op + 5,
			tsl__le32(op + 1));
	} else {
		const struct tsl_tensor *t =
			(const struct tsl_tensor *)(e & ~(uintptr_t)MEMO_TAG);

		v = tsl__vm_new_value(m, TSL__VALUE_STORAGE);
		if (v) {
			v->u.st.storage = t->storage;
			v->u.st.dtype = t->dtype;
		}
	}
	if (!v)
		return NULL;
	v->flags |= TSL__VF_MEMO;
	m->memo[idx] = v;
	return v;
}

static int memo_get(struct vm *m, uint64_t idx)
{
	tsl_value *v;

	if (idx >= m->memo_cap || !m->memo[idx])
		return tsl__vm_fail(m, TSL_EFORMAT,
			"%s %llu of an unset memo slot",
			op_name(m->opcode), (unsigned long long)idx);
	v = tsl__vm_memo_value(m, (size_t)idx);
	if (!v)
		return tsl__vm_fail_mem(m);
	return push(m, v);
}

/* ---- integers and text forms ------------------------------------------------ */

/* n bytes of little-endian two's complement. */
static int decode_long(struct vm *m, const uint8_t *b, size_t n, int64_t *out)
{
	uint64_t v = 0;

	if (n > 8) {
		uint8_t ext = (b[7] & 0x80) ? 0xff : 0x00;

		for (size_t i = 8; i < n; i++)
			if (b[i] != ext)
				return tsl__vm_fail(m, TSL_EUNSUPPORTED,
					"integer too "
					"large (%zu bytes)", n);
		n = 8;
	}
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)b[i] << (8 * i);
	if (n > 0 && n < 8 && (b[n - 1] & 0x80))
		v |= ~(uint64_t)0 << (8 * n);
	*out = (int64_t)v;
	return TSL_OK;
}

/* A decimal integer (text INT/LONG/GET/PUT); trailing 'L' allowed. */
static int parse_decimal(struct vm *m, const char *s, size_t n, int64_t *out)
{
	bool neg = false;
	uint64_t v = 0, lim;
	size_t i = 0;

	if (n && s[n - 1] == 'L')
		n--;
	if (i < n && (s[i] == '-' || s[i] == '+'))
		neg = s[i++] == '-';
	if (i == n)
		return tsl__vm_fail(m, TSL_EFORMAT, "not a decimal integer");
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return tsl__vm_fail(m, TSL_EFORMAT,
				"not a decimal integer");
		if (v > (lim - (uint64_t)(s[i] - '0')) / 10)
			return tsl__vm_fail(m, TSL_EUNSUPPORTED,
				"integer too large");
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return TSL_OK;
}

/* ---- GLOBAL ------------------------------------------------------------------ */

#define PY 1   /* only with TSL_PICKLE_PYTHON */
#define INT 2  /* push ival, no placeholder */

static const struct global_entry {
	const char *module;
	const char *name;
	int action;       /* TSL__G_* or 0 with INT */
	int64_t ival;
	unsigned flags;
} global_table[] = {
	{ "torch._utils", "_rebuild_tensor_v2", TSL__G_TENSOR_V2, 0, 0 },
	{ "torch._utils", "_rebuild_qtensor", TSL__G_QTENSOR, 0, 0 },
	{ "torch._utils", "_rebuild_sparse_tensor", TSL__G_SPARSE, 0, 0 },
	{ "torch._utils", "_rebuild_parameter", TSL__G_PARAMETER, 0, 0 },
	{ "torch._utils", "_rebuild_parameter_with_state", TSL__G_PARAMETER,
		0, PY },
	{ "torch._utils", "_rebuild_tensor_v3", TSL__G_TENSOR_V3, 0, PY },
	{ "torch._tensor", "_rebuild_from_type_v2", TSL__G_FROM_TYPE_V2, 0, 0 },
	{ "torch.nn.parameter", "Parameter", TSL__G_PARAMETER_CLS, 0, PY },
	{ "torch", "Tensor", TSL__G_TENSOR_CLS, 0, PY },
	{ "torch._tensor", "Tensor", TSL__G_TENSOR_CLS, 0, PY },
	{ "torch", "per_tensor_affine", 0, TSL_QSCHEME_PER_TENSOR_AFFINE, INT },
	{ "torch", "per_channel_affine", 0, TSL_QSCHEME_PER_CHANNEL_AFFINE,
		INT },
	{ "torch", "per_tensor_symmetric", 0,
		TSL_QSCHEME_PER_TENSOR_SYMMETRIC, INT },
	{ "torch", "per_channel_symmetric", 0,
		TSL_QSCHEME_PER_CHANNEL_SYMMETRIC, INT },
	{ "torch", "per_channel_affine_float_qparams", 0,
		TSL_QSCHEME_PER_CHANNEL_AFFINE_FLOAT_QPARAMS, INT },
	{ "collections", "OrderedDict", TSL__G_ORDERED_DICT, 0, 0 },
	{ "torch.jit._pickle", "restore_type_tag", TSL__G_RESTORE_TYPE_TAG, 0,
		0 },
	{ "torch.jit._pickle", "build_intlist", TSL__G_INTLIST, 0, 0 },
	{ "torch.jit._pickle", "build_doublelist", TSL__G_DOUBLELIST, 0, 0 },
	{ "torch.jit._pickle", "build_boollist", TSL__G_BOOLLIST, 0, 0 },
	{ "torch.jit._pickle", "build_tensorlist", TSL__G_TENSORLIST, 0, 0 },
	{ "torch.jit._pickle", "build_tensor_from_id", TSL__G_TENSOR_FROM_ID,
		0, 0 },
	{ "__main__", "TensorID", TSL__G_TENSOR_FROM_ID, 0, 0 },
	{ "__main__", "IntList", TSL__G_INTLIST, 0, 0 },
	{ "torch", "device", TSL__G_DEVICE, 0, 0 },
	{ "builtins", "complex", TSL__G_COMPLEX, 0, 0 },
	{ "__builtin__", "complex", TSL__G_COMPLEX, 0, PY },
	{ "_codecs", "encode", TSL__G_CODECS_ENCODE, 0, PY },
	{ "builtins", "set", TSL__G_SET, 0, PY },
	{ "__builtin__", "set", TSL__G_SET, 0, PY },
	{ "builtins", "frozenset", TSL__G_FROZENSET, 0, PY },
	{ "__builtin__", "frozenset", TSL__G_FROZENSET, 0, PY },
	{ "builtins", "bytearray", TSL__G_BYTEARRAY, 0, PY },
	{ "__builtin__", "bytearray", TSL__G_BYTEARRAY, 0, PY },
	{ "torch", "Size", TSL__G_SIZE, 0, PY },
	{ "torch.serialization", "_get_layout", TSL__G_GET_LAYOUT, 0, PY },
	{ "torch", "UntypedStorage", 0, TSL_UINT8, INT | PY },
	{ "torch", "strided", 0, TSL_LAYOUT_STRIDED, INT | PY },
	{ "torch", "sparse_coo", 0, TSL_LAYOUT_SPARSE_COO, INT | PY },
};

static bool global_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '_' || c == '.';
}

/* s[0..n) equals the literal; the first byte is compared before the
 * length, so a scan of the tables below rejects most entries at once */
static bool eq(const char *s, size_t n, const char *lit)
{
	return n && s[0] == lit[0] && strlen(lit) == n &&
		memcmp(s, lit, n) == 0;
}

/* A GLOBAL placeholder (NULL: out of arena memory). */
tsl_value *tsl__vm_new_global(struct vm *m, int action, const char *mod,
	size_t mlen, const char *name, size_t nlen)
{
	tsl_value *v = tsl__vm_new_value(m, TSL__VALUE_GLOBAL);
	char *q;

	if (!v)
		return NULL;
	/* one buffer "module.name": module is its first len bytes */
	q = tsl__arena_alloc(m->ctx->arena, mlen + nlen + 2);
	if (!q)
		return NULL;
	memcpy(q, mod, mlen);
	q[mlen] = '.';
	memcpy(q + mlen + 1, name, nlen);
	q[mlen + 1 + nlen] = '\0';
	v->u.global.action = action;
	v->u.global.module = q;
	v->u.global.name = q + mlen + 1;
	v->len = (uint32_t)mlen;
	return v;
}

int tsl__vm_global(struct vm *m, const char *mod, size_t mlen,
	const char *name, size_t nlen)
{
	const struct global_entry *g = NULL;
	int action = 0;
	int64_t ival = 0;
	bool is_int = false;
	tsl_value *v;

	if (!mlen || !nlen)
		return tsl__vm_fail(m, TSL_EFORMAT,
			"empty GLOBAL module or name");
	if (mlen > GLOBAL_MAX || nlen > GLOBAL_MAX)
		return tsl__vm_fail(m, TSL_EFORMAT,
			"GLOBAL name longer than %d bytes",
			GLOBAL_MAX);
	for (size_t i = 0; i < mlen; i++)
		if (!global_char_ok(mod[i]))
			return tsl__vm_fail(m, TSL_EFORMAT,
				"GLOBAL module has the "
				"byte 0x%02x", (unsigned char)mod[i]);
	for (size_t i = 0; i < nlen; i++)
		if (!global_char_ok(name[i]))
			return tsl__vm_fail(m, TSL_EFORMAT,
				"GLOBAL name has the byte "
				"0x%02x", (unsigned char)name[i]);

	for (size_t i = 0; i < sizeof global_table / sizeof *global_table;
		i++) {
		if (eq(mod, mlen, global_table[i].module) &&
			eq(name, nlen, global_table[i].name) &&
			(m->python || !(global_table[i].flags & PY))) {
			g = &global_table[i];
			break;
		}
	}
	if (g) {
		action = g->action;
		ival = g->ival;
		is_int = g->flags & INT;
	} else if (eq(mod, mlen, "torch") && nlen > 7 &&
		!memcmp(name + nlen - 7, "Storage", 7)) {
		int d = tsl__dtype_from_storage_class(name, nlen);

		if (d >= 0) {
			is_int = true;
			ival = d;
		}
	} else if (m->python && eq(mod, mlen, "torch")) {
		int d = tsl__dtype_from_name(name, nlen);

		if (d >= 0) {
			is_int = true;
			ival = d;
		}
	}
	if (!action && !is_int && mlen >= 9 && !memcmp(mod, "__torch__", 9) &&
		(mlen == 9 || mod[9] == '.'))
		action = TSL__G_CLASS;
	if (is_int)
		return push(m, tsl__vm_new_int(m, ival));
	if (!action)
		return tsl__vm_fail(m, TSL_EUNSAFE,
			"GLOBAL '%.*s %.*s' is not allowed",
			(int)mlen, mod, (int)nlen, name);

	if (!(v = tsl__vm_new_global(m, action, mod, mlen, name, nlen)))
		return tsl__vm_fail_mem(m);
	return push(m, v);
}

/* ---- rebuilding tensors ----------------------------------------------------- */

/* arg must be a tuple of min..max items. */
static int args_of(struct vm *m, tsl_value *arg, size_t min, size_t max,
	const char *what, tsl_value ***items)
{
	if (arg->kind != TSL_VALUE_TUPLE)
		return tsl__vm_fail(m, TSL_EFORMAT,
			"%s takes a tuple, not a %s", what,
			tsl__vm_kind_name(arg));
	if (arg->len < min || arg->len > max) {
		if (min == max)
			return tsl__vm_fail(m, TSL_EFORMAT,
				"%s takes %zu arguments, "
				"not %u", what, min, arg->len);
		return tsl__vm_fail(m, TSL_EFORMAT,
			"%s takes %zu to %zu arguments, "
			"not %u", what, min, max, arg->len);
	}
	*items = arg->u.seq.items;
	return TSL_OK;
}

int tsl__vm_want_int(struct vm *m, const tsl_value *v, const char *what,
	int64_t *out)
{
	if (v->kind == TSL_VALUE_INT) {
		*out = v->u.i;
		return TSL_OK;
	}
	return tsl__vm_fail(m, TSL_EFORMAT, "%s is a %s, not an int", what,
		tsl__vm_kind_name(v));
}

static int want_bool(struct vm *m, const tsl_value *v, const char *what,
	int *out)
{
	if (v->kind == TSL_VALUE_BOOL) {
		*out = v->u.b;
		return TSL_OK;
	}
	if (v->kind == TSL_VALUE_INT && (v->u.i == 0 || v->u.i == 1)) {
		*out = (int)v->u.i;
		return TSL_OK;
	}
	return tsl__vm_fail(m, TSL_EFORMAT, "%s is a %s, not a bool", what,
		tsl__vm_kind_name(v));
}

static int want_tensor(struct vm *m, const tsl_value *v, const char *what,
	struct tsl_tensor **out)
{
	if (v->kind != TSL_VALUE_TENSOR || !v->u.tensor)
		return tsl__vm_fail(m, TSL_EFORMAT, "%s is a %s, not a tensor",
			what,
			tsl__vm_kind_name(v));
	*out = v->u.tensor;
	return TSL_OK;
}

/* A tuple (or list) of ints: n items into a (rank-checked) arena array. */
static int int_tuple(struct vm *m, const tsl_value *v, const char *what,
	int64_t **out, uint32_t *n)
{
	int64_t *a;

	if (v->kind != TSL_VALUE_TUPLE && v->kind != TSL_VALUE_LIST)
		return tsl__vm_fail(m, TSL_EFORMAT,
			"tensor %s is a %s, not a tuple",
			what, tsl__vm_kind_name(v));
	if (v->len > m->ctx->limits->max_rank)
		return tsl__vm_fail(m, TSL_ELIMIT,
			"tensor rank %u is over max_rank "
			"(%u)", v->len, m->ctx->limits->max_rank);
	a = tsl__arena_calloc(m->ctx->arena, v->len ? v->len : 1, sizeof *a);
	if (!a)
		return tsl__vm_fail_mem(m);
	for (uint32_t i = 0; i < v->len; i++) {
		if (v->u.seq.items[i]->kind != TSL_VALUE_INT)
			return tsl__vm_fail(m, TSL_EFORMAT,
				"tensor %s item %u is a %s, "
				"not an int", what, i,
				tsl__vm_kind_name(v->u.seq.items[i]));
		a[i] = v->u.seq.items[i]->u.i;
	}
	*out = a;
	*n = v->len;
	return TSL_OK;
}

static struct tsl_tensor *new_tensor(struct vm *m)
{
	struct tsl_tensor *t = tsl__arena_alloc(m->ctx->arena, sizeof *t);

	if (t) {
		t->qscheme = TSL_QSCHEME_NONE;
		t->layout = TSL_LAYOUT_STRIDED;
	}
	return t;
}

/* A failure of the view checks below: reported, or only returned (1)
 * when m is NULL (the fast path's dry run, which then leaves the tensor to
 * the generic path to report). */
#define VIEW_FAIL(m, ...) ((m) ? tsl__vm_fail((m), __VA_ARGS__) : 1)

static int check_sizes(struct vm *m, const int64_t *shape, uint32_t n)
{
	uint64_t numel = 1;

	for (uint32_t i = 0; i < n; i++) {
		if (shape[i] < 0)
			return VIEW_FAIL(m, TSL_EFORMAT, "tensor size %u is "
				"negative (%lld)", i, (long long)shape[i]);
		if (tsl__mul_u64(numel, (uint64_t)shape[i], &numel) ||
			numel > INT64_MAX)
			return VIEW_FAIL(m, TSL_EFORMAT, "tensor element count "
				"overflows");
	}
	return TSL_OK;
}

/* Sizes, strides and offset of a strided view: sizes >= 0 with a count
 * that fits, strides >= 0, and the last element reached,
 * offset + sum((size - 1) * stride), computable. */
int tsl__vm_check_view(struct vm *m, const int64_t *shape,
	const int64_t *stride, uint32_t n, int64_t off)
{
	int64_t extent = off, term;
	int rc;

	if ((rc = check_sizes(m, shape, n)))
		return rc;
	for (uint32_t i = 0; i < n; i++) {
		if (stride[i] < 0)
			return VIEW_FAIL(m, TSL_EUNSUPPORTED, "tensor stride %u "
				"is negative (%lld)", i, (long long)stride[i]);
		if (shape[i] == 0)
			break;
		if (tsl__mul_i64(shape[i] - 1, stride[i], &term) ||
			tsl__add_i64(extent, term, &extent))
			return VIEW_FAIL(m, TSL_EFORMAT, "tensor extent "
				"overflows (sizes and strides too large)");
	}
	return TSL_OK;
}

/* storage, offset, size, stride -> a strided tensor. */
static int strided(struct vm *m, tsl_value **a, struct tsl_tensor **out)
{
	struct tsl_tensor *t = new_tensor(m);
	int64_t off = 0;
	uint32_t n, ns;
	int rc;

	if (!t)
		return tsl__vm_fail_mem(m);
	if (a[0]->kind != TSL__VALUE_STORAGE)
		return tsl__vm_fail(m, TSL_EFORMAT,
			"tensor storage is a %s, not a "
			"storage (BINPERSID)", tsl__vm_kind_name(a[0]));
	t->storage = a[0]->u.st.storage;
	t->dtype = a[0]->u.st.dtype;
	if ((rc = tsl__vm_want_int(m, a[1], "tensor storage offset", &off)))
		return rc;
	if (off < 0)
		return tsl__vm_fail(m, TSL_EFORMAT,
			"tensor storage offset %lld is "
			"negative", (long long)off);
	t->storage_offset = off;
	if ((rc = int_tuple(m, a[2], "size", &t->shape, &n)) ||
		(rc = int_tuple(m, a[3], "stride", &t->stride, &ns)))
		return rc;
	if (n != ns)
		return tsl__vm_fail(m, TSL_EFORMAT,
			"tensor has %u sizes but %u "
			"strides", n, ns);
	t->ndim = n;
	if ((rc = tsl__vm_check_view(m, t->shape, t->stride, n, off)))
		return rc;
	*out = t;
	return TSL_OK;
}

/* Optional {conj, neg} metadata dict (maybe restore_type_tag'ged). */
static int tensor_metadata(struct vm *m, struct tsl_tensor *t, tsl_value *md)
{
	int rc;

	if (md->kind == TSL_VALUE_NONE)
		return TSL_OK;
	if (md->kind != TSL_VALUE_DICT)
		return tsl__vm_fail(m, TSL_EFORMAT,
			"tensor metadata is a %s, not a "
			"dict", tsl__vm_kind_name(md));
	for (uint32_t i = 0; i < md->len; i++) {
		tsl_value *k = md->u.seq.items[2 * i];
		tsl_value *v = md->u.seq.items[2 * i + 1];
		uint8_t *dst;
		int b = 0;

		if (k->kind != TSL_VALUE_STRING)
			return tsl__vm_fail(m, TSL_EFORMAT,
				"tensor metadata key is a "
				"%s, not a str", tsl__vm_kind_name(k));
		if (eq(k->u.s, k->len, "conj"))
			dst = &t->conj;
		else if (eq(k->u.s, k->len, "neg"))
			dst = &t->neg;
		else
			continue;
		if ((rc = want_bool(m, v, "tensor metadata value", &b)))
			return rc;
		*dst = (uint8_t)b;
	}
	return TSL_OK;
}

int tsl__vm_push_tensor(struct vm *m, struct tsl_tensor *t)
{
	const tsl_pickle_ctx *ctx = m->ctx;
	tsl_value *v;

	if (ctx->tensor_made) {
		tsl_error *e = m->err;
		int rc;

		tsl__error_clear(e);
		rc = ctx->tensor_made(ctx->payload, t, e);
		if (rc) {
			if (e->offset == TSL_NO_OFFSET)
				e->offset = tsl__vm_err_offset(m);
			if (!e->record[0] && ctx->record)
				snprintf(e->record, sizeof e->record, "%s",
					ctx->record);
			e->code = rc;
			return rc;
		}
	}
	v = tsl__vm_new_value(m, TSL_VALUE_TENSOR);
	if (!v)
		return tsl__vm_fail_mem(m);
	v->u.tensor = t;
	return push(m, v);
}

static int rebuild_tensor(struct vm *m, tsl_value *arg, bool v3)
{
	const char *what = v3 ? "_rebuild_tensor_v3" : "_rebuild_tensor_v2";
	struct tsl_tensor *t;
	tsl_value **a = NULL;
	int64_t dt = 0;
	int rc;

	if ((rc = args_of(m, arg, v3 ? 7 : 6, v3 ? 8 : 7, what, &a)) ||
		(rc = strided(m, a, &t)) ||
		(rc = want_bool(m, a[4], "requires_grad", &t->requires_grad)))
		return rc;
	if (v3) {
		if ((rc = tsl__vm_want_int(m, a[6], "_rebuild_tensor_v3 dtype",
			&dt)))
			return rc;
		if (dt < 0 || dt >= TSL_DTYPE_COUNT)
			return tsl__vm_fail(m, TSL_EUNSUPPORTED,
				"unknown dtype %lld",
				(long long)dt);
		t->dtype = (int)dt;
	}
	if (arg->len > (v3 ? 7u : 6u) &&
		(rc = tensor_metadata(m, t, a[arg->len - 1])))
		return rc;
	return tsl__vm_push_tensor(m, t);
}

static int rebuild_qtensor(struct vm *m, tsl_value *arg)
{
	struct tsl_tensor *t;
	struct tsl_tensor_ext *x;
	tsl_value **a = NULL, **q;
	int64_t scheme = 0;
	int rc;

	if ((rc = args_of(m, arg, 6, 7, "_rebuild_qtensor", &a)) ||
		(rc = strided(m, a, &t)) ||
		(rc = want_bool(m, a[5], "requires_grad", &t->requires_grad)))
		return rc;
	if (!(x = t->ext = tsl__arena_alloc(m->ctx->arena, sizeof *x)))
		return tsl__vm_fail_mem(m);
	if (a[4]->kind != TSL_VALUE_TUPLE || a[4]->len < 1)
		return tsl__vm_fail(m, TSL_EFORMAT,
			"qparams is a %s, not a tuple",
			tsl__vm_kind_name(a[4]));
	q = a[4]->u.seq.items;
	if ((rc = tsl__vm_want_int(m, q[0], "qscheme", &scheme)))
		return rc;
	switch (scheme) {
	case TSL_QSCHEME_PER_TENSOR_AFFINE:
	case TSL_QSCHEME_PER_TENSOR_SYMMETRIC:
		if (a[4]->len != 3)
			return tsl__vm_fail(m, TSL_EFORMAT,
				"per-tensor qparams have "
				"%u items, not 3", a[4]->len);
		if (q[1]->kind == TSL_VALUE_FLOAT)
			x->q_scale = q[1]->u.f;
		else if (q[1]->kind == TSL_VALUE_INT)
			x->q_scale = (double)q[1]->u.i;
		else
			return tsl__vm_fail(m, TSL_EFORMAT,
				"quantization scale is a "
				"%s, not a float", tsl__vm_kind_name(q[1]));
		if ((rc = tsl__vm_want_int(m, q[2], "quantization zero point",
			&x->q_zero_point)))
			return rc;
		break;
	case TSL_QSCHEME_PER_CHANNEL_AFFINE:
	case TSL_QSCHEME_PER_CHANNEL_SYMMETRIC:
	case TSL_QSCHEME_PER_CHANNEL_AFFINE_FLOAT_QPARAMS:
		if (a[4]->len != 4)
			return tsl__vm_fail(m, TSL_EFORMAT,
				"per-channel qparams have "
				"%u items, not 4", a[4]->len);
		if ((rc = want_tensor(m, q[1], "quantization scales",
			&x->q_scales)) ||
			(rc = want_tensor(m, q[2], "quantization zero points",
			&x->q_zero_points)) ||
			(rc = tsl__vm_want_int(m, q[3], "quantization axis",
			&x->q_axis)))
			return rc;
		if (x->q_axis < 0 || (uint64_t)x->q_axis >= t->ndim)
			return tsl__vm_fail(m, TSL_EFORMAT,
				"quantization axis %lld of "
				"a %u-d tensor", (long long)x->q_axis, t->ndim);
		break;
	default:
		return tsl__vm_fail(m, TSL_EUNSUPPORTED, "unknown qscheme %lld",
			(long long)scheme);
	}
	t->qscheme = (int8_t)scheme;
	return tsl__vm_push_tensor(m, t);
}

static int sparse_coo(struct vm *m, tsl_value *size, int requires_grad,
	tsl_value *indices, tsl_value *values)
{
	struct tsl_tensor *t = new_tensor(m);
	uint32_t n;
	int rc;

	if (!t || !(t->ext = tsl__arena_alloc(m->ctx->arena, sizeof *t->ext)))
		return tsl__vm_fail_mem(m);
	t->layout = TSL_LAYOUT_SPARSE_COO;
	t->requires_grad = requires_grad;
	if ((rc = int_tuple(m, size, "size", &t->shape, &n)) ||
		(rc = check_sizes(m, t->shape, n)) ||
		(rc = want_tensor(m, indices, "sparse indices",
		&t->ext->sp_indices)) ||
		(rc = want_tensor(m, values, "sparse values",
		&t->ext->sp_values)))
		return rc;
	t->ndim = n;
	t->stride = tsl__arena_calloc(m->ctx->arena, n ? n : 1,
		sizeof *t->stride);
	if (!t->stride)
		return tsl__vm_fail_mem(m);
	t->dtype = t->ext->sp_values->dtype;
	return tsl__vm_push_tensor(m, t);
}

static int rebuild_sparse(struct vm *m, tsl_value *arg)
{
	tsl_value **a = NULL, **d;
	int64_t layout = 0;
	int rg = 0, rc;

	if ((rc = args_of(m, arg, 2, 6, "_rebuild_sparse_tensor", &a)) ||
		(rc = tsl__vm_want_int(m, a[0], "sparse layout", &layout)))
		return rc;
	if (layout != TSL_LAYOUT_SPARSE_COO)
		return tsl__vm_fail(m, TSL_EUNSUPPORTED,
			"sparse layout %lld (only "
			"COO is supported)", (long long)layout);
	if (arg->len == 2) {
		/* Python: (layout, (indices, values, size[, coalesced])) */
		if (a[1]->kind != TSL_VALUE_TUPLE || a[1]->len < 3 ||
			a[1]->len > 4)
			return tsl__vm_fail(m, TSL_EFORMAT,
				"sparse data is not a tuple "
				"(indices, values, size)");
		d = a[1]->u.seq.items;
		return sparse_coo(m, d[2], 0, d[0], d[1]);
	}
	/* TorchScript: (layout, size, requires_grad, indices, values[, hooks]) */
	if (arg->len < 5)
		return tsl__vm_fail(m, TSL_EFORMAT,
			"_rebuild_sparse_tensor takes 5 or "
			"6 arguments, not %u", arg->len);
	if ((rc = want_bool(m, a[2], "requires_grad", &rg)))
		return rc;
	return sparse_coo(m, a[1], rg, a[3], a[4]);
}

/* ---- other GLOBAL actions ---------------------------------------------------- */

static int typed_list(struct vm *m, tsl_value *arg, int action, bool build)
{
	static const char *const tags[] = { "List[int]", "List[float]",
		"List[bool]", "List[Tensor]" };
	static const int kinds[] = { TSL_VALUE_INT, TSL_VALUE_FLOAT,
		TSL_VALUE_BOOL, TSL_VALUE_TENSOR };
	int i = action - TSL__G_INTLIST;
	tsl_value **a = NULL, *l;
	int rc;

	/* REDUCE: build_intlist(([...],)); torch 1.1's __main__.IntList:
	 * NEWOBJ (), then BUILD with the list itself as the state */
	if (build && arg->kind == TSL_VALUE_LIST) {
		l = arg;
	} else {
		if ((rc = args_of(m, arg, 1, 1, "build_list", &a)))
			return rc;
		l = a[0];
	}
	if (l->kind != TSL_VALUE_LIST)
		return tsl__vm_fail(m, TSL_EFORMAT, "%s of a %s", tags[i],
			tsl__vm_kind_name(l));
	for (uint32_t j = 0; j < l->len; j++)
		if (l->u.seq.items[j]->kind != kinds[i])
			return tsl__vm_fail(m, TSL_EFORMAT,
				"%s item %u is a %s", tags[i],
				j, tsl__vm_kind_name(l->u.seq.items[j]));
	l->u.seq.type_tag = tags[i];
	return push(m, l);
}

/* UTF-8 text whose code points are < 256 -> those bytes (latin-1). */
static int latin1(struct vm *m, const tsl_value *s)
{
	const uint8_t *p = (const uint8_t *)s->u.s;
	tsl_value *v;
	char *o;
	size_t n = 0;

	o = tsl__arena_alloc(m->ctx->arena, (size_t)s->len + 1);
	if (!o)
		return tsl__vm_fail_mem(m);
	for (size_t i = 0; i < s->len; i++) {
		if (p[i] < 0x80) {
			o[n++] = (char)p[i];
		} else if ((p[i] & 0xfe) == 0xc2 && i + 1 < s->len &&
			(p[i + 1] & 0xc0) == 0x80) {
			o[n++] = (char)(((p[i] & 0x03) << 6) | (p[i + 1] & 0x3f));
			i++;
		} else {
			return tsl__vm_fail(m, TSL_EFORMAT,
				"bytes are not latin-1 text");
		}
	}
	o[n] = '\0';
	v = tsl__vm_new_value(m, TSL_VALUE_BYTES);
	if (!v)
		return tsl__vm_fail_mem(m);
	v->u.s = o;
	v->len = (uint32_t)n;
	return push(m, v);
}

int tsl__vm_apply(struct vm *m, tsl_value *g, tsl_value *arg, bool build);

static int apply_python(struct vm *m, int action, tsl_value *arg)
{
	tsl_value **a = NULL, *v = NULL;
	int64_t layout = 0;
	int rc;

	switch (action) {
	case TSL__G_PARAMETER:
	case TSL__G_PARAMETER_CLS: {
		struct tsl_tensor *t = NULL;
		int rg = 1;

		if ((rc = args_of(m, arg, action == TSL__G_PARAMETER ? 3 : 1,
			action == TSL__G_PARAMETER ? 4 : 2, "Parameter", &a)) ||
			(rc = want_tensor(m, a[0], "parameter data", &t)) ||
			(arg->len > 1 &&
			(rc = want_bool(m, a[1], "requires_grad", &rg))))
			return rc;
		t->requires_grad = rg;
		return push(m, a[0]);
	}
	case TSL__G_FROM_TYPE_V2:
		/* (func, type, args, state): func(*args); type and state are
		   Python-side decorations */
		if ((rc = args_of(m, arg, 4, 4, "_rebuild_from_type_v2", &a)))
			return rc;
		if (a[0]->kind != TSL__VALUE_GLOBAL ||
			a[0]->u.global.action == TSL__G_FROM_TYPE_V2 ||
			a[0]->u.global.action == TSL__G_CLASS)
			return tsl__vm_fail(m, TSL_EUNSUPPORTED,
				"_rebuild_from_type_v2 "
				"of a %s", tsl__vm_kind_name(a[0]));
		return tsl__vm_apply(m, a[0], a[2], false);
	case TSL__G_CODECS_ENCODE:
		if ((rc = args_of(m, arg, 2, 2, "_codecs.encode", &a)))
			return rc;
		if (a[0]->kind != TSL_VALUE_STRING ||
			a[1]->kind != TSL_VALUE_STRING)
			return tsl__vm_fail(m, TSL_EFORMAT,
				"_codecs.encode takes (str, "
				"str)");
		if (!eq(a[1]->u.s, a[1]->len, "latin1") &&
			!eq(a[1]->u.s, a[1]->len, "latin-1"))
			return tsl__vm_fail(m, TSL_EUNSUPPORTED,
				"_codecs.encode with "
				"encoding '%s'", a[1]->u.s);
		return latin1(m, a[0]);
	case TSL__G_BYTEARRAY:
		if ((rc = args_of(m, arg, 0, 2, "bytearray", &a)))
			return rc;
		if (arg->len == 0)
			return push(m, tsl__vm_new_str(m, TSL_VALUE_BYTES, "",
				0));
		if (arg->len == 1 && a[0]->kind == TSL_VALUE_BYTES)
			return push(m, a[0]);
		if (arg->len == 2 && a[0]->kind == TSL_VALUE_STRING)
			return latin1(m, a[0]);
		return tsl__vm_fail(m, TSL_EFORMAT, "bytearray of a %s",
			tsl__vm_kind_name(a[0]));
	case TSL__G_SET:
	case TSL__G_FROZENSET:
		if ((rc = args_of(m, arg, 0, 1, "set", &a)))
			return rc;
		if (arg->len && a[0]->kind != TSL_VALUE_LIST &&
			a[0]->kind != TSL_VALUE_TUPLE)
			return tsl__vm_fail(m, TSL_EFORMAT, "set of a %s",
				tsl__vm_kind_name(a[0]));
		if ((rc = tsl__vm_new_seq(m, TSL_VALUE_LIST, arg->len ?
			a[0]->u.seq.items : NULL, arg->len ? a[0]->len : 0, &v)))
			return rc;
		v->u.seq.type_tag = action == TSL__G_SET ? "set" : "frozenset";
		return push(m, v);
	case TSL__G_SIZE:
		if ((rc = args_of(m, arg, 0, 1, "torch.Size", &a)))
			return rc;
		if (!arg->len)
			return push(m, arg);
		if (a[0]->kind != TSL_VALUE_TUPLE &&
			a[0]->kind != TSL_VALUE_LIST)
			return tsl__vm_fail(m, TSL_EFORMAT,
				"torch.Size of a %s",
				tsl__vm_kind_name(a[0]));
		if ((rc = tsl__vm_new_seq(m, TSL_VALUE_TUPLE, a[0]->u.seq.items,
			a[0]->len, &v)))
			return rc;
		return push(m, v);
	case TSL__G_GET_LAYOUT:
		if ((rc = args_of(m, arg, 1, 1, "_get_layout", &a)))
			return rc;
		if (a[0]->kind != TSL_VALUE_STRING)
			return tsl__vm_fail(m, TSL_EFORMAT,
				"layout name is a %s",
				tsl__vm_kind_name(a[0]));
		if (eq(a[0]->u.s, a[0]->len, "torch.strided"))
			layout = TSL_LAYOUT_STRIDED;
		else if (eq(a[0]->u.s, a[0]->len, "torch.sparse_coo"))
			layout = TSL_LAYOUT_SPARSE_COO;
		else
			return tsl__vm_fail(m, TSL_EUNSUPPORTED, "layout '%s'",
				a[0]->u.s);
		return push(m, tsl__vm_new_int(m, layout));
	case TSL__G_TENSOR_CLS:
		return tsl__vm_fail(m, TSL_EUNSUPPORTED,
			"torch.Tensor() called");
	default:
		return tsl__vm_fail(m, TSL_EFORMAT, "GLOBAL action %d", action);
	}
}

/*
 * Call placeholder g with arg (REDUCE, or BUILD when build).  Pushes the
 * result.  Recursion: only _rebuild_from_type_v2 calls back, one level.
 */
int tsl__vm_apply(struct vm *m, tsl_value *g, tsl_value *arg, bool build)
{
	tsl_value **a = NULL, *v = NULL;
	int action = g->u.global.action;
	int rc;

	switch (action) {
	case TSL__G_CLASS:
		if (build) {
			/* GLOBAL cls, state, BUILD: an object from its state */
			v = tsl__vm_new_value(m, TSL_VALUE_OBJECT);
			if (!v)
				return tsl__vm_fail_mem(m);
			v->u.obj.type = g->u.global.module;
			v->u.obj.state = arg;
			if ((rc = adopt(m, v, arg)))
				return rc;
			return push(m, v);
		}
		v = tsl__vm_new_value(m, TSL_VALUE_ENUM);
		if (!v)
			return tsl__vm_fail_mem(m);
		v->u.enm.type = g->u.global.module;
		if (arg->kind == TSL_VALUE_TUPLE && arg->len == 1)
			arg = arg->u.seq.items[0];
		v->u.enm.value = arg;
		if ((rc = adopt(m, v, arg)))
			return rc;
		return push(m, v);
	case TSL__G_TENSOR_V2:
	case TSL__G_TENSOR_V3:
		rc = rebuild_tensor(m, arg, action == TSL__G_TENSOR_V3);
		if (!rc)
			tsl__vm_recycle(m, arg, 0);
		return rc;
	case TSL__G_QTENSOR:
		rc = rebuild_qtensor(m, arg);
		if (!rc)
			tsl__vm_recycle(m, arg, 0);
		return rc;
	case TSL__G_SPARSE:
		return rebuild_sparse(m, arg);
	case TSL__G_ORDERED_DICT:
		if (arg->kind != TSL_VALUE_TUPLE || arg->len != 0)
			return tsl__vm_fail(m, TSL_EUNSUPPORTED,
				"OrderedDict takes no "
				"arguments here");
		if ((rc = tsl__vm_new_seq(m, TSL_VALUE_DICT, NULL, 0, &v)))
			return rc;
		return push(m, v);
	case TSL__G_RESTORE_TYPE_TAG:
		if ((rc = args_of(m, arg, 2, 2, "restore_type_tag", &a)))
			return rc;
		if (a[1]->kind != TSL_VALUE_STRING)
			return tsl__vm_fail(m, TSL_EFORMAT,
				"restore_type_tag type is a "
				"%s, not a str", tsl__vm_kind_name(a[1]));
		if (a[0]->kind == TSL_VALUE_LIST || a[0]->kind == TSL_VALUE_DICT)
			a[0]->u.seq.type_tag = a[1]->u.s;
		return push(m, a[0]);
	case TSL__G_INTLIST:
	case TSL__G_DOUBLELIST:
	case TSL__G_BOOLLIST:
	case TSL__G_TENSORLIST:
		return typed_list(m, arg, action, build);
	case TSL__G_TENSOR_FROM_ID:
		/* ((int,)): a reference into the tensor table, kept as INT */
		if (arg->kind == TSL_VALUE_TUPLE) {
			if ((rc = args_of(m, arg, 1, 1, "build_tensor_from_id",
				&a)))
				return rc;
			arg = a[0];
		}
		if (arg->kind != TSL_VALUE_INT || arg->u.i < 0)
			return tsl__vm_fail(m, TSL_EFORMAT,
				"tensor id is not an int >= 0");
		v = tsl__vm_new_value(m, TSL_VALUE_INT);
		if (!v)
			return tsl__vm_fail_mem(m);
		v->u.i = arg->u.i;
		v->flags |= TSL__VF_TENSOR_ID;
		return push(m, v);
	case TSL__G_DEVICE:
		if ((rc = args_of(m, arg, 1, 2, "torch.device", &a)))
			return rc;
		if (a[0]->kind != TSL_VALUE_STRING)
			return tsl__vm_fail(m, TSL_EFORMAT,
				"device is a %s, not a str",
				tsl__vm_kind_name(a[0]));
		if (arg->len == 2) {
			/* Python: device(type, index) */
			char buf[80];
			int64_t idx = 0;

			if ((rc = tsl__vm_want_int(m, a[1], "device index",
				&idx)))
				return rc;
			snprintf(buf, sizeof buf, "%.40s:%lld", a[0]->u.s,
				(long long)idx);
			return push(m, tsl__vm_new_str(m, TSL_VALUE_DEVICE, buf,
				strlen(buf)));
		}
		v = tsl__vm_new_value(m, TSL_VALUE_DEVICE);
		if (!v)
			return tsl__vm_fail_mem(m);
		v->u.s = a[0]->u.s;
		v->len = a[0]->len;
		return push(m, v);
	case TSL__G_COMPLEX: {
		double c[2];

		if ((rc = args_of(m, arg, 2, 2, "complex", &a)))
			return rc;
		for (int i = 0; i < 2; i++) {
			if (a[i]->kind == TSL_VALUE_FLOAT)
				c[i] = a[i]->u.f;
			else if (a[i]->kind == TSL_VALUE_INT)
				c[i] = (double)a[i]->u.i;
			else
				return tsl__vm_fail(m, TSL_EFORMAT,
					"complex part is a "
					"%s", tsl__vm_kind_name(a[i]));
		}
		v = tsl__vm_new_value(m, TSL_VALUE_COMPLEX);
		if (!v)
			return tsl__vm_fail_mem(m);
		v->u.c[0] = c[0];
		v->u.c[1] = c[1];
		return push(m, v);
	}
	default:
		return apply_python(m, action, arg);
	}
}

/* ---- opcodes with more to do ----------------------------------------------- */

/* The caller's storage for a persistent id (NULL without a callback);
 * its errors keep their record, and get the opcode's offset if they have
 * none. */
int tsl__vm_make_storage(struct vm *m, int dtype, const char *key,
	const char *location, uint64_t numel, struct tsl_storage **out)
{
	const tsl_pickle_ctx *ctx = m->ctx;
	tsl_error *e = m->err;

	*out = NULL;
	if (!ctx->make_storage)
		return TSL_OK;
	tsl__error_clear(e);
	*out = ctx->make_storage(ctx->payload, dtype, key, location, numel, e);
	if (*out)
		return TSL_OK;
	if (e->code == TSL_OK)
		return tsl__vm_fail(m, TSL_EFORMAT,
			"storage '%s' could not be made",
			key);
	if (e->offset == TSL_NO_OFFSET)
		e->offset = tsl__vm_err_offset(m);
	if (!e->record[0] && ctx->record)
		snprintf(e->record, sizeof e->record, "%s", ctx->record);
	return e->code;
}

static int op_binpersid(struct vm *m)
{
	tsl_value *pid = m->stack[m->sp - 1], **a, *v;
	struct tsl_storage *st = NULL;
	int64_t dtype = 0, numel = 0;
	int rc;

	/* 1.3-era writers add a sixth element, the view metadata, always
	 * None in TorchScript archives (views are _rebuild_tensor_v2's job) */
	if (pid->kind != TSL_VALUE_TUPLE || (pid->len != 5 && pid->len != 6))
		return tsl__vm_fail(m, TSL_EFORMAT,
			"persistent id is a %s of %u, not a "
			"5-tuple (\"storage\", dtype, key, location, numel)",
			tsl__vm_kind_name(pid), pid->len);
	a = pid->u.seq.items;
	if (pid->len == 6 && a[5]->kind != TSL_VALUE_NONE)
		return tsl__vm_fail(m, TSL_EUNSUPPORTED,
			"persistent id carries view "
			"metadata (a %s), which TorchScript archives never hold",
			tsl__vm_kind_name(a[5]));
	if (a[0]->kind != TSL_VALUE_STRING || !eq(a[0]->u.s, a[0]->len,
		"storage"))
		return tsl__vm_fail(m, TSL_EFORMAT,
			"persistent id does not start with "
			"\"storage\"");
	if ((rc = tsl__vm_want_int(m, a[1], "storage dtype", &dtype)))
		return rc;
	if (dtype < 0 || dtype >= TSL_DTYPE_COUNT)
		return tsl__vm_fail(m, TSL_EUNSUPPORTED, "storage dtype %lld",
			(long long)dtype);
	if (a[2]->kind != TSL_VALUE_STRING || a[3]->kind != TSL_VALUE_STRING)
		return tsl__vm_fail(m, TSL_EFORMAT,
			"storage key and location must be "
			"strings, not %s and %s", tsl__vm_kind_name(a[2]),
			tsl__vm_kind_name(a[3]));
	if ((rc = tsl__vm_want_int(m, a[4], "storage numel", &numel)))
		return rc;
	if (numel < 0)
		return tsl__vm_fail(m, TSL_EFORMAT,
			"storage numel %lld is negative",
			(long long)numel);
	if ((rc = tsl__vm_make_storage(m, (int)dtype, a[2]->u.s, a[3]->u.s,
		(uint64_t)numel, &st)))
		return rc;
	v = tsl__vm_new_value(m, TSL__VALUE_STORAGE);
	if (!v)
		return tsl__vm_fail_mem(m);
	v->u.st.storage = st;
	v->u.st.dtype = (int)dtype;
	m->stack[m->sp - 1] = v;
	tsl__vm_recycle(m, pid, 0);
	return TSL_OK;
}

static int op_newobj(struct vm *m, tsl_value *cls, tsl_value *args)
{
	tsl_value *v;

	if (cls->kind != TSL__VALUE_GLOBAL)
		return tsl__vm_fail(m, TSL_EFORMAT, "NEWOBJ of a %s",
			tsl__vm_kind_name(cls));
	if (args->kind != TSL_VALUE_TUPLE)
		return tsl__vm_fail(m, TSL_EFORMAT, "NEWOBJ arguments are a %s",
			tsl__vm_kind_name(args));
	if (cls->u.global.action == TSL__G_CLASS) {
		if (args->len)
			return tsl__vm_fail(m, TSL_EUNSUPPORTED,
				"NEWOBJ of %s with "
				"arguments", cls->u.global.module);
		v = tsl__vm_new_value(m, TSL_VALUE_OBJECT);
		if (!v)
			return tsl__vm_fail_mem(m);
		v->u.obj.type = cls->u.global.module;
		return push(m, v);
	}
	/* TorchScript: NEWOBJ () leaves the callable for BUILD */
	if (!args->len)
		return push(m, cls);
	return tsl__vm_apply(m, cls, args, false);
}

static int op_build(struct vm *m, tsl_value *target, tsl_value *state)
{
	int rc;

	switch (target->kind) {
	case TSL__VALUE_GLOBAL:
		return tsl__vm_apply(m, target, state, true);
	case TSL_VALUE_OBJECT:
		if ((rc = check_mutable(m, target)))
			return rc;
		target->u.obj.state = state;
		target->depth = 0;
		if ((rc = adopt(m, target, state)))
			return rc;
		return push(m, target);
	case TSL_VALUE_DICT:
	case TSL_VALUE_TENSOR:
		/* Python: an OrderedDict's _metadata, a tensor's __dict__:
		   attributes we do not keep */
		if (m->python)
			return push(m, target);
		break;
	}
	return tsl__vm_fail(m, TSL_EFORMAT, "BUILD of a %s",
		tsl__vm_kind_name(target));
}

/* ---- the tensor fast path ------------------------------------------------------ */

/*
 * The TorchScript pickler writes every tensor the same way
 * (torch/csrc/jit/serialization/pickler.cpp, pushLiteralTensor):
 *
 *   <_rebuild_tensor_v2 GLOBAL or BINGET>
 *   MARK
 *     MARK <"storage"> <dtype> <key> <location> <numel> TUPLE BINPERSID [BINPUT]
 *       (or BINGET of that storage when another tensor shares it)
 *     <offset> MARK <sizes> TUPLE MARK <strides> TUPLE NEWTRUE|NEWFALSE
 *     <OrderedDict GLOBAL or BINGET> EMPTY_TUPLE REDUCE
 *   TUPLE REDUCE
 *
 * where a str is BINUNICODE [BINPUT] or BINGET of a str, the dtype GLOBAL
 * torch <X>Storage [BINPUT] or BINGET of its int, and ints BININT1, BININT2,
 * BININT or LONG1.  The generic path makes ten values and two item arrays
 * for it; fast_tensor reads it from the bytes at the first MARK (the
 * _rebuild_tensor_v2 placeholder on top of the stack) and makes only what
 * outlives it: the storage (make_storage), the tensor and its value.  What
 * is memoized on the way becomes a stand-in (memo_value), so a key string
 * or a storage that is never fetched again is never a value.
 *
 * It is all or nothing.  A dry run (ft_parse) reads the whole pattern and
 * checks everything the generic path would - the storage's "storage",
 * dtype and numel, limits (depth, open MARKs, container size, rank, memo
 * index) and the view (check_view) - without changing anything.  Anything
 * else (another opcode, a Python pickle, a metadata dict, a memo slot set
 * inside the pattern and fetched again in it, a failed check, too few
 * bytes) returns FT_GENERIC and the generic path runs from the same MARK,
 * so it reports any error with its own message and offset.  Only then are
 * the effects applied (ft_commit): the memo puts, make_storage (errors at
 * the BINPERSID's offset), tensor_made (at the last REDUCE's offset), and
 * the tensor replaces the placeholder, as the final REDUCE would.
 */

#define FT_GENERIC 1      /* not the pattern: run the generic path */
#define FT_MAX_RANK 16
#define FT_MAX_PUTS 6

enum { FT_PUT_STR, FT_PUT_STRVAL, FT_PUT_DTYPE, FT_PUT_ODICT,
	FT_PUT_STORAGE };

struct ft_str {
	const char *s;            /* bytes (pickle or value), n of them */
	size_t n;
	tsl_value *v;             /* the value when there is one */
	uint64_t lazy;            /* else the slot of its stand-in + 1, or 0 */
};

struct ft {
	size_t pos;               /* the next byte */
	/* the storage */
	bool fresh;               /* a BINPERSID (else a shared storage) */
	struct ft_str key, loc;
	int dtype;
	uint64_t numel;
	struct tsl_storage *storage;   /* shared */
	size_t persid_op;
	/* the view */
	int64_t off;
	uint32_t n;
	int64_t shape[FT_MAX_RANK], stride[FT_MAX_RANK];
	int rg;
	size_t reduce_op;         /* the last REDUCE */
	/* memo puts on the way, applied in order by ft_commit */
	struct {
		uint64_t idx;
		int kind;             /* FT_PUT_* */
		size_t at;            /* FT_PUT_STR: BINUNICODE position;
		                         FT_PUT_ODICT: GLOBAL position */
		int dtype;            /* FT_PUT_DTYPE */
		size_t op;            /* the BINPUT's own position */
	} put[FT_MAX_PUTS];
	int nputs;
};

static inline bool ft_op(const struct vm *m, struct ft *f, unsigned op)
{
	if (f->pos < m->len && m->data[f->pos] == op) {
		f->pos++;
		return true;
	}
	return false;
}

/* The memo opcode at f->pos (f->pos < m->len): its 1-byte (short_op) or
 * 4-byte (long_op) index into *idx, f->pos past it; false, nothing
 * consumed, when it is neither or truncated. */
static inline bool ft_memo_op(const struct vm *m, struct ft *f,
	unsigned short_op, unsigned long_op, uint64_t *idx)
{
	const uint8_t *p = m->data + f->pos;
	size_t left = m->len - f->pos;

	if (p[0] == short_op && left >= 2) {
		*idx = p[1];
		f->pos += 2;
		return true;
	}
	if (p[0] == long_op && left >= 5) {
		*idx = tsl__le32(p + 1);
		f->pos += 5;
		return true;
	}
	return false;
}

/* An optional BINPUT or LONG_BINPUT, recorded for ft_commit (with what
 * it memoizes: kind, at, dtype); false when it cannot be done here. */
static bool ft_put(const struct vm *m, struct ft *f, int kind, size_t at,
	int dtype)
{
	size_t op = f->pos;
	uint64_t idx;

	if (f->pos >= m->len)
		return false;
	if (!ft_memo_op(m, f, OP_BINPUT, OP_LONG_BINPUT, &idx))
		return true;   /* none: fine */
	if (idx >= m->ctx->limits->max_memo || f->nputs == FT_MAX_PUTS)
		return false;
	for (int i = 0; i < f->nputs; i++)
		if (f->put[i].idx == idx)
			return false;   /* ft_commit sets each slot once */
	f->put[f->nputs].idx = idx;
	f->put[f->nputs].kind = kind;
	f->put[f->nputs].at = at;
	f->put[f->nputs].dtype = dtype;
	f->put[f->nputs].op = op;
	f->nputs++;
	return true;
}

/* A BINGET or LONG_BINGET of a set slot that no put of this pattern has
 * changed: its entry, or 0. */
static uintptr_t ft_get(const struct vm *m, struct ft *f)
{
	uint64_t idx;

	if (f->pos >= m->len || !ft_memo_op(m, f, OP_BINGET, OP_LONG_BINGET,
		&idx))
		return 0;
	for (int i = 0; i < f->nputs; i++)
		if (f->put[i].idx == idx)
			return 0;
	if (idx >= m->memo_cap)
		return 0;
	return memo_entry(m, (size_t)idx);
}

/* A str: BINUNICODE [BINPUT], or BINGET of a str. */
static bool ft_str(const struct vm *m, struct ft *f, struct ft_str *out)
{
	uintptr_t e;
	size_t at = f->pos;

	if (f->pos < m->len && m->data[f->pos] == OP_BINUNICODE) {
		uint32_t n;

		if (m->len - f->pos < 5)
			return false;
		n = tsl__le32(m->data + f->pos + 1);
		if (m->len - f->pos - 5 < n || at > UINTPTR_MAX >> 2)
			return false;
		out->s = (const char *)m->data + at + 5;
		out->n = n;
		out->v = NULL;
		out->lazy = 0;
		f->pos += 5 + (size_t)n;
		return ft_put(m, f, FT_PUT_STR, at, 0);
	}
	if (!(e = ft_get(m, f)))
		return false;
	if ((e & MEMO_TAG) == MEMO_STR) {
		const uint8_t *op = m->data + (e >> 2);

		out->s = (const char *)op + 5;
		out->n = tsl__le32(op + 1);
		out->v = NULL;
		out->lazy = 1 + (m->data[at] == OP_BINGET ? m->data[at + 1] :
			tsl__le32(m->data + at + 1));
		return true;
	}
	if ((e & MEMO_TAG) || ((tsl_value *)e)->kind != TSL_VALUE_STRING)
		return false;
	out->v = (tsl_value *)e;
	out->s = out->v->u.s;
	out->n = out->v->len;
	return true;
}

/* The location: a str, kept by make_storage, so a value (the same one for
 * every storage, which device lookups compare by pointer first). */
static bool ft_loc(const struct vm *m, struct ft *f)
{
	int nputs = f->nputs;

	if (!ft_str(m, f, &f->loc))
		return false;
	if (f->nputs > nputs)
		f->put[nputs].kind = FT_PUT_STRVAL;   /* made by ft_commit */
	return true;
}

/* "module\nname\n" of a GLOBAL at f->pos + 1, lines of at most 64 bytes. */
static bool ft_global(const struct vm *m, struct ft *f, const char *mod,
	const char **name, size_t *nlen)
{
	const uint8_t *p, *end = m->data + m->len;
	size_t ml = strlen(mod);
	const uint8_t *nl;

	if (f->pos >= m->len || m->data[f->pos] != OP_GLOBAL)
		return false;
	p = m->data + f->pos + 1;
	if ((size_t)(end - p) < ml + 1 || memcmp(p, mod, ml) || p[ml] != '\n')
		return false;
	p += ml + 1;
	nl = memchr(p, '\n', (size_t)(end - p) < 65 ? (size_t)(end - p) : 65);
	if (!nl)
		return false;
	*name = (const char *)p;
	*nlen = (size_t)(nl - p);
	f->pos = (size_t)(nl + 1 - m->data);
	return true;
}

/* The storage dtype: GLOBAL torch <X>Storage [BINPUT], or BINGET of it. */
static bool ft_dtype(const struct vm *m, struct ft *f, int *dtype)
{
	size_t at = f->pos, nlen = 0;
	const char *name = NULL;
	uintptr_t e;

	if (ft_global(m, f, "torch", &name, &nlen)) {
		int d = tsl__dtype_from_storage_class(name, nlen);

		if (d < 0)
			return false;
		*dtype = d;
		return ft_put(m, f, FT_PUT_DTYPE, at, d);
	}
	f->pos = at;
	if (!(e = ft_get(m, f)) || (e & MEMO_TAG) ||
		((tsl_value *)e)->kind != TSL_VALUE_INT ||
		((tsl_value *)e)->u.i < 0 ||
		((tsl_value *)e)->u.i >= TSL_DTYPE_COUNT)
		return false;
	*dtype = (int)((tsl_value *)e)->u.i;
	return true;
}

/* An int: BININT1, BININT2, BININT, or LONG1 of up to 8 bytes. */
static bool ft_int(const struct vm *m, struct ft *f, int64_t *out)
{
	const uint8_t *p;
	size_t left = m->len - f->pos;
	uint64_t v = 0;
	size_t n;

	if (!left)
		return false;
	p = m->data + f->pos + 1;
	switch (m->data[f->pos]) {
	case OP_BININT1:
		if (left < 2)
			return false;
		*out = p[0];
		f->pos += 2;
		return true;
	case OP_BININT2:
		if (left < 3)
			return false;
		*out = tsl__le16(p);
		f->pos += 3;
		return true;
	case OP_BININT:
		if (left < 5)
			return false;
		*out = (int32_t)tsl__le32(p);
		f->pos += 5;
		return true;
	case OP_LONG1:
		if (left < 2 || (n = p[0]) > 8 || left - 2 < n)
			return false;
		for (size_t i = 0; i < n; i++)
			v |= (uint64_t)p[1 + i] << (8 * i);
		if (n > 0 && n < 8 && (p[n] & 0x80))
			v |= ~(uint64_t)0 << (8 * n);
		*out = (int64_t)v;
		f->pos += 2 + n;
		return true;
	default:
		return false;
	}
}

/* MARK int... TUPLE, at most FT_MAX_RANK of them. */
static bool ft_ints(const struct vm *m, struct ft *f, int64_t *a,
	uint32_t *n)
{
	if (!ft_op(m, f, OP_MARK))
		return false;
	for (*n = 0; !ft_op(m, f, OP_TUPLE); (*n)++)
		if (*n == FT_MAX_RANK || !ft_int(m, f, &a[*n]))
			return false;
	return true;
}

/* The dry run from the MARK after the placeholder: true when the whole
 * pattern is there and the generic path would accept it. */
static bool ft_parse(const struct vm *m, struct ft *f)
{
	const tsl_limits *lim = m->ctx->limits;
	int64_t numel = 0;
	uint32_t ns = 0;
	struct ft_str tag;
	uintptr_t e;

	f->pos = m->pos;   /* after the MARK */
	f->nputs = 0;
	/* the storage */
	if (ft_op(m, f, OP_MARK)) {
		f->fresh = true;
		if (!ft_str(m, f, &tag) || !eq(tag.s, tag.n, "storage") ||
			!ft_dtype(m, f, &f->dtype) || !ft_str(m, f, &f->key) ||
			!ft_loc(m, f) || !ft_int(m, f, &numel) ||
			numel < 0 || !ft_op(m, f, OP_TUPLE))
			return false;
		f->numel = (uint64_t)numel;
		f->persid_op = f->pos;
		if (!ft_op(m, f, OP_BINPERSID) ||
			!ft_put(m, f, FT_PUT_STORAGE, 0, 0))
			return false;
	} else {
		f->fresh = false;
		if (!(e = ft_get(m, f)))
			return false;
		if ((e & MEMO_TAG) == MEMO_ST) {
			const struct tsl_tensor *t = (const struct tsl_tensor *)
				(e & ~(uintptr_t)MEMO_TAG);

			f->storage = t->storage;
			f->dtype = t->dtype;
		} else if (!(e & MEMO_TAG) &&
			((tsl_value *)e)->kind == TSL__VALUE_STORAGE) {
			f->storage = ((tsl_value *)e)->u.st.storage;
			f->dtype = ((tsl_value *)e)->u.st.dtype;
		} else {
			return false;
		}
	}
	/* offset, sizes, strides, requires_grad */
	if (!ft_int(m, f, &f->off) || !ft_ints(m, f, f->shape, &f->n) ||
		!ft_ints(m, f, f->stride, &ns) || ns != f->n ||
		f->n > lim->max_rank || f->n > lim->max_container ||
		f->off < 0 || tsl__vm_check_view(NULL, f->shape, f->stride,
		f->n, f->off))
		return false;
	if (ft_op(m, f, OP_NEWTRUE))
		f->rg = 1;
	else if (ft_op(m, f, OP_NEWFALSE))
		f->rg = 0;
	else
		return false;
	/* backward hooks: OrderedDict() */
	{
		size_t at = f->pos, nlen = 0;
		const char *name = NULL;

		if (ft_global(m, f, "collections", &name, &nlen)) {
			if (!eq(name, nlen, "OrderedDict") ||
				!ft_put(m, f, FT_PUT_ODICT, at, 0))
				return false;
		} else {
			f->pos = at;
			if (!(e = ft_get(m, f)) || (e & MEMO_TAG) ||
				((tsl_value *)e)->kind != TSL__VALUE_GLOBAL ||
				((tsl_value *)e)->u.global.action !=
				TSL__G_ORDERED_DICT)
				return false;
		}
	}
	if (!ft_op(m, f, OP_EMPTY_TUPLE) || !ft_op(m, f, OP_REDUCE) ||
		!ft_op(m, f, OP_TUPLE))
		return false;
	f->reduce_op = f->pos;
	return ft_op(m, f, OP_REDUCE);
}

/* A NUL-terminated copy of a str operand (the value's own when it has
 * one). */
static const char *ft_cstr(struct vm *m, const struct ft_str *s)
{
	return s->v ? s->v->u.s : tsl__arena_strndup(m->ctx->arena, s->s, s->n);
}

static int ft_commit(struct vm *m, struct ft *f)
{
	struct tsl_storage *st = f->storage;
	struct tsl_tensor *t;
	int64_t *dims;
	size_t n1 = f->n ? f->n : 1;
	int rc;

	/* the memo, in the pattern's order; the storage's slot last, as it
	 * needs the tensor */
	for (int i = 0; i < f->nputs; i++) {
		uintptr_t e = 0;

		m->op = f->put[i].op;
		m->opcode = m->data[m->op];
		switch (f->put[i].kind) {
		case FT_PUT_STR:
			e = ((uintptr_t)f->put[i].at << 2) | MEMO_STR;
			break;
		case FT_PUT_STRVAL:
			f->loc.v = tsl__vm_new_str(m, TSL_VALUE_STRING,
				f->loc.s,
				f->loc.n);
			e = (uintptr_t)f->loc.v;
			break;
		case FT_PUT_DTYPE:
			e = (uintptr_t)tsl__vm_new_int(m, f->put[i].dtype);
			break;
		case FT_PUT_ODICT:
			e = (uintptr_t)tsl__vm_new_global(m,
				TSL__G_ORDERED_DICT,
				"collections", 11, "OrderedDict", 11);
			break;
		default:
			continue;
		}
		if (!e)
			return tsl__vm_fail_mem(m);
		if (!(e & MEMO_TAG))
			((tsl_value *)e)->flags |= TSL__VF_MEMO;
		if ((rc = tsl__vm_memo_set(m, f->put[i].idx, e)))
			return rc;
	}
	if (f->fresh) {
		char buf[64];
		const char *key, *loc;

		m->op = f->persid_op;
		m->opcode = OP_BINPERSID;
		/* make_storage keeps no key: a short one is passed from here */
		if (!f->key.v && f->key.n < sizeof buf) {
			memcpy(buf, f->key.s, f->key.n);
			buf[f->key.n] = '\0';
			key = buf;
		} else if (!(key = ft_cstr(m, &f->key))) {
			return tsl__vm_fail_mem(m);
		}
		if (!f->loc.v && f->loc.lazy)
			f->loc.v = tsl__vm_memo_value(m,
				(size_t)(f->loc.lazy - 1));
		if (!(loc = ft_cstr(m, &f->loc)))
			return tsl__vm_fail_mem(m);
		if ((rc = tsl__vm_make_storage(m, f->dtype, key, loc, f->numel,
			&st)))
			return rc;
	}
	/* the tensor; its sizes and strides in one array, the previous
	 * tensor's of this rank when they are the same (weights and biases
	 * of repeated layers mostly are) */
	m->op = f->reduce_op;
	m->opcode = OP_REDUCE;
	t = tsl__arena_alloc(m->ctx->arena, sizeof *t);
	if (!t)
		return tsl__vm_fail_mem(m);
	dims = f->n <= FT_SHARE_RANK ? m->dims[f->n] : NULL;
	for (uint32_t i = 0; dims && i < f->n; i++)
		if (dims[i] != f->shape[i] || dims[n1 + i] != f->stride[i])
			dims = NULL;
	if (!dims) {
		dims = tsl__arena_alloc(m->ctx->arena, 2 * n1 * sizeof *dims);
		if (!dims)
			return tsl__vm_fail_mem(m);
		memcpy(dims, f->shape, f->n * sizeof *dims);
		memcpy(dims + n1, f->stride, f->n * sizeof *dims);
		if (f->n <= FT_SHARE_RANK)
			m->dims[f->n] = dims;
	}
	t->qscheme = TSL_QSCHEME_NONE;
	t->layout = TSL_LAYOUT_STRIDED;
	t->dtype = f->dtype;
	t->storage = st;
	t->storage_offset = f->off;
	t->requires_grad = f->rg;
	t->ndim = f->n;
	t->shape = dims;
	t->stride = dims + n1;
	for (int i = 0; i < f->nputs; i++)
		if (f->put[i].kind == FT_PUT_STORAGE) {
			m->op = f->put[i].op;
			m->opcode = m->data[m->op];
			if ((rc = tsl__vm_memo_set(m, f->put[i].idx,
				(uintptr_t)t | MEMO_ST)))
				return rc;
		}
	m->op = f->reduce_op;
	m->opcode = OP_REDUCE;
	m->sp--;   /* the placeholder */
	if ((rc = tsl__vm_push_tensor(m, t)))
		return rc;
	m->pos = f->pos;
	if (m->ctx->fast_tensors)
		(*m->ctx->fast_tensors)++;
	return TSL_OK;
}

/* At a MARK with the _rebuild_tensor_v2 placeholder on top of the stack:
 * TSL_OK (the tensor replaces the placeholder), an error, or FT_GENERIC. */
int tsl__vm_fast_tensor(struct vm *m)
{
	const tsl_limits *lim = m->ctx->limits;
	struct ft f;

	/* the limits the generic path checks on the way: two more open
	 * MARKs, a 6-tuple of arguments, a 5-tuple persistent id */
	if (m->python || (m->ctx->flags & TSL_PICKLE_GENERIC) ||
		m->sp <= tsl__vm_stack_floor(m) ||
		m->nmarks + 2 > m->max_depth || lim->max_container < 6)
		return FT_GENERIC;
	if (!ft_parse(m, &f))
		return FT_GENERIC;
	return ft_commit(m, &f);
}

/* ---- dict keys --------------------------------------------------------------- */

static inline bool key_eq(const tsl_value *a, const tsl_value *b)
{
	if (a == b)
		return true;
	if (a->kind != b->kind)
		return false;
	if (a->kind == TSL_VALUE_STRING)   /* nearly every key */
		return a->len == b->len && !memcmp(a->u.s, b->u.s, a->len);
	switch (a->kind) {
	case TSL_VALUE_NONE: return true;
	case TSL_VALUE_BOOL: return a->u.b == b->u.b;
	case TSL_VALUE_INT: return a->u.i == b->u.i;
	case TSL_VALUE_FLOAT: return a->u.f == b->u.f;
	case TSL_VALUE_STRING:
	case TSL_VALUE_BYTES:
	case TSL_VALUE_DEVICE:
		return a->len == b->len && !memcmp(a->u.s, b->u.s, a->len);
	default: return false;
	}
}

static uint64_t key_hash(const tsl_value *k)
{
	uint64_t h = 0xcbf29ce484222325ull ^ k->kind;

	switch (k->kind) {
	case TSL_VALUE_NONE: break;
	case TSL_VALUE_BOOL: h ^= (uint64_t)k->u.b; break;
	case TSL_VALUE_INT: h ^= (uint64_t)k->u.i; break;
	case TSL_VALUE_FLOAT:
		if (k->u.f != 0) /* 0.0 == -0.0 */
			h ^= (uint64_t)(k->u.f * 1e6);
		break;
	case TSL_VALUE_STRING:
	case TSL_VALUE_BYTES:
	case TSL_VALUE_DEVICE:
		for (uint32_t i = 0; i < k->len; i++)
			h = (h ^ (uint8_t)k->u.s[i]) * 0x100000001b3ull;
		break;
	default:
		h ^= (uint64_t)(uintptr_t)k;
		break;
	}
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 32);
}

/* Merge repeated keys of one dict: first position, last value. */
static int dedup_one(struct vm *m, tsl_value *v)
{
	tsl_value **it = v->u.seq.items;
	uint32_t n = v->len, out = 0, mask;

	if (n < 2)
		return TSL_OK;
	if (n <= 8) {
		/* the usual small dict (a module's attributes) has no repeated
		 * key: find that out by reading only */
		uint32_t a, b;

		for (a = 1; a < n; a++) {
			for (b = 0; b < a; b++)
				if (key_eq(it[2 * b], it[2 * a]))
					break;
			if (b < a)
				break;
		}
		if (a == n)
			return TSL_OK;
		for (uint32_t i = 0; i < n; i++) {
			uint32_t j;

			for (j = 0; j < out; j++)
				if (key_eq(it[2 * j], it[2 * i]))
					break;
			it[2 * j + 1] = it[2 * i + 1];
			if (j == out)
				it[2 * out++] = it[2 * i];
		}
		v->len = out;
		return TSL_OK;
	}
	if (m->dtcap < (size_t)n * 2) {
		size_t tcap = 16;

		while (tcap < (size_t)n * 2)
			tcap *= 2;
		free(m->dtable);
		m->dtable = malloc(tcap * sizeof *m->dtable);
		m->dtcap = m->dtable ? tcap : 0;
		if (!m->dtable)
			return fail_nomem(m);
	}
	mask = (uint32_t)(m->dtcap - 1);
	memset(m->dtable, 0xff, m->dtcap * sizeof *m->dtable);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t s = (uint32_t)key_hash(it[2 * i]) & mask;

		while (m->dtable[s] != UINT32_MAX &&
			!key_eq(it[2 * m->dtable[s]], it[2 * i]))
			s = (s + 1) & mask;
		if (m->dtable[s] == UINT32_MAX) {
			m->dtable[s] = out;
			it[2 * out] = it[2 * i];
			it[2 * out + 1] = it[2 * i + 1];
			out++;
		} else {
			it[2 * m->dtable[s] + 1] = it[2 * i + 1];
		}
	}
	v->len = out;
	return TSL_OK;
}

/* Dicts filled more than once are deduplicated at STOP. */
static int dedup_dicts(struct vm *m)
{
	for (size_t d = 0; d < m->ndicts; d++) {
		int rc = dedup_one(m, m->dicts[d]);

		if (rc)
			return rc;
	}
	return TSL_OK;
}

/* ---- the loop ---------------------------------------------------------------- */

static int collect(struct vm *m, int kind)
{
	size_t start = 0;
	tsl_value *v = NULL;
	int rc;

	if ((rc = pop_mark(m, &start)))
		return rc;
	if (kind == TSL_VALUE_DICT && (m->sp - start) % 2)
		return tsl__vm_fail(m, TSL_EFORMAT,
			"odd number of items (%zu) for a "
			"dict", m->sp - start);
	if ((rc = tsl__vm_new_seq(m, kind,
		m->sp > start ? m->stack + start : NULL,
		m->sp - start, &v)))
		return rc;
	m->sp = start;
	return push(m, v);
}

/* APPENDS, SETITEMS, ADDITEMS: items above the mark into the value below. */
static int extend_marked(struct vm *m, int kind)
{
	size_t start = 0;
	tsl_value *c;
	int rc;

	if ((rc = pop_mark(m, &start)))
		return rc;
	if (start == 0 || start - 1 < tsl__vm_stack_floor(m))
		return tsl__vm_fail(m, TSL_EFORMAT,
			"no container below the MARK");
	c = m->stack[start - 1];
	if (c->kind != kind || (kind == TSL_VALUE_LIST &&
		(m->opcode == OP_ADDITEMS) != (c->u.seq.type_tag &&
		!strcmp(c->u.seq.type_tag, "set"))))
		return tsl__vm_fail(m, TSL_EFORMAT, "%s to a %s",
			op_name(m->opcode),
			tsl__vm_kind_name(c));
	if (kind == TSL_VALUE_DICT && (m->sp - start) % 2)
		return tsl__vm_fail(m, TSL_EFORMAT, "odd number of items (%zu)",
			m->sp - start);
	if ((rc = seq_extend(m, c, m->stack + start, m->sp - start)))
		return rc;
	m->sp = start;
	return TSL_OK;
}

static int string_op(struct vm *m, int kind, size_t lensize)
{
	const uint8_t *p = NULL;
	uint64_t n;
	int rc;

	if ((rc = take(m, lensize, &p)))
		return rc;
	switch (lensize) {
	case 1: n = p[0]; break;
	case 4:
		n = tsl__le32(p);
		if (m->opcode == OP_BINSTRING && (n & 0x80000000u))
			return tsl__vm_fail(m, TSL_EFORMAT, "negative length");
		break;
	default: n = tsl__le64(p); break;
	}
	if (n > UINT32_MAX)
		return tsl__vm_fail(m, TSL_ELIMIT,
			"a string of %llu bytes is too long",
			(unsigned long long)n);
	if ((rc = take(m, (size_t)n, &p)))
		return rc;
	return push(m, tsl__vm_new_str(m, kind, p, (size_t)n));
}

static int step_python(struct vm *m)
{
	const uint8_t *p = NULL;
	const char *s;
	size_t n, start = 0;
	int64_t i;
	tsl_value *a, *b, *c, *v = NULL;
	int rc;

	switch (m->opcode) {
	case OP_FRAME:
		return take(m, 8, &p);
	case OP_MEMOIZE:
		return memo_put(m, m->memo_count);
	case OP_STACK_GLOBAL:
		if ((rc = need(m, 2)))
			return rc;
		a = m->stack[m->sp - 2];
		b = m->stack[m->sp - 1];
		if (a->kind != TSL_VALUE_STRING || b->kind != TSL_VALUE_STRING)
			return tsl__vm_fail(m, TSL_EFORMAT,
				"STACK_GLOBAL of a %s and a "
				"%s", tsl__vm_kind_name(a),
					tsl__vm_kind_name(b));
		m->sp -= 2;
		return tsl__vm_global(m, a->u.s, a->len, b->u.s, b->len);
	case OP_SHORT_BINUNICODE:
		return string_op(m, TSL_VALUE_STRING, 1);
	case OP_SHORT_BINBYTES:
		return string_op(m, TSL_VALUE_BYTES, 1);
	case OP_BINBYTES:
		return string_op(m, TSL_VALUE_BYTES, 4);
	case OP_BINBYTES8:
	case OP_BYTEARRAY8:
		return string_op(m, TSL_VALUE_BYTES, 8);
	case OP_SHORT_BINSTRING:
		return string_op(m, TSL_VALUE_STRING, 1);
	case OP_BINSTRING:
		return string_op(m, TSL_VALUE_STRING, 4);
	case OP_EMPTY_SET:
		if ((rc = tsl__vm_new_seq(m, TSL_VALUE_LIST, NULL, 0, &v)))
			return rc;
		v->u.seq.type_tag = "set";
		return push(m, v);
	case OP_ADDITEMS:
		return extend_marked(m, TSL_VALUE_LIST);
	case OP_FROZENSET:
		if ((rc = collect(m, TSL_VALUE_LIST)))
			return rc;
		m->stack[m->sp - 1]->u.seq.type_tag = "frozenset";
		return TSL_OK;
	case OP_POP:
		if (m->sp > tsl__vm_stack_floor(m)) {
			m->sp--;
			return TSL_OK;
		}
		if ((rc = pop_mark(m, &start)))
			return rc;
		return TSL_OK;
	case OP_POP_MARK:
		if ((rc = pop_mark(m, &start)))
			return rc;
		m->sp = start;
		return TSL_OK;
	case OP_DUP:
		if ((rc = need(m, 1)))
			return rc;
		m->stack[m->sp - 1]->flags |= TSL__VF_MEMO;   /* now shared */
		return push(m, m->stack[m->sp - 1]);
	case OP_INT:
		if ((rc = take_line(m, 64, &s, &n)))
			return rc;
		if (eq(s, n, "01") || eq(s, n, "00"))
			return push(m, new_bool(m, s[1] == '1'));
		if ((rc = parse_decimal(m, s, n, &i)))
			return rc;
		return push(m, tsl__vm_new_int(m, i));
	case OP_LONG:
		if ((rc = take_line(m, 64, &s, &n)) ||
			(rc = parse_decimal(m, s, n, &i)))
			return rc;
		return push(m, tsl__vm_new_int(m, i));
	case OP_FLOAT: {
		char buf[72], *end;
		double d;

		if ((rc = take_line(m, 64, &s, &n)))
			return rc;
		memcpy(buf, s, n);
		buf[n] = '\0';
		d = strtod(buf, &end);
		if (!n || *end)
			return tsl__vm_fail(m, TSL_EFORMAT, "not a float");
		v = tsl__vm_new_value(m, TSL_VALUE_FLOAT);
		if (v)
			v->u.f = d;
		return push(m, v);
	}
	case OP_GET:
	case OP_PUT:
		if ((rc = take_line(m, 32, &s, &n)) ||
			(rc = parse_decimal(m, s, n, &i)))
			return rc;
		if (i < 0)
			return tsl__vm_fail(m, TSL_EFORMAT,
				"negative memo index");
		return m->opcode == OP_GET ? memo_get(m, (uint64_t)i) :
			memo_put(m, (uint64_t)i);
	case OP_LONG4:
		if ((rc = take(m, 4, &p)))
			return rc;
		n = tsl__le32(p);
		if (n & 0x80000000u)
			return tsl__vm_fail(m, TSL_EFORMAT, "negative length");
		if ((rc = take(m, n, &p)) || (rc = decode_long(m, p, n, &i)))
			return rc;
		return push(m, tsl__vm_new_int(m, i));
	case OP_NEWOBJ_EX:
		if ((rc = need(m, 3)))
			return rc;
		a = m->stack[m->sp - 3];
		b = m->stack[m->sp - 2];
		c = m->stack[m->sp - 1];
		if (c->kind != TSL_VALUE_DICT || c->len)
			return tsl__vm_fail(m, TSL_EUNSUPPORTED,
				"NEWOBJ_EX with keyword "
				"arguments");
		m->sp -= 3;
		return op_newobj(m, a, b);
	default:
		return tsl__vm_fail(m, TSL_EUNSUPPORTED,
			"opcode 0x%02x (%s) is not "
			"supported", m->opcode, op_name(m->opcode));
	}
}

static int step(struct vm *m)
{
	const uint8_t *p = NULL;
	const char *mod, *name;
	size_t mlen, nlen;
	int64_t i;
	tsl_value *a, *b, *c, *v = NULL;
	int rc;

	switch (m->opcode) {
	case OP_PROTO:
		if ((rc = take(m, 1, &p)))
			return rc;
		if (p[0] == 2 || (m->python && p[0] <= 5))
			return TSL_OK;
		return tsl__vm_fail(m, TSL_EUNSUPPORTED,
			"pickle protocol %u (%s)", p[0],
			m->python ? "2 to 5 are read" : "TorchScript writes 2");
	case OP_MARK:
		if (m->sp && m->stack[m->sp - 1]->kind == TSL__VALUE_GLOBAL &&
			m->stack[m->sp - 1]->u.global.action ==
			TSL__G_TENSOR_V2 && (rc = tsl__vm_fast_tensor(m)) != FT_GENERIC)
			return rc;
		if (m->nmarks >= m->max_depth)
			return tsl__vm_fail(m, TSL_ELIMIT,
				"more than max_depth (%u) "
				"open MARKs", m->max_depth);
		if (m->nmarks == m->mcap) {
			size_t cap = m->mcap ? m->mcap * 2 : 64;
			size_t *q = realloc(m->marks, cap * sizeof *q);

			if (!q)
				return fail_nomem(m);
			m->marks = q;
			m->mcap = cap;
		}
		m->marks[m->nmarks++] = m->sp;
		return TSL_OK;
	case OP_TUPLE:
		return collect(m, TSL_VALUE_TUPLE);
	case OP_LIST:
		return collect(m, TSL_VALUE_LIST);
	case OP_DICT:
		return collect(m, TSL_VALUE_DICT);
	case OP_EMPTY_TUPLE:
		/* immutable: one for the whole pickle */
		if (!m->empty_tuple) {
			if ((rc = tsl__vm_new_seq(m, TSL_VALUE_TUPLE, NULL, 0,
				&m->empty_tuple)))
				return rc;
			m->empty_tuple->flags |= TSL__VF_MEMO;   /* shared */
		}
		return push(m, m->empty_tuple);
	case OP_EMPTY_LIST:
	case OP_EMPTY_DICT:
		if ((rc = tsl__vm_new_seq(m, m->opcode == OP_EMPTY_TUPLE ?
			TSL_VALUE_TUPLE : m->opcode == OP_EMPTY_LIST ?
			TSL_VALUE_LIST : TSL_VALUE_DICT, NULL, 0, &v)))
			return rc;
		return push(m, v);
	case OP_TUPLE1:
	case OP_TUPLE2:
	case OP_TUPLE3: {
		size_t n = (size_t)(m->opcode - OP_TUPLE1 + 1);

		if ((rc = need(m, n)) ||
			(rc = tsl__vm_new_seq(m, TSL_VALUE_TUPLE,
			m->stack + m->sp - n,
			n, &v)))
			return rc;
		m->sp -= n;
		return push(m, v);
	}
	case OP_APPENDS:
		return extend_marked(m, TSL_VALUE_LIST);
	case OP_SETITEMS:
		return extend_marked(m, TSL_VALUE_DICT);
	case OP_APPEND:
	case OP_SETITEM: {
		size_t n = m->opcode == OP_APPEND ? 1 : 2;
		int kind = m->opcode == OP_APPEND ? TSL_VALUE_LIST :
			TSL_VALUE_DICT;

		if ((rc = need(m, n + 1)))
			return rc;
		c = m->stack[m->sp - n - 1];
		if (c->kind != kind)
			return tsl__vm_fail(m, TSL_EFORMAT, "%s to a %s",
				op_name(m->opcode), tsl__vm_kind_name(c));
		if ((rc = seq_extend(m, c, m->stack + m->sp - n, n)))
			return rc;
		m->sp -= n;
		return TSL_OK;
	}
	case OP_NONE:
		return push(m, new_none(m));
	case OP_NEWTRUE:
	case OP_NEWFALSE:
		return push(m, new_bool(m, m->opcode == OP_NEWTRUE));
	case OP_BININT1:
		if ((rc = take(m, 1, &p)))
			return rc;
		return push(m, tsl__vm_new_int(m, p[0]));
	case OP_BININT2:
		if ((rc = take(m, 2, &p)))
			return rc;
		return push(m, tsl__vm_new_int(m, tsl__le16(p)));
	case OP_BININT:
		if ((rc = take(m, 4, &p)))
			return rc;
		return push(m, tsl__vm_new_int(m, (int32_t)tsl__le32(p)));
	case OP_LONG1: {
		size_t n;

		if ((rc = take(m, 1, &p)))
			return rc;
		n = p[0];
		if ((rc = take(m, n, &p)) || (rc = decode_long(m, p, n, &i)))
			return rc;
		return push(m, tsl__vm_new_int(m, i));
	}
	case OP_BINFLOAT: {
		uint64_t bits;

		if ((rc = take(m, 8, &p)))
			return rc;
		bits = tsl__be64(p);
		v = tsl__vm_new_value(m, TSL_VALUE_FLOAT);
		if (v)
			memcpy(&v->u.f, &bits, sizeof bits);
		return push(m, v);
	}
	case OP_BINUNICODE:
		return string_op(m, TSL_VALUE_STRING, 4);
	case OP_BINUNICODE8:
		return string_op(m, TSL_VALUE_STRING, 8);
	case OP_GLOBAL:
		if ((rc = take_line(m, GLOBAL_MAX, &mod, &mlen)) ||
			(rc = take_line(m, GLOBAL_MAX, &name, &nlen)))
			return rc;
		return tsl__vm_global(m, mod, mlen, name, nlen);
	case OP_NEWOBJ:
		if ((rc = need(m, 2)))
			return rc;
		a = m->stack[m->sp - 2];
		b = m->stack[m->sp - 1];
		m->sp -= 2;
		return op_newobj(m, a, b);
	case OP_REDUCE:
	case OP_BUILD:
		if ((rc = need(m, 2)))
			return rc;
		a = m->stack[m->sp - 2];
		b = m->stack[m->sp - 1];
		m->sp -= 2;
		if (m->opcode == OP_BUILD)
			return op_build(m, a, b);
		if (a->kind != TSL__VALUE_GLOBAL)
			return tsl__vm_fail(m, TSL_EFORMAT, "REDUCE of a %s",
				tsl__vm_kind_name(a));
		return tsl__vm_apply(m, a, b, false);
	case OP_BINPERSID:
		if ((rc = need(m, 1)))
			return rc;
		return op_binpersid(m);
	case OP_BINPUT:
		if ((rc = take(m, 1, &p)))
			return rc;
		return memo_put(m, p[0]);
	case OP_LONG_BINPUT:
		if ((rc = take(m, 4, &p)))
			return rc;
		return memo_put(m, tsl__le32(p));
	case OP_BINGET:
		if ((rc = take(m, 1, &p)))
			return rc;
		return memo_get(m, p[0]);
	case OP_LONG_BINGET:
		if ((rc = take(m, 4, &p)))
			return rc;
		return memo_get(m, tsl__le32(p));
	default:
		if (m->python)
			return step_python(m);
		return tsl__vm_fail(m, TSL_EFORMAT, "unknown opcode 0x%02x%s",
			m->opcode, op_name(m->opcode)[0] == '?' ? "" :
			" (a Python pickle opcode outside the TorchScript "
			"dialect)");
	}
}

int tsl__pickle_load(tsl_value **out, const uint8_t *data, size_t len,
	const tsl_pickle_ctx *ctx, tsl_error *err)
{
	struct vm m;
	tsl_error local;
	int rc = TSL_OK;

	*out = NULL;
	memset(&m, 0, sizeof m);
	m.ctx = ctx;
	m.err = err ? err : &local;
	m.data = data;
	m.len = len;
	m.python = ctx->flags & TSL_PICKLE_PYTHON;
	m.max_depth = ctx->limits->max_depth;

	for (;;) {
		if (m.pos >= m.len) {
			m.op = m.pos;
			rc = tsl__error(m.err, TSL_EFORMAT, ctx->record,
				tsl__vm_err_offset(&m),
				"truncated pickle: no STOP "
				"opcode before the end (%zu bytes)", len);
			break;
		}
		m.op = m.pos;
		m.opcode = data[m.pos++];
		if (m.opcode == OP_STOP) {
			if (m.nmarks || m.sp != 1) {
				rc = tsl__vm_fail(&m, TSL_EFORMAT,
					"expected 1 value on "
					"the stack, found %zu (%zu open MARKs)",
					m.sp, m.nmarks);
				break;
			}
			if (m.stack[0]->kind >= TSL__VALUE_GLOBAL) {
				rc = tsl__vm_fail(&m, TSL_EUNSUPPORTED,
					"the pickled "
					"value is a %s",
					tsl__vm_kind_name(m.stack[0]));
				break;
			}
			rc = dedup_dicts(&m);
			if (!rc)
				*out = m.stack[0];
			break;
		}
		if ((rc = step(&m)))
			break;
	}
	free(m.stack);
	free(m.marks);
	tsl__big_free(m.memo);
	free(m.dicts);
	free(m.dtable);
	return rc;
}
