/*
 * pickle_global.c - the GLOBAL allow-list of the pickle machine and what
 * each allowed name does: rebuilding tensors (strided, quantized, sparse),
 * typed lists, devices, and the Python builtins of torch.save's dialect.
 * Every callable a pickle can reach is in global_table below or is a
 * torch Storage class or dtype (lib/common/dtype.c); anything else is
 * TSL_EUNSAFE.  See pickle_internal.h for how the parts fit.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pickle_internal.h"

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
	if (v->kind != TSL_VALUE_TENSOR || !tsl__vtensor(v))
		return tsl__vm_fail(m, TSL_EFORMAT, "%s is a %s, not a tensor",
			what,
			tsl__vm_kind_name(v));
	*out = tsl__vtensor(v);
	return TSL_OK;
}

/* A tuple (or list) of ints: n items into a (rank-checked) arena array. */
/* A tensor's size or stride tuple: ints, at most max_rank of them. */
static int int_tuple(struct vm *m, const tsl_value *v, const char *what)
{
	if (v->kind != TSL_VALUE_TUPLE && v->kind != TSL_VALUE_LIST)
		return tsl__vm_fail(m, TSL_EFORMAT,
			"tensor %s is a %s, not a tuple",
			what, tsl__vm_kind_name(v));
	if (v->len > m->ctx->limits->max_rank)
		return tsl__vm_fail(m, TSL_ELIMIT,
			"tensor rank %u is over max_rank "
			"(%u)", v->len, m->ctx->limits->max_rank);
	for (uint32_t i = 0; i < v->len; i++)
		if (v->u.seq.items[i]->kind != TSL_VALUE_INT)
			return tsl__vm_fail(m, TSL_EFORMAT,
				"tensor %s item %u is a %s, "
				"not an int", what, i,
				tsl__vm_kind_name(v->u.seq.items[i]));
	return TSL_OK;
}

/* A geometry block (value.h: offset, sizes, strides) from a checked size
 * tuple and, unless NULL (strides 0), a checked stride tuple of the same
 * length. */
static int64_t *geom_from(struct vm *m, int64_t off, const tsl_value *size,
	const tsl_value *stride)
{
	uint32_t n = size->len;
	int64_t *g = tsl__geom_make(m->ctx->arena, off, n, NULL, NULL);

	if (!g)
		return NULL;
	for (uint32_t i = 0; i < n; i++) {
		g[1 + i] = size->u.seq.items[i]->u.i;
		if (stride)
			g[1 + n + i] = stride->u.seq.items[i]->u.i;
	}
	return g;
}

static struct tsl_tensor *new_tensor(struct vm *m)
{
	struct tsl_tensor *t = tsl__vm_new_tensor(m);

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
	if ((rc = int_tuple(m, a[2], "size")) ||
		(rc = int_tuple(m, a[3], "stride")))
		return rc;
	n = a[2]->len;
	ns = a[3]->len;
	if (n != ns)
		return tsl__vm_fail(m, TSL_EFORMAT,
			"tensor has %u sizes but %u "
			"strides", n, ns);
	if (!(t->geom = geom_from(m, off, a[2], a[3])))
		return tsl__vm_fail_mem(m);
	t->ndim = (uint16_t)n;
	if ((rc = tsl__vm_check_view(m, tsl__tshape(t), tsl__tstride(t), n,
		off)))
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
		bool conj;
		int b = 0;

		if (k->kind != TSL_VALUE_STRING)
			return tsl__vm_fail(m, TSL_EFORMAT,
				"tensor metadata key is a "
				"%s, not a str", tsl__vm_kind_name(k));
		if (eq(k->u.s, k->len, "conj"))
			conj = true;
		else if (eq(k->u.s, k->len, "neg"))
			conj = false;
		else
			continue;
		if ((rc = want_bool(m, v, "tensor metadata value", &b)))
			return rc;
		if (conj)
			t->conj = b != 0;
		else
			t->neg = b != 0;
	}
	return TSL_OK;
}

int tsl__vm_push_tensor(struct vm *m, struct tsl_tensor *t)
{
	const tsl_pickle_ctx *ctx = m->ctx;
	tsl_value *v;

	if (ctx->tensor_made) {
		int rc;

		tsl__error_clear(m->err);
		rc = ctx->tensor_made(ctx->payload, t, m->err);
		if (rc)
			return tsl__vm_callee_fail(m, rc);
	}
	v = tsl__tensor_value(t);
	return push(m, v);
}

static int rebuild_tensor(struct vm *m, tsl_value *arg, bool v3)
{
	const char *what = v3 ? "_rebuild_tensor_v3" : "_rebuild_tensor_v2";
	struct tsl_tensor *t;
	tsl_value **a = NULL;
	int64_t dt = 0;
	int rg = 0;
	int rc;

	if ((rc = args_of(m, arg, v3 ? 7 : 6, v3 ? 8 : 7, what, &a)) ||
		(rc = strided(m, a, &t)) ||
		(rc = want_bool(m, a[4], "requires_grad", &rg)))
		return rc;
	t->requires_grad = (uint8_t)rg;
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
	int rg = 0;
	int rc;

	if ((rc = args_of(m, arg, 6, 7, "_rebuild_qtensor", &a)) ||
		(rc = strided(m, a, &t)) ||
		(rc = want_bool(m, a[5], "requires_grad", &rg)))
		return rc;
	t->requires_grad = (uint8_t)rg;
	if (!(x = tsl__text_attach(m->ctx->arena, t)))
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
		/* torch.save writes per_channel_affine for float qparams too
		 * (Tensor.__reduce_ex__); torch.load's quantizer is then the
		 * float-qparams one, chosen by floating zero points
		 * (make_per_channel_affine_quantizer), and dequantizes in
		 * float */
		if (scheme == TSL_QSCHEME_PER_CHANNEL_AFFINE &&
			(x->q_zero_points->dtype == TSL_FLOAT32 ||
			x->q_zero_points->dtype == TSL_FLOAT64 ||
			x->q_zero_points->dtype == TSL_FLOAT16 ||
			x->q_zero_points->dtype == TSL_BFLOAT16))
			scheme = TSL_QSCHEME_PER_CHANNEL_AFFINE_FLOAT_QPARAMS;
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
	struct tsl_tensor_ext *x;
	uint32_t n;
	int rc;

	if (!t)
		return tsl__vm_fail_mem(m);
	t->layout = TSL_LAYOUT_SPARSE_COO;
	t->requires_grad = requires_grad;
	if ((rc = int_tuple(m, size, "size")))
		return rc;
	n = size->len;
	if (!(t->geom = geom_from(m, 0, size, NULL)))
		return tsl__vm_fail_mem(m);
	t->ndim = (uint16_t)n;
	if (!(x = tsl__text_attach(m->ctx->arena, t)))
		return tsl__vm_fail_mem(m);
	if ((rc = check_sizes(m, tsl__tshape(t), n)) ||
		(rc = want_tensor(m, indices, "sparse indices",
		&x->sp_indices)) ||
		(rc = want_tensor(m, values, "sparse values",
		&x->sp_values)))
		return rc;
	t->dtype = x->sp_values->dtype;
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

/* An item of an argument tuple handed on as a result: the tuple (which
 * may be memoized) still reaches it, so it is shared from now on and
 * never recycled (tsl__vm_recycle, object_built) as an argument or a
 * consumed state would be. */
static tsl_value *handed_on(tsl_value *v)
{
	v->flags |= TSL__VF_MEMO;
	return v;
}

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
		return push(m, handed_on(a[0]));
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
		return tsl__vm_apply(m, a[0], handed_on(a[2]), false);
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
			return push(m, handed_on(a[0]));
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
		return push(m, handed_on(a[0]));
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
