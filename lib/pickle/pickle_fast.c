/*
 * pickle_fast.c - the tensor fast path of the pickle machine: the usual
 * _rebuild_tensor_v2 pattern read straight from the bytes, with every
 * check the generic path makes; anything else falls back to the machine
 * (FT_GENERIC).  See pickle_internal.h for how the parts fit.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pickle_internal.h"

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
	int64_t *geom;
	size_t n1 = f->n ? f->n : 1;
	int rc;

	/* a location fetched from a stand-in is made now, before the puts:
	 * a later put of this pattern (the OrderedDict's) may reuse its slot,
	 * and the fetch came first */
	if (f->fresh && !f->loc.v && f->loc.lazy) {
		m->op = f->persid_op;
		m->opcode = OP_BINPERSID;
		if (!(f->loc.v = tsl__vm_memo_value(m,
			(size_t)(f->loc.lazy - 1))))
			return tsl__vm_fail_mem(m);
	}
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
		if (!(loc = ft_cstr(m, &f->loc)))
			return tsl__vm_fail_mem(m);
		if ((rc = tsl__vm_make_storage(m, f->dtype, key, loc, f->numel,
			&st)))
			return rc;
	}
	/* the tensor; its offset, sizes and strides in one block, the
	 * previous tensor's of this rank when they are the same (weights
	 * and biases of repeated layers mostly are) */
	m->op = f->reduce_op;
	m->opcode = OP_REDUCE;
	if (!(t = tsl__vm_new_tensor(m)))
		return tsl__vm_fail_mem(m);
	geom = f->n <= FT_SHARE_RANK ? m->dims[f->n] : NULL;
	if (geom && geom[0] != f->off)
		geom = NULL;
	for (uint32_t i = 0; geom && i < f->n; i++)
		if (geom[1 + i] != f->shape[i] ||
			geom[1 + n1 + i] != f->stride[i])
			geom = NULL;
	if (!geom) {
		geom = tsl__geom_make(m->ctx->arena, f->off, f->n, f->shape,
			f->stride);
		if (!geom)
			return tsl__vm_fail_mem(m);
		if (f->n <= FT_SHARE_RANK)
			m->dims[f->n] = geom;
	}
	t->qscheme = TSL_QSCHEME_NONE;
	t->layout = TSL_LAYOUT_STRIDED;
	t->dtype = f->dtype;
	t->storage = st;
	t->requires_grad = f->rg;
	t->ndim = f->n;
	t->geom = geom;
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
