/*
 * legacy.c - legacy TorchScript archives (PyTorch 1.0-1.2, FORMAT.md §12):
 * model.json + attributes.pkl + tensors/N + code/<module path>.py, read into
 * the same module tree and lazy storages as a G2 archive.
 *
 * model.json is protobuf's JSON mapping of torch.ModelDef.  It is parsed
 * with json-c: a small C library found through `pkg-config json-c`, in
 * Debian main (libjson-c-dev), with a strict mode (JSON_TOKENER_STRICT) and
 * UTF-8 validation, and a parser whose nesting depth we can bound.  No JSON
 * object outlives tsl__legacy_load(): every string kept is copied into the
 * model's arena.  The input is hostile: every field is checked for its JSON
 * type and range, and any violation is TSL_EFORMAT with record "model.json"
 * and a message naming the field.
 *
 * What becomes what:
 *  - tensors[i] (TensorDef) -> a TENSOR value; the whole table is the
 *    model's constants tuple (in G1, CONSTANTS.cN indexes this table).
 *    data.key names the record holding the entire storage; the same record
 *    always yields the same storage (tsl__storages_get with dedupe), and
 *    its element count is the record size / the element size.
 *  - mainModule and its submodules (ModuleDef) -> modules.  Legacy modules
 *    have no class names; as libtorch's legacy importer (import_legacy.cpp)
 *    does, a module's type is "__torch__." followed by its path of ModuleDef
 *    names: "__torch__.foo" for a root named foo (the archive name),
 *    "__torch__.foo.conv1" for its child conv1, and so on.
 *  - Slots in libtorch's order: submodules, then parameters (isBuffer ->
 *    buffer), then attributes (an attribute named like a parameter or buffer
 *    already registered is skipped, as libtorch does).  The module's value
 *    state is a dict of these slots, as data.pkl would give.
 *  - attributes[].id indexes the attributes.pkl list/tuple (-1: None); the
 *    tensor-table references inside it (1.1 __main__.TensorID, 1.2
 *    build_tensor_from_id: INTs flagged TSL__VF_TENSOR_ID) are replaced by
 *    the table's tensors.  The annotation is model.json's `type`, as written.
 *  - getStateAttributeId (1.2) -> the module's __getstate__ state.
 *  - torchscriptArena.key -> the module's methods: the top-level defs of that
 *    code file (tsl__code_functions), an unannotated self typed with the
 *    module's type, sorted by name.
 *  - training: the value of a bool attribute "training" when the file has
 *    one, else -1 (unknown).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json_object.h>
#include <json_tokener.h>
#include <xxhash.h>

#include "model.h"

#define MJ "model.json"

/* A code record's top-level defs, parsed once however many modules name
 * it (a 16 KB archive whose 1,000 modules named one record took 6.6 s and
 * 1.3 GB parsing it again for each). */
struct code_fns {
	const tsl_class_method *fns;
	size_t n;
};

struct lctx {
	struct tsl_model *m;
	tsl_error *err;
	tsl_value **tensors;     /* the tensor table */
	size_t ntensors;
	tsl_value *attrs;        /* attributes.pkl (LIST or TUPLE), or NULL */
	tsl_pmap code;           /* record bytes -> struct code_fns * */
};

static int jerr(struct lctx *c, const char *fmt, ...) TSL_PRINTF(2, 3);

static int jerr(struct lctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tsl__error_va(c->err, TSL_EFORMAT, MJ, TSL_NO_OFFSET, NULL, fmt, ap);
	va_end(ap);
	return TSL_EFORMAT;
}

static int mem_error(struct lctx *c)
{
	return tsl__arena_error(&c->m->arena, c->err, MJ, TSL_NO_OFFSET);
}

/* ---- JSON fields ------------------------------------------------------ */

static const char *jtype(const json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_boolean: return "a bool";
	case json_type_double: return "a float";
	case json_type_int: return "an integer";
	case json_type_object: return "an object";
	case json_type_array: return "an array";
	case json_type_string: return "a string";
	default: return "null";
	}
}

/* A member of object `o`; *out NULL when absent.  A JSON null counts as
 * absent (protobuf's JSON parsers read null as the default). */
static json_object *member(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

/* Protobuf's JSON mapping writes int64 as a decimal string; numbers are
 * accepted too.  Anything else (floats, bools, "1e3", "0x10", " 1") is not
 * an integer.  `what` names the value in messages. */
static int jint_value(struct lctx *c, json_object *v, int64_t *out,
	const char *where, const char *what)
{
	if (json_object_is_type(v, json_type_int)) {
		int64_t i = json_object_get_int64(v);

		/* json-c keeps integers over INT64_MAX as uint64 and clamps */
		if (i == INT64_MAX && json_object_get_uint64(v) != INT64_MAX)
			return jerr(c, "%s: %s is out of the int64 range", where,
				what);
		*out = i;
		return TSL_OK;
	}
	if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);
		int len = json_object_get_string_len(v);
		const char *p = s;
		char *end;
		long long i;

		if (*p == '-')
			p++;
		if (len <= 0 || (size_t)len != strlen(s) || *p < '0' ||
			*p > '9')
			goto bad;
		errno = 0;
		i = strtoll(s, &end, 10);
		if (errno == ERANGE)
			return jerr(c, "%s: %s is out of the int64 range", where,
				what);
		if (*end != '\0')
			goto bad;
		*out = (int64_t)i;
		return TSL_OK;
	}
bad:
	return jerr(c, "%s: %s is %s, not an integer", where, what,
		jtype(v));
}

static int jint(struct lctx *c, json_object *o, const char *key,
	bool required, int64_t dflt, int64_t *out, const char *where)
{
	json_object *v = member(o, key);
	char what[64];

	*out = dflt;
	if (!v) {
		if (required)
			return jerr(c, "%s: missing \"%s\"", where, key);
		return TSL_OK;
	}
	snprintf(what, sizeof what, "\"%s\"", key);
	return jint_value(c, v, out, where, what);
}

/* jint, then a range check. */
static int jint_range(struct lctx *c, json_object *o, const char *key,
	bool required, int64_t dflt, int64_t lo, int64_t hi, int64_t *out,
	const char *where)
{
	int rc = jint(c, o, key, required, dflt, out, where);

	if (rc)
		return rc;
	if (*out < lo || *out > hi)
		return jerr(c, "%s: \"%s\" is %lld, outside %lld..%lld", where,
			key, (long long)*out, (long long)lo, (long long)hi);
	return TSL_OK;
}

static int jbool(struct lctx *c, json_object *o, const char *key, int *out,
	const char *where)
{
	json_object *v = member(o, key);

	*out = 0;
	if (!v)
		return TSL_OK;
	if (!json_object_is_type(v, json_type_boolean))
		return jerr(c, "%s: \"%s\" is %s, not a bool", where, key,
			jtype(v));
	*out = json_object_get_boolean(v) ? 1 : 0;
	return TSL_OK;
}

/* A string member copied into the arena (NULL when absent and not
 * required).  Empty strings and strings holding NUL are refused. */
static int jstr(struct lctx *c, json_object *o, const char *key,
	bool required, const char **out, const char *where)
{
	json_object *v = member(o, key);
	const char *s;
	int len;

	*out = NULL;
	if (!v) {
		if (required)
			return jerr(c, "%s: missing \"%s\"", where, key);
		return TSL_OK;
	}
	if (!json_object_is_type(v, json_type_string))
		return jerr(c, "%s: \"%s\" is %s, not a string", where, key,
			jtype(v));
	s = json_object_get_string(v);
	len = json_object_get_string_len(v);
	if (len <= 0 || (size_t)len != strlen(s))
		return jerr(c, "%s: \"%s\" is empty or holds a NUL character",
			where, key);
	*out = tsl__arena_strndup(&c->m->arena, s, (size_t)len);
	return *out ? TSL_OK : mem_error(c);
}

/* An array member; *n 0 and *out NULL when absent (protobuf leaves empty
 * repeated fields out). */
static int jarray(struct lctx *c, json_object *o, const char *key,
	json_object **out, size_t *n, const char *where)
{
	json_object *v = member(o, key);

	*out = NULL;
	*n = 0;
	if (!v)
		return TSL_OK;
	if (!json_object_is_type(v, json_type_array))
		return jerr(c, "%s: \"%s\" is %s, not an array", where, key,
			jtype(v));
	*n = json_object_array_length(v);
	if (*n > c->m->limits.max_container || *n > UINT32_MAX)
		return tsl__error(c->err, TSL_ELIMIT, MJ, TSL_NO_OFFSET,
			"%s: \"%s\" has %zu items, over max_container (%llu)",
			where, key, *n,
			(unsigned long long)c->m->limits.max_container);
	*out = v;
	return TSL_OK;
}

/* An object member (or array item); NULL when absent and allowed. */
static int jobject(struct lctx *c, json_object *v, const char *what,
	const char *where)
{
	if (!v || !json_object_is_type(v, json_type_object))
		return jerr(c, "%s: %s is %s, not an object", where, what,
			jtype(v));
	return TSL_OK;
}

/* ---- tensors ---------------------------------------------------------- */

/* caffe2 TensorProto.DataType (name or number) -> ScalarType: >= 0, or -1
 * for a caffe2 type that is no tensor element type PyTorch wrote, or -2 for
 * a name or number that is not in the enum at all. */
static int caffe2_dtype(json_object *v, int quantized)
{
	static const struct { const char *name; int num; int dtype; } t[] = {
		{ "UNDEFINED", 0, -1 },
		{ "FLOAT", 1, TSL_FLOAT32 }, { "INT32", 2, TSL_INT32 },
		{ "BYTE", 3, TSL_UINT8 }, { "STRING", 4, -1 },
		{ "BOOL", 5, TSL_BOOL },
		{ "UINT8", 6, TSL_UINT8 }, { "INT8", 7, TSL_INT8 },
		{ "UINT16", 8, TSL_UINT16 }, { "INT16", 9, TSL_INT16 },
		{ "INT64", 10, TSL_INT64 }, { "FLOAT16", 12, TSL_FLOAT16 },
		{ "DOUBLE", 13, TSL_FLOAT64 },
		{ "ZERO_COLLISION_HASH", 14, -1 },
		{ "REBATCHING_BUFFER", 15, -1 },
	};
	int dtype = -2;
	size_t i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		if (json_object_is_type(v, json_type_string) ?
			strcmp(json_object_get_string(v), t[i].name) == 0 :
			json_object_is_type(v, json_type_int) &&
			json_object_get_int64(v) == t[i].num) {
			dtype = t[i].dtype;
			break;
		}
	}
	if (!quantized || dtype < 0)
		return dtype;
	/* a quantized tensor is saved with its underlying int type
	 * (c10::toQIntType on load) */
	switch (dtype) {
	case TSL_UINT8: return TSL_QUINT8;
	case TSL_INT8: return TSL_QINT8;
	case TSL_INT32: return TSL_QINT32;
	default: return -1;
	}
}

static int jdims(struct lctx *c, json_object *td, const char *key,
	int64_t **out, size_t *n, const char *where)
{
	json_object *a;
	size_t i;
	int rc = jarray(c, td, key, &a, n, where);

	if (rc)
		return rc;
	if (*n > c->m->limits.max_rank)
		return tsl__error(c->err, TSL_ELIMIT, MJ, TSL_NO_OFFSET,
			"%s: \"%s\" has %zu entries, over max_rank (%u)", where,
			key, *n, c->m->limits.max_rank);
	*out = tsl__arena_calloc(&c->m->arena, *n ? *n : 1, sizeof **out);
	if (!*out)
		return mem_error(c);
	for (i = 0; i < *n; i++) {
		char what[64];

		snprintf(what, sizeof what, "%s[%zu]", key, i);
		rc = jint_value(c, json_object_array_get_idx(a, i), &(*out)[i],
			where, what);
		if (rc)
			return rc;
		if ((*out)[i] < 0)
			return jerr(c, "%s: %s is negative", where, what);
	}
	return TSL_OK;
}

static int read_tensor(struct lctx *c, json_object *td, size_t idx,
	tsl_value **out)
{
	struct tsl_model *m = c->m;
	struct tsl_tensor *t;
	tsl_value *v;
	json_object *dt, *data;
	const char *key, *device;
	struct tsl_storage *s;
	tsl_error e = { .code = TSL_EFORMAT };
	uint64_t size;
	char where[64];
	int64_t *dims, *strides, *geom, off, zp = 0;
	size_t ndims, nstrides, isz;
	int rc, rg, quant, dtype;
	double scale = 0;

	snprintf(where, sizeof where, "tensors[%zu]", idx);
	if ((rc = jobject(c, td, "the tensor", where)) ||
		(rc = jdims(c, td, "dims", &dims, &ndims, where)) ||
		(rc = jdims(c, td, "strides", &strides, &nstrides, where)) ||
		(rc = jint_range(c, td, "offset", false, 0, 0, INT64_MAX, &off,
			where)) ||
		(rc = jbool(c, td, "requiresGrad", &rg, where)) ||
		(rc = jbool(c, td, "isQuantized", &quant, where)) ||
		(rc = jstr(c, td, "device", false, &device, where)))
		return rc;
	if (ndims != nstrides)
		return jerr(c, "%s: %zu dims but %zu strides", where, ndims,
			nstrides);
	dt = member(td, "dataType");
	if (!dt)
		return jerr(c, "%s: missing \"dataType\"", where);
	if (!json_object_is_type(dt, json_type_string) &&
		!json_object_is_type(dt, json_type_int))
		return jerr(c, "%s: \"dataType\" is %s, not a string", where,
			jtype(dt));
	dtype = caffe2_dtype(dt, quant);
	if (dtype == -2)
		return jerr(c, "%s: \"dataType\" %s is not a caffe2 data type",
			where, json_object_get_string(dt));
	if (dtype < 0)
		return tsl__error(c->err, TSL_EUNSUPPORTED, MJ, TSL_NO_OFFSET,
			"%s: dataType %s is not a%s tensor element type", where,
			json_object_get_string(dt), quant ? " quantized" : "");
	if (quant) {
		json_object *sc = member(td, "scale");

		if (sc && (json_object_is_type(sc, json_type_double) ||
			json_object_is_type(sc, json_type_int)))
			scale = json_object_get_double(sc);
		else if (sc)
			return jerr(c, "%s: \"scale\" is %s, not a number",
				where, jtype(sc));
		if ((rc = jint(c, td, "zeroPoint", false, 0, &zp, where)))
			return rc;
	}
	data = member(td, "data");
	if (!data)
		return jerr(c, "%s: missing \"data\"", where);
	if ((rc = jobject(c, data, "\"data\"", where)) ||
		(rc = jstr(c, data, "key", true, &key, where)))
		return rc;
	if (!device)
		device = "cpu";
	/* the record holds the whole storage */
	if (!tsl__archive_record_size(m->ar, key, strlen(key), &size))
		return jerr(c, "%s: data record '%s' is not in the archive",
			where, key);
	isz = tsl_dtype_size((tsl_dtype)dtype);
	if (size % isz)
		return jerr(c, "%s: record '%s' holds %llu bytes, not a whole "
			"number of %s elements", where, key,
			(unsigned long long)size,
			tsl_dtype_name((tsl_dtype)dtype));
	s = tsl__storages_get(&m->storages, key, strlen(key), true,
		dtype, device, size / isz, MJ, &e);
	if (!s) {
		if (c->err)
			*c->err = e;
		return e.code;
	}
	if (s->dtype != dtype)
		return jerr(c, "%s: record '%s' is used as %s and as %s", where,
			key, tsl_dtype_name((tsl_dtype)s->dtype),
			tsl_dtype_name((tsl_dtype)dtype));
	if (strcmp(s->place->location, device) != 0)
		return jerr(c, "%s: record '%s' is on '%s' and on '%s'", where,
			key, s->place->location, device);
	v = tsl__arena_alloc(&m->arena, sizeof *v);
	geom = tsl__geom_make(&m->arena, off, (uint32_t)ndims, dims, strides);
	if (!v || !geom)
		return mem_error(c);
	v->kind = TSL_VALUE_TENSOR;
	t = &v->u.t;
	t->dtype = dtype;
	t->layout = TSL_LAYOUT_STRIDED;
	t->requires_grad = rg;
	t->qscheme = quant ? TSL_QSCHEME_PER_TENSOR_AFFINE : TSL_QSCHEME_NONE;
	t->ndim = (uint32_t)ndims;
	t->geom = geom;
	t->storage = s;
	if (quant) {
		struct tsl_tensor_ext *x = tsl__text_attach(&m->arena, t);

		if (!x)
			return mem_error(c);
		x->q_scale = scale;
		x->q_zero_point = zp;
	}
	/* t->checked stays 0: model.c's convert() of the constants checks
	 * the view against its storage and sets it */
	*out = v;
	return TSL_OK;
}

static int read_tensors(struct lctx *c, json_object *root)
{
	struct tsl_model *m = c->m;
	json_object *a;
	size_t i, n;
	int rc = jarray(c, root, "tensors", &a, &n, "ModelDef");

	if (rc)
		return rc;
	c->tensors = tsl__arena_calloc(&m->arena, n ? n : 1,
		sizeof *c->tensors);
	m->constants = tsl__arena_alloc(&m->arena, sizeof *m->constants);
	if (!c->tensors || !m->constants)
		return mem_error(c);
	for (i = 0; i < n; i++) {
		rc = read_tensor(c, json_object_array_get_idx(a, i), i,
			&c->tensors[i]);
		if (rc)
			return rc;
	}
	c->ntensors = n;
	m->constants->kind = TSL_VALUE_TUPLE;
	m->constants->len = (uint32_t)n;
	m->constants->depth = n ? 1 : 0;
	m->constants->u.seq.items = c->tensors;
	m->constants->u.seq.cap = (uint32_t)n;
	return TSL_OK;
}

/* ---- attributes.pkl --------------------------------------------------- */

static struct tsl_storage *no_storage(void *payload, int dtype,
	const char *key, const char *location, uint64_t numel, tsl_error *err)
{
	(void)payload; (void)dtype; (void)location; (void)numel;
	tsl__error(err, TSL_EFORMAT, "attributes.pkl", TSL_NO_OFFSET,
		"attributes.pkl names storage '%s': legacy archives refer to "
		"tensors by their index in model.json", key);
	return NULL;
}

/* Replace the tensor-table references in a value tree by the tensors. */
static int resolve_ids(struct lctx *c, tsl_value **slot, uint32_t depth)
{
	tsl_value *v = *slot;
	size_t i, n;
	int rc = TSL_OK;

	if (!v || (v->flags & TSL__VFLAG_DONE))
		return TSL_OK;
	if (v->kind == TSL_VALUE_INT && (v->flags & TSL__VF_TENSOR_ID)) {
		if (v->u.i < 0 || (uint64_t)v->u.i >= c->ntensors)
			return tsl__error(c->err, TSL_EFORMAT, "attributes.pkl",
				TSL_NO_OFFSET, "tensor id %lld is out of range: "
				"model.json has %zu tensors", (long long)v->u.i,
				c->ntensors);
		*slot = c->tensors[v->u.i];
		return TSL_OK;
	}
	if (v->flags & TSL__VFLAG_VISITING)
		return tsl__error(c->err, TSL_EFORMAT, "attributes.pkl",
			TSL_NO_OFFSET, "a %s value contains itself",
			tsl_value_kind_name((tsl_value_kind)v->kind));
	if (depth > c->m->limits.max_depth)
		return tsl__error(c->err, TSL_ELIMIT, "attributes.pkl",
			TSL_NO_OFFSET, "values nest deeper than max_depth (%u)",
			c->m->limits.max_depth);
	v->flags |= TSL__VFLAG_VISITING;
	switch (v->kind) {
	case TSL_VALUE_LIST:
	case TSL_VALUE_TUPLE:
	case TSL_VALUE_DICT:
		n = v->kind == TSL_VALUE_DICT ? 2 * (size_t)v->len : v->len;
		for (i = 0; i < n && !rc; i++)
			rc = resolve_ids(c, &v->u.seq.items[i], depth + 1);
		break;
	case TSL_VALUE_OBJECT:
		/* no class sources are read for legacy archives: the state
		 * is shown as saved (as for a class without source) */
		v->flags |= TSL__VFLAG_GETSTATE;
		rc = resolve_ids(c, &v->u.obj.state, depth + 1);
		break;
	case TSL_VALUE_ENUM:
		rc = resolve_ids(c, &v->u.enm.value, depth + 1);
		break;
	default:
		break;
	}
	v->flags &= (uint16_t)~TSL__VFLAG_VISITING;
	if (v->kind != TSL_VALUE_TENSOR)
		v->flags |= TSL__VFLAG_DONE;
	return rc;
}

static int read_attributes(struct lctx *c)
{
	struct tsl_model *m = c->m;
	tsl_pickle_ctx ctx;
	tsl_record r;
	int rc;

	rc = tsl__archive_record(m->ar, "attributes.pkl", 14, &r, c->err);
	if (rc == TSL_ENOTFOUND)
		return TSL_OK;   /* 1.0 wrote none */
	if (rc)
		return rc;
	memset(&ctx, 0, sizeof ctx);
	ctx.arena = &m->arena;
	ctx.limits = &m->limits;
	ctx.make_storage = no_storage;
	ctx.payload = c;
	ctx.record = r.name;
	ctx.file_offset = r.file_offset;
	rc = tsl__pickle_load(&c->attrs, r.data, r.len, &ctx, c->err);
	if (rc)
		return rc;
	/* protoVersion 2 wrote a list, later ones a tuple */
	if (c->attrs->kind != TSL_VALUE_LIST &&
		c->attrs->kind != TSL_VALUE_TUPLE)
		return tsl__error(c->err, TSL_EFORMAT, "attributes.pkl",
			TSL_NO_OFFSET, "attributes.pkl holds a %s, not a list or "
			"tuple", tsl_value_kind_name((tsl_value_kind)
			c->attrs->kind));
	return resolve_ids(c, &c->attrs, 0);
}

/* ---- modules ---------------------------------------------------------- */

/* Slot names of one module, for duplicate checks (open addressing). */
struct nameset {
	const char **slot;
	size_t mask;
};

static int nameset_init(struct nameset *ns, size_t n)
{
	size_t cap = 16;

	while (cap < 2 * n + 2)
		cap *= 2;
	ns->slot = calloc(cap, sizeof *ns->slot);
	ns->mask = cap - 1;
	return ns->slot ? TSL_OK : TSL_ENOMEM;
}

/* Add a name: 1 if it was there already, 0 if added. */
static int nameset_add(struct nameset *ns, const char *name)
{
	size_t h = (size_t)XXH3_64bits(name, strlen(name)) & ns->mask;

	while (ns->slot[h]) {
		if (strcmp(ns->slot[h], name) == 0)
			return 1;
		h = (h + 1) & ns->mask;
	}
	ns->slot[h] = name;
	return 0;
}

/* The methods of a module: the top-level defs of its code file. */
static int read_methods(struct lctx *c, struct tsl_legacy_module *mod,
	json_object *jm, const char *where)
{
	struct tsl_model *m = c->m;
	json_object *arena = member(jm, "torchscriptArena");
	const char *key;
	tsl_class_method *fns;
	struct code_fns *cf;
	size_t at;
	tsl_record r;
	size_t n;
	int rc;

	mod->methods = NULL;
	mod->nmethods = 0;
	if (!arena)
		return TSL_OK;
	if ((rc = jobject(c, arena, "\"torchscriptArena\"", where)) ||
		(rc = jstr(c, arena, "key", true, &key, where)))
		return rc;
	rc = tsl__archive_record(m->ar, key, strlen(key), &r, c->err);
	if (rc == TSL_ENOTFOUND)
		return jerr(c, "%s: code record '%s' is not in the archive",
			where, key);
	if (rc)
		return rc;
	/* the record's bytes stay put (the mapping, or the archive's cached
	 * decoded copy): they key the parse */
	if (r.data && (at = tsl__pmap_get(&c->code, r.data)) != SIZE_MAX) {
		cf = (struct code_fns *)(uintptr_t)at;
	} else {
		rc = tsl__code_functions(&fns, &n, (const char *)r.data,
			r.len, &m->arena, r.name, r.file_offset, c->err);
		if (rc)
			return rc;
		if (!(cf = tsl__arena_alloc(&m->arena, sizeof *cf)))
			return tsl__arena_error(&m->arena, c->err, MJ,
				TSL_NO_OFFSET);
		cf->fns = fns;
		cf->n = n;
		if (r.data && tsl__pmap_put(&c->code, r.data,
			(size_t)(uintptr_t)cf) < 0)
			return tsl__error(c->err, TSL_ENOMEM, MJ, TSL_NO_OFFSET,
				"out of memory");
	}
	return tsl__method_table(&m->arena, cf->fns, cf->n,
		mod->type, MJ, &mod->methods, &mod->msrc,
		&mod->nmethods, c->err);
}

/* "<prefix>.<name>" in the arena. */
static const char *join(struct lctx *c, const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = tsl__arena_alloc(&c->m->arena, la + lb + 2);

	if (!s)
		return NULL;
	memcpy(s, a, la);
	s[la] = '.';
	memcpy(s + la + 1, b, lb + 1);
	return s;
}

static int add_slot(struct lctx *c, struct tsl_legacy_module *mod,
	tsl_value *dict, const char *name, tsl_attr_kind kind, const char *type,
	tsl_value *value)
{
	tsl_attr *a = &mod->attrs[mod->nattrs];
	tsl_value *k = tsl__arena_alloc(&c->m->arena, sizeof *k);

	if (!k)
		return mem_error(c);
	k->kind = TSL_VALUE_STRING;
	k->len = (uint32_t)strlen(name);
	k->u.s = name;
	a->name = name;
	a->kind = kind;
	a->type = type;
	a->value = value;
	dict->u.seq.items[2 * dict->len] = k;
	dict->u.seq.items[2 * dict->len + 1] = value;
	dict->len++;
	if (value->depth + 1 > dict->depth)
		dict->depth = value->depth + 1;
	mod->nattrs++;
	return TSL_OK;
}

static int read_module(struct lctx *c, json_object *jm, const char *parent,
	const char *path, uint32_t depth, tsl_value **out);

static int module_slots(struct lctx *c, struct tsl_legacy_module *mod,
	tsl_value *dict, json_object *jm, const char *path, uint32_t depth,
	struct nameset *ns)
{
	struct tsl_model *m = c->m;
	json_object *subs, *params, *attrs;
	size_t nsubs, nparams, nattrs, i, total;
	char where[200];
	int rc;

	snprintf(where, sizeof where, "module '%s'", path);
	if ((rc = jarray(c, jm, "submodules", &subs, &nsubs, where)) ||
		(rc = jarray(c, jm, "parameters", &params, &nparams, where)) ||
		(rc = jarray(c, jm, "attributes", &attrs, &nattrs, where)))
		return rc;
	total = nsubs + nparams + nattrs;
	if (total > m->limits.max_container || total > UINT32_MAX)
		return tsl__error(c->err, TSL_ELIMIT, MJ, TSL_NO_OFFSET,
			"%s has %zu slots, over max_container (%llu)", where,
			total, (unsigned long long)m->limits.max_container);
	mod->attrs = tsl__arena_calloc(&m->arena, total ? total : 1,
		sizeof *mod->attrs);
	dict->u.seq.items = tsl__arena_calloc(&m->arena, total ? 2 * total : 1,
		sizeof *dict->u.seq.items);
	if (!mod->attrs || !dict->u.seq.items)
		return mem_error(c);
	dict->u.seq.cap = (uint32_t)(2 * total);
	if (nameset_init(ns, total))
		return tsl__error(c->err, TSL_ENOMEM, MJ, TSL_NO_OFFSET,
			"out of memory");
	for (i = 0; i < nsubs; i++) {
		json_object *js = json_object_array_get_idx(subs, i);
		tsl_value *sv;
		const char *name, *sub_path;

		snprintf(where, sizeof where, "module '%s': submodules[%zu]",
			path, i);
		if ((rc = jobject(c, js, "the submodule", where)) ||
			(rc = jstr(c, js, "name", true, &name, where)))
			return rc;
		if (nameset_add(ns, name))
			return jerr(c, "module '%s' has two slots named '%s'",
				path, name);
		sub_path = join(c, path, name);
		if (!sub_path)
			return mem_error(c);
		rc = read_module(c, js, mod->type, sub_path, depth + 1, &sv);
		if (rc)
			return rc;
		rc = add_slot(c, mod, dict, name, TSL_ATTR_MODULE,
			tsl__vmodule(sv)->legacy->type, sv);
		if (rc)
			return rc;
	}
	for (i = 0; i < nparams; i++) {
		json_object *jp = json_object_array_get_idx(params, i);
		const char *name;
		int64_t id;
		int buf;

		snprintf(where, sizeof where, "module '%s': parameters[%zu]",
			path, i);
		if ((rc = jobject(c, jp, "the parameter", where)) ||
			(rc = jstr(c, jp, "name", true, &name, where)) ||
			(rc = jint(c, jp, "tensorId", true, 0, &id, where)) ||
			(rc = jbool(c, jp, "isBuffer", &buf, where)))
			return rc;
		if (id < 0 || (uint64_t)id >= c->ntensors)
			return jerr(c, "%s: tensorId %lld is out of range (%zu "
				"tensors)", where, (long long)id, c->ntensors);
		if (nameset_add(ns, name))
			return jerr(c, "module '%s' has two slots named '%s'",
				path, name);
		rc = add_slot(c, mod, dict, name, buf ? TSL_ATTR_BUFFER :
			TSL_ATTR_PARAMETER, "Tensor", c->tensors[id]);
		if (rc)
			return rc;
	}
	for (i = 0; i < nattrs; i++) {
		json_object *ja = json_object_array_get_idx(attrs, i);
		const char *name, *type;
		tsl_value *val;
		int64_t id;
		size_t k;
		bool param = false;

		snprintf(where, sizeof where, "module '%s': attributes[%zu]",
			path, i);
		if ((rc = jobject(c, ja, "the attribute", where)) ||
			(rc = jstr(c, ja, "name", true, &name, where)) ||
			(rc = jstr(c, ja, "type", true, &type, where)) ||
			(rc = jint(c, ja, "id", true, 0, &id, where)))
			return rc;
		if (id == -1) {
			val = tsl__arena_alloc(&m->arena, sizeof *val);
			if (!val)
				return mem_error(c);
			val->kind = TSL_VALUE_NONE;
		} else if (!c->attrs) {
			return jerr(c, "%s: id %lld but the archive has no "
				"attributes.pkl", where, (long long)id);
		} else if (id < 0 || (uint64_t)id >= c->attrs->len) {
			return jerr(c, "%s: id %lld is out of range "
				"(attributes.pkl holds %u values)", where,
				(long long)id, c->attrs->len);
		} else {
			val = c->attrs->u.seq.items[id];
		}
		if (nameset_add(ns, name)) {
			/* libtorch skips an attribute already registered as a
			 * parameter or buffer; any other repeat is an error */
			for (k = 0; k < mod->nattrs; k++)
				if (strcmp(mod->attrs[k].name, name) == 0 &&
					(mod->attrs[k].kind == TSL_ATTR_PARAMETER ||
					mod->attrs[k].kind == TSL_ATTR_BUFFER))
					param = true;
			if (param)
				continue;
			return jerr(c, "module '%s' has two slots named '%s'",
				path, name);
		}
		rc = add_slot(c, mod, dict, name, TSL_ATTR_ATTRIBUTE, type, val);
		if (rc)
			return rc;
		if (strcmp(name, "training") == 0 && val->kind == TSL_VALUE_BOOL)
			mod->training = val->u.b ? 1 : 0;
	}
	return TSL_OK;
}

static int read_module(struct lctx *c, json_object *jm, const char *parent,
	const char *path, uint32_t depth, tsl_value **out)
{
	struct tsl_model *m = c->m;
	struct tsl_legacy_module *mod;
	struct nameset ns = { NULL, 0 };
	tsl_value *v, *dict;
	const char *name;
	char where[160];
	int64_t gs;
	int rc;

	snprintf(where, sizeof where, "module '%s'", path);
	if (depth > m->limits.max_depth)
		return tsl__error(c->err, TSL_ELIMIT, MJ, TSL_NO_OFFSET,
			"modules nest deeper than max_depth (%u)",
			m->limits.max_depth);
	if ((rc = jobject(c, jm, "the module", where)) ||
		(rc = jstr(c, jm, "name", true, &name, where)))
		return rc;
	mod = tsl__arena_alloc(&m->arena, sizeof *mod);
	v = tsl__arena_alloc(&m->arena, sizeof *v);
	dict = tsl__arena_alloc(&m->arena, sizeof *dict);
	if (!mod || !v || !dict)
		return mem_error(c);
	mod->type = join(c, parent, name);
	if (!mod->type)
		return mem_error(c);
	mod->training = -1;
	dict->kind = TSL_VALUE_DICT;
	dict->flags = TSL__VFLAG_DONE;
	v->kind = TSL_VALUE_MODULE;
	v->flags = TSL__VFLAG_DONE;
	v->u.mod.slot = NULL;   /* a legacy module: its own attributes */
	v->u.mod.state = dict;
	v->u.mod.legacy = mod;
	rc = module_slots(c, mod, dict, jm, path, depth, &ns);
	free(ns.slot);
	if (rc)
		return rc;
	v->depth = dict->depth + 1;
	if ((rc = jint(c, jm, "getStateAttributeId", false, -1, &gs, where)))
		return rc;
	if (gs != -1) {
		if (!c->attrs || gs < 0 || (uint64_t)gs >= c->attrs->len)
			return jerr(c, "%s: getStateAttributeId %lld is out of "
				"range (attributes.pkl holds %u values)", where,
				(long long)gs, c->attrs ? c->attrs->len : 0);
		mod->state = c->attrs->u.seq.items[gs];
	}
	rc = read_methods(c, mod, jm, where);
	if (rc)
		return rc;
	*out = v;
	return TSL_OK;
}

/* ---- model.json ------------------------------------------------------- */

static int parse_json(struct lctx *c, const char *text, size_t len,
	json_object **out)
{
	uint64_t depth = 2 * (uint64_t)c->m->limits.max_depth + 16;
	json_tokener *tok;
	json_object *root = NULL;
	enum json_tokener_error je = json_tokener_success;
	size_t done = 0, end;

	*out = NULL;
	/* a module nests two JSON levels below its parent; json-c allocates
	 * its parse stack for the whole depth up front, so bound it */
	tok = json_tokener_new_ex(depth > 65536 ? 65536 : (int)depth);
	if (!tok)
		return tsl__error(c->err, TSL_ENOMEM, MJ, TSL_NO_OFFSET,
			"out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
		JSON_TOKENER_VALIDATE_UTF8);
	/* json_tokener_parse_ex takes an int length: feed big inputs in
	 * pieces */
	do {
		size_t piece = len - done > (1u << 30) ? (1u << 30) :
			len - done;

		root = json_tokener_parse_ex(tok, text + done, (int)piece);
		je = json_tokener_get_error(tok);
		end = done + json_tokener_get_parse_end(tok);
		done += piece;
	} while (!root && je == json_tokener_continue && done < len);
	json_tokener_free(tok);
	if (!root) {
		if (je == json_tokener_success)
			return jerr(c, "the document is null, not an object");
		if (je == json_tokener_continue)
			return jerr(c, "truncated JSON (%zu bytes)", len);
		if (je == json_tokener_error_depth)
			return tsl__error(c->err, TSL_ELIMIT, MJ, TSL_NO_OFFSET,
				"JSON nests deeper than max_depth allows (%llu)",
				(unsigned long long)depth);
		return jerr(c, "invalid JSON near byte %zu: %s", end,
			json_tokener_error_desc(je));
	}
	while (end < len && (text[end] == ' ' || text[end] == '\n' ||
		text[end] == '\r' || text[end] == '\t'))
		end++;
	if (end != len) {
		json_object_put(root);
		return jerr(c, "trailing bytes after the JSON value at byte %zu",
			end);
	}
	*out = root;
	return TSL_OK;
}

int tsl__legacy_load(struct tsl_model *m, const tsl_options *opts,
	tsl_error *err)
{
	struct lctx c = { m, err, NULL, 0, NULL, { 0 } };
	json_object *root = NULL, *main_mod;
	const char *name;
	tsl_record r;
	int64_t pv;
	tsl_value *rv;
	int rc;

	(void)opts;   /* limits and map_location are in m already */
	rc = tsl__archive_record(m->ar, MJ, strlen(MJ), &r, err);
	if (rc == TSL_ENOTFOUND)
		return tsl__error(err, TSL_EFORMAT, MJ, TSL_NO_OFFSET,
			"the archive has no model.json");
	if (rc)
		return rc;
	rc = parse_json(&c, (const char *)r.data, r.len, &root);
	if (rc)
		return rc;
	if ((rc = jobject(&c, root, "the document", "ModelDef")))
		goto out;
	if ((rc = jint(&c, root, "protoVersion", false, 1, &pv, "ModelDef")))
		goto out;
	if (pv < 1 || pv > 5) {
		rc = tsl__error(err, TSL_EVERSION, MJ, TSL_NO_OFFSET,
			"ModelDef protoVersion %lld is outside 1..5 (PyTorch "
			"1.0-1.2)", (long long)pv);
		goto out;
	}
	main_mod = member(root, "mainModule");
	if (!main_mod) {
		rc = jerr(&c, "ModelDef: missing \"mainModule\"");
		goto out;
	}
	/* the root's path is its name */
	if ((rc = jobject(&c, main_mod, "\"mainModule\"", "ModelDef")) ||
		(rc = jstr(&c, main_mod, "name", true, &name, "mainModule")) ||
		(rc = read_tensors(&c, root)) || (rc = read_attributes(&c)) ||
		(rc = read_module(&c, main_mod, "__torch__", name, 0, &rv)))
		goto out;
	m->root_value = rv;
	m->root = tsl__vmodule(rv);
out:
	tsl__pmap_free(&c.code);
	json_object_put(root);
	return rc;
}
