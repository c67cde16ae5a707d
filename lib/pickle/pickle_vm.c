/*
 * pickle_vm.c - the restricted pickle machine (see pickle.h; FORMAT.md
 * sections 5 and 14).  What a GLOBAL may name and build is in
 * pickle_global.c, the tensor fast path in pickle_fast.c; the three share
 * pickle_internal.h.
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
	char pre[64];
	va_list ap;

	snprintf(pre, sizeof pre, "%s at pickle byte %zu: ", op_name(m->opcode),
		m->op);
	va_start(ap, fmt);
	tsl__error_va(m->err, code, m->ctx->record, tsl__vm_err_offset(m), pre,
		fmt, ap);
	va_end(ap);
	return code;
}

int tsl__vm_callee_fail(struct vm *m, int rc)
{
	tsl_error *e = m->err;

	if (e->offset == TSL_NO_OFFSET)
		e->offset = tsl__vm_err_offset(m);
	if (!e->record[0] && m->ctx->record)
		snprintf(e->record, sizeof e->record, "%s", m->ctx->record);
	e->code = rc;
	return rc;
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

struct tsl_tensor *tsl__vm_new_tensor(struct vm *m)
{
	tsl_value *v = tsl__vm_new_value(m, TSL_VALUE_TENSOR);

	return v ? &v->u.t : NULL;
}

/* An item array of n (1..FREE_ITEMS_MAX) slots that nothing reaches any
 * more, kept for the next container of that length. */
static inline void give_items(struct vm *m, tsl_value **items, size_t n)
{
	if (n <= FREE_ITEMS_EXACT) {
		items[0] = (tsl_value *)m->free_items[n];
		m->free_items[n] = items;
		return;
	}
	items[0] = (tsl_value *)m->free_long;
	items[1] = (tsl_value *)(uintptr_t)n;
	m->free_long = items;
}

/* A recycled item array of n slots, or NULL when none is kept (the shared
 * list of long ones is searched 8 deep: a model's modules come in a few
 * sizes). */
static inline tsl_value **take_items(struct vm *m, size_t n)
{
	tsl_value **items, ***link;
	int depth = 0;

	if (n <= FREE_ITEMS_EXACT) {
		if (!(items = m->free_items[n]))
			return NULL;
		m->free_items[n] = (tsl_value **)items[0];
		return items;
	}
	if (n > FREE_ITEMS_MAX)
		return NULL;
	for (link = &m->free_long; *link && depth < 8;
		link = (tsl_value ***)&(*link)[0], depth++)
		if ((uintptr_t)(*link)[1] == n) {
			items = *link;
			*link = (tsl_value **)items[0];
			return items;
		}
	return NULL;
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
		give_items(m, v->u.seq.items, v->len);
	}
	v->u.seq.items = (tsl_value **)m->free_values;
	m->free_values = v;
}

/* A dict handed back by ctx->object_built: nothing else reaches it (never
 * memoized, filled once), so it and its items array (of at most
 * FREE_ITEMS_MAX slots) are recycled. */
static void recycle_dict(struct vm *m, tsl_value *d)
{
	give_items(m, d->u.seq.items, (size_t)d->u.seq.cap * 2);
	d->u.seq.items = (tsl_value **)m->free_values;
	m->free_values = d;
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

/* A string of up to 15 bytes lives in its value, in the 16 bytes of the
 * payload after u.s (a module's attribute names, a storage's key: 10,000
 * of them in a ModuleList of 10,000 modules, each 8 bytes of arena
 * saved); u.s points there, so readers see no difference.  Values holding
 * strings are never recycled (tsl__vm_recycle), so the bytes stay. */
#define INLINE_STR_MAX (sizeof(((tsl_value *)0)->u) - sizeof(char *) - 1)

tsl_value *tsl__vm_new_str(struct vm *m, int kind, const void *s, size_t n)
{
	tsl_value *v = tsl__vm_new_value(m, kind);

	if (!v)
		return NULL;
	if (n <= INLINE_STR_MAX) {
		char *in = (char *)&v->u + sizeof(char *);

		if (n)
			memcpy(in, s, n);
		in[n] = '\0';
		v->u.s = in;
		v->len = (uint32_t)n;
		return v;
	}
	v->u.s = tsl__arena_strndup(m->ctx->arena, s, n);
	if (!v->u.s)
		return NULL;
	v->len = (uint32_t)n;
	return v;
}

static int dedup_one(struct vm *m, tsl_value *v, void *scratch,
	size_t scratch_bytes);

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
		v->u.seq.items = take_items(m, n);
		if (!v->u.seq.items)
			v->u.seq.items = tsl__arena_calloc(m->ctx->arena, n,
				sizeof *items);
		if (!v->u.seq.items)
			return tsl__vm_fail_mem(m);
		memcpy(v->u.seq.items, items, n * sizeof *items);
		for (size_t i = 0; i < n; i++)
			if ((rc = adopt(m, v, items[i])))
				return rc;
	}
	v->len = (uint32_t)units;
	v->u.seq.cap = (uint32_t)units;
	if (kind == TSL_VALUE_DICT && units > 1 &&
		(rc = dedup_one(m, v, NULL, 0)))
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
		/* every slot of a recycled array is written below (len 0) */
		p = c->len ? NULL : take_items(m, cap * unit);
		if (!p)
			p = tsl__arena_calloc(m->ctx->arena, cap,
				unit * sizeof *p);
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
		/* the items' stack slots are dead now (the caller pops
		 * them): the dedup table fits in them */
		if (first)
			return need > 1 ? dedup_one(m, c, items,
				n * sizeof *items) : TSL_OK;
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
		/* a big stack (a dict of 10,000 entries pushes 20,000 items
		 * before its SETITEMS) is mapped, and given back when the
		 * pickle ends, not left in the heap */
		tsl_value **p = tsl__big_grow(m->stack, m->scap, cap,
			sizeof *p, TSL_PAGES_SMALL);

		if (!p)
			return fail_nomem(m);
		m->stack = p;
		m->scap = cap;
	}
	m->stack[m->sp++] = v;
	return TSL_OK;
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
		m->memo_populated = m->memo_cap * sizeof *p; /* copied */
		m->memo_cap = (size_t)cap;
		m->memo_pf_next = tsl__prefault_lane(TSL_PF_MEMO, p,
			m->memo_cap * sizeof *p, false) ? 0 : SIZE_MAX;
	}
	if ((idx + 1) * sizeof *m->memo > m->memo_populated)
		tsl__populate_ahead(m->memo, m->memo_cap * sizeof *m->memo,
			&m->memo_populated, (size_t)(idx + 1) * sizeof *m->memo);
	tsl__prefault_publish(TSL_PF_MEMO, (size_t)(idx + 1) * sizeof *m->memo,
		&m->memo_pf_next);
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
	return tsl__vm_callee_fail(m, e->code);
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

/* BUILD of an object whose state is a dict: ctx->object_built, when the
 * dict is final, nothing else reaches it and it has at most
 * FREE_ITEMS_MAX / 2 entries (a bigger one is kept: its array would not be
 * reused), and the dict recycled when the callee took what it needed. */
static int object_built(struct vm *m, tsl_value *obj)
{
	const tsl_pickle_ctx *ctx = m->ctx;
	tsl_value *d = obj->u.obj.state;
	tsl_error *e = m->err;
	bool consumed = false;
	int rc;

	if ((d->flags & (TSL__VF_MEMO | TSL__VF_TRACKED | TSL__VF_VM)) !=
		TSL__VF_VM || !d->u.seq.cap ||
		(size_t)d->u.seq.cap * 2 > FREE_ITEMS_MAX)
		return TSL_OK;
	tsl__error_clear(e);
	rc = ctx->object_built(ctx->payload, obj, &consumed, e);
	if (rc)
		return tsl__vm_callee_fail(m, rc);
	if (consumed) {
		/* the callee may have made it another kind (a module) */
		if (obj->kind == TSL_VALUE_OBJECT)
			obj->u.obj.state = NULL;
		recycle_dict(m, d);
	}
	return TSL_OK;
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
		if (m->ctx->object_built && state->kind == TSL_VALUE_DICT &&
			(rc = object_built(m, target)))
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

/* ---- dict keys --------------------------------------------------------------- */

/* A bool, int or float key's value as an integer, when it has one (a float
 * with an integral value inside int64): Python's dict takes True, 1 and
 * 1.0 for the same key, and they must hash alike. */
static inline bool key_int(const tsl_value *k, int64_t *out)
{
	switch (k->kind) {
	case TSL_VALUE_BOOL:
		*out = k->u.b;
		return true;
	case TSL_VALUE_INT:
		*out = k->u.i;
		return true;
	case TSL_VALUE_FLOAT:
		/* false for NaN; in range before the cast */
		if (!(k->u.f >= -0x1p63 && k->u.f < 0x1p63) ||
			k->u.f != (double)(int64_t)k->u.f)
			return false;
		*out = (int64_t)k->u.f;
		return true;
	default:
		return false;
	}
}

static inline bool key_numeric(const tsl_value *k)
{
	return k->kind == TSL_VALUE_BOOL || k->kind == TSL_VALUE_INT ||
		k->kind == TSL_VALUE_FLOAT;
}

static inline bool key_eq(const tsl_value *a, const tsl_value *b)
{
	if (a == b)
		return true;
	if (a->kind == TSL_VALUE_STRING && b->kind == TSL_VALUE_STRING)
		return a->len == b->len && !memcmp(a->u.s, b->u.s, a->len);
	if (key_numeric(a) && key_numeric(b)) {
		int64_t x = 0, y = 0;
		bool xi = key_int(a, &x), yi = key_int(b, &y);

		if (xi || yi)
			return xi && yi && x == y;
		return a->u.f == b->u.f;   /* two floats; NaN is no key's */
	}
	if (a->kind != b->kind)
		return false;
	switch (a->kind) {
	case TSL_VALUE_NONE: return true;
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
	int64_t n;

	switch (k->kind) {
	case TSL_VALUE_NONE: break;
	case TSL_VALUE_BOOL:
	case TSL_VALUE_INT:
	case TSL_VALUE_FLOAT:
		/* equal numbers hash alike whatever their kind (key_eq); a
		 * float that is no integer by its bits (its nearby values
		 * spread: a hash of value * 1e6 put every key under 1e-6 in
		 * one bucket) */
		h = 0xcbf29ce484222325ull ^ TSL_VALUE_INT;
		if (key_int(k, &n)) {
			h ^= (uint64_t)n;
		} else {
			uint64_t bits;

			memcpy(&bits, &k->u.f, sizeof bits);
			h ^= bits * 0x9e3779b97f4a7c15ull;
		}
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

/* Merge repeated keys of one dict: first position, last value.  The
 * hash table goes in scratch (scratch_bytes; NULL: none) when it fits,
 * else in the VM's own (m->dtable, grown as needed).  A dict of n entries
 * filled by one SETITEMS leaves 16n bytes of dead stack slots, and the
 * table takes at most 16n (a power of two of 4-byte slots under 4n):
 * memory already touched, where a ModuleList of 10,000 modules made a
 * 128 KiB table that stayed in the heap after the load. */
static int dedup_one(struct vm *m, tsl_value *v, void *scratch,
	size_t scratch_bytes)
{
	tsl_value **it = v->u.seq.items;
	uint32_t n = v->len, out = 0, mask, *table;
	size_t tcap;

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
	tcap = 16;
	while (tcap < (size_t)n * 2)
		tcap *= 2;
	if (scratch && tcap * sizeof *table <= scratch_bytes) {
		table = scratch;
	} else {
		if (m->dtcap < tcap) {
			free(m->dtable);
			m->dtable = malloc(tcap * sizeof *m->dtable);
			m->dtcap = m->dtable ? tcap : 0;
			if (!m->dtable)
				return fail_nomem(m);
		}
		table = m->dtable;
		tcap = m->dtcap;
	}
	mask = (uint32_t)(tcap - 1);
	memset(table, 0xff, tcap * sizeof *table);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t s = (uint32_t)key_hash(it[2 * i]) & mask;

		while (table[s] != UINT32_MAX &&
			!key_eq(it[2 * table[s]], it[2 * i]))
			s = (s + 1) & mask;
		if (table[s] == UINT32_MAX) {
			table[s] = out;
			it[2 * out] = it[2 * i];
			it[2 * out + 1] = it[2 * i + 1];
			out++;
		} else {
			it[2 * table[s] + 1] = it[2 * i + 1];
		}
	}
	v->len = out;
	return TSL_OK;
}

/* Dicts filled more than once are deduplicated at STOP. */
static int dedup_dicts(struct vm *m)
{
	for (size_t d = 0; d < m->ndicts; d++) {
		int rc = dedup_one(m, m->dicts[d], NULL, 0);

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
	tsl__big_free(m.stack);
	free(m.marks);
	tsl__big_free(m.memo);
	free(m.dicts);
	free(m.dtable);
	return rc;
}
