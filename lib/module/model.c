/*
 * model.c - tsl_model_load: one loader per archive kind (TorchScript,
 * legacy, checkpoint), the conversion of the values into the module tree
 * (classes from class_cache.c), and restore_shapes.  Touches no tensor
 * bytes: storages are made by lib/storage as lazy views of records.
 */
#include "config.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "../backend/backend.h"

/* ---- storages --------------------------------------------------------- */

struct persid_ctx {
	struct tsl_model *m;
	const char *dir;          /* "data/", "constants/" */
	const char *pickle;       /* for messages */
	bool dedupe;              /* share storages by record name */
	size_t dir_len;
	/* object_built: the type strings of the classes seen so far (the
	 * pickle shares one string per class); malloc'd, freed after the
	 * pickle */
	tsl_pmap seen;
};

/* Whether an object of type `type` was built before in this pickle;
 * records it.  Out of memory: false (the object is then left to
 * convert(), which is always right). */
static bool seen_before(struct persid_ctx *c, const char *type)
{
	return tsl__pmap_put(&c->seen, type, 0) == 1;
}

static struct tsl_storage *make_storage(void *payload, int dtype,
	const char *key, const char *location, uint64_t numel, tsl_error *err)
{
	struct persid_ctx *c = payload;
	struct tsl_model *m = c->m;
	size_t dl = c->dir_len, kl = strlen(key),
		isz = tsl_dtype_size((tsl_dtype)dtype);
	uint64_t need;
	char buf[256], *rel = buf;
	struct tsl_storage *s;

	if (isz == 0) {
		tsl__error(err, TSL_EUNSUPPORTED, c->pickle, TSL_NO_OFFSET,
			"storage '%s' has unsupported dtype %d", key, dtype);
		return NULL;
	}
	if (tsl__mul_u64(numel, isz, &need)) {
		tsl__error(err, TSL_EFORMAT, c->pickle, TSL_NO_OFFSET,
			"storage '%s': %llu elements overflow the byte count", key,
			(unsigned long long)numel);
		return NULL;
	}
	/* the record name: dir + key, on the stack when short (the storage
	 * table does not keep it) */
	if (dl + kl + 1 > sizeof buf && !(rel = malloc(dl + kl + 1))) {
		tsl__error(err, TSL_ENOMEM, c->pickle, TSL_NO_OFFSET,
			"out of memory");
		return NULL;
	}
	memcpy(rel, c->dir, dl);
	memcpy(rel + dl, key, kl + 1);
	s = tsl__storages_get(&m->storages, rel, dl + kl, c->dedupe, dtype,
		location, numel, c->pickle, err);
	if (rel != buf)
		free(rel);
	return s;
}

/* ---- the tree --------------------------------------------------------- */

static int convert(struct tsl_model *m, tsl_value *v, uint32_t depth,
	tsl_error *err);

static tsl_value *dict_get(tsl_value *d, const char *name, size_t hint)
{
	size_t i;

	if (!d || d->kind != TSL_VALUE_DICT)
		return NULL;
	/* the state lists attributes in slot order: try the slot first */
	if (hint < d->len) {
		tsl_value *k = d->u.seq.items[2 * hint];

		if (k->kind == TSL_VALUE_STRING && strcmp(k->u.s, name) == 0)
			return d->u.seq.items[2 * hint + 1];
	}
	for (i = 0; i < d->len; i++) {
		tsl_value *k = d->u.seq.items[2 * i];

		if (k->kind == TSL_VALUE_STRING && strcmp(k->u.s, name) == 0)
			return d->u.seq.items[2 * i + 1];
	}
	return NULL;
}

/* What the modules of a class share, set up when its first module is
 * built: the attribute table (the header as parsed now: a later full
 * parse replaces slot->info, not this) and where "training" is. */
static void module_class(struct tsl_model *m, struct cls_slot *slot)
{
	const tsl_class_info *ci = slot->info;
	size_t i;

	slot->cls = ci;
	slot->model = m;
	slot->has_state = ci->has_getstate && ci->has_setstate;
	slot->training = SIZE_MAX;
	for (i = 0; i < ci->nattrs; i++)
		if (strcmp(ci->attrs[i].name, "training") == 0) {
			slot->training = i;
			break;
		}
}

/* Whether the state dict lists the class's attributes first, in slot
 * order (then the values are read from it in place).  The pickle shares
 * key strings, so a key is mostly the pointer seen there before. */
static bool in_slot_order(struct cls_slot *slot, const tsl_value *state)
{
	const tsl_class_info *ci = slot->cls;
	size_t i;

	if (ci->nattrs > state->len)
		return false;
	for (i = 0; i < ci->nattrs; i++) {
		const tsl_value *k = state->u.seq.items[2 * i];

		if (k->kind != TSL_VALUE_STRING)
			return false;
		if (slot->keys && k->u.s == slot->keys[i])
			continue;
		if (strcmp(k->u.s, ci->attrs[i].name) != 0)
			return false;
		if (slot->keys)
			slot->keys[i] = k->u.s;
	}
	return true;
}

/* Make v (an OBJECT of module class slot) a module.  Its values are read
 * from the state dict in place when it is in slot order, else gathered by
 * name into mod->vals.  With `own` (object_built), a dict in slot order is
 * copied into mod->vals too and *own set, so that the caller can recycle
 * the dict. */
static int build_module(struct tsl_model *m, tsl_value *v,
	struct cls_slot *slot, uint32_t depth, bool *own, tsl_error *err)
{
	const tsl_class_info *ci;
	struct tsl_module *mod;
	tsl_value *state = v->u.obj.state;
	size_t i;
	int rc;

	if (!slot->cls) {
		module_class(m, slot);
	} else if (!slot->keys) {
		/* a second module of the class: from now on the slot-order
		 * check compares key pointers (most classes have one module;
		 * a ModuleList has 10,000 attributes) */
		slot->keys = tsl__arena_calloc(&m->arena, slot->cls->nattrs ?
			slot->cls->nattrs : 1, sizeof *slot->keys);
		if (!slot->keys)
			return tsl__arena_error(&m->arena, err, NULL,
				TSL_NO_OFFSET);
	}
	ci = slot->cls;
	/* the module is the value's payload: its type is its class's name
	 * (the same string), its state stays where it was */
	v->kind = TSL_VALUE_MODULE;
	mod = tsl__vmodule(v);
	mod->slot = slot;   /* methods: tsl__module_methods, on first use */
	mod->vals = NULL;
	if (!slot->has_state && (!state || state->kind != TSL_VALUE_DICT))
		return tsl__error(err, TSL_EFORMAT, "data.pkl", TSL_NO_OFFSET,
			"module of class %s has no attribute dictionary as its "
			"state", slot->qname);
	if (state) {
		rc = convert(m, state, depth + 1, err);
		if (rc)
			return rc;
	}
	/* Names, types and kinds come from the class (shared); the values
	 * from the pickled state, in place when it is in slot order, else
	 * gathered by name. */
	if (slot->has_state)
		return TSL_OK;
	if (in_slot_order(slot, state)) {
		if (!own)
			return TSL_OK;
		mod->vals = tsl__arena_calloc(&m->arena, ci->nattrs ?
			ci->nattrs : 1, sizeof *mod->vals);
		if (!mod->vals)
			return tsl__arena_error(&m->arena, err, NULL,
				TSL_NO_OFFSET);
		for (i = 0; i < ci->nattrs; i++)
			mod->vals[i] = state->u.seq.items[2 * i + 1];
		mod->state = NULL;   /* the machine recycles the dict */
		*own = true;
		return TSL_OK;
	}
	mod->vals = tsl__arena_calloc(&m->arena, ci->nattrs ? ci->nattrs : 1,
		sizeof *mod->vals);
	if (!mod->vals)
		return tsl__arena_error(&m->arena, err, NULL, TSL_NO_OFFSET);
	for (i = 0; i < ci->nattrs; i++) {
		mod->vals[i] = dict_get(state, ci->attrs[i].name, i);
		if (!mod->vals[i])
			return tsl__error(err, TSL_EFORMAT, "data.pkl",
				TSL_NO_OFFSET, "module of class %s lacks "
				"attribute '%s' that its class declares",
				slot->qname, ci->attrs[i].name);
	}
	return TSL_OK;
}

static int check_tensor(struct tsl_model *m, struct tsl_tensor *t,
	tsl_error *err);

/* Check a tensor not checked before against its storage.  The tensor is
 * written first, not read: on a fresh arena page a read would map the zero
 * page and the write then fault a second time. */
static int check_new_tensor(struct tsl_model *m, struct tsl_tensor *t,
	tsl_error *err)
{
	struct tsl_storage *s = t->storage;
	uint64_t extent = 0, bytes, isz, nbytes;
	unsigned sub;
	uint32_t d;

	t->checked = 1;
	if (t->has_ext) {
		const struct tsl_tensor_ext *x = tsl__text(t);

		if ((x->q_scales && check_tensor(m, x->q_scales, err)) ||
			(x->q_zero_points &&
			 check_tensor(m, x->q_zero_points, err)) ||
			(x->sp_indices && check_tensor(m, x->sp_indices, err)) ||
			(x->sp_values && check_tensor(m, x->sp_values, err)))
			return err ? err->code : TSL_EFORMAT;
	}
	if (!s || (nbytes = tsl__storage_nbytes(s)) == 0)
		return TSL_OK;   /* sparse, or a storage without data */
	isz = tsl_dtype_size((tsl_dtype)t->dtype);
	for (d = 0; d < t->ndim; d++) {
		uint64_t span;

		if (tsl__tshape(t)[d] == 0)
			return TSL_OK;   /* empty: reaches nothing */
		if (tsl__tshape(t)[d] < 0 || tsl__tstride(t)[d] < 0)
			return tsl__error(err, TSL_EFORMAT, TSL_STORAGE_ENAME(s),
				TSL_NO_OFFSET, "tensor has a negative size or "
				"stride");
		if (tsl__mul_u64((uint64_t)(tsl__tshape(t)[d] - 1),
			(uint64_t)tsl__tstride(t)[d], &span) ||
			tsl__add_u64(extent, span, &extent))
			goto overflow;
	}
	if (tsl__toffset(t) < 0 ||
		tsl__add_u64(extent, (uint64_t)tsl__toffset(t), &extent) ||
		tsl__add_u64(extent, 1, &extent) ||
		tsl__mul_u64(extent, isz, &bytes))
		goto overflow;
	if ((sub = tsl__dtype_sub_byte_bits(t->dtype)) != 0)
		/* quint4x2 / quint2x4: elements packed 8 / sub to a byte
		 * (torch's storage for them holds at least that) */
		bytes = extent / (8 / sub) + (extent % (8 / sub) != 0);
	if (bytes > nbytes)
		return tsl__error(err, TSL_EFORMAT, TSL_STORAGE_ENAME(s),
			TSL_NO_OFFSET, "tensor view reaches %llu bytes but its storage record "
			"holds %llu", (unsigned long long)bytes,
			(unsigned long long)nbytes);
	return TSL_OK;
overflow:
	return tsl__error(err, TSL_EFORMAT, TSL_STORAGE_ENAME(s),
		TSL_NO_OFFSET, "tensor shape and strides overflow 64-bit arithmetic");
}

static int check_tensor(struct tsl_model *m, struct tsl_tensor *t,
	tsl_error *err)
{
	if (t->checked)
		return TSL_OK;   /* checked when the pickle machine made it */
	return check_new_tensor(m, t, err);
}

/* An enum class's members by value: the members whose text is an int,
 * those whose text is a float (ints too: strtod reads them; NaN, equal to
 * nothing, left out) and those that are a quoted string, each sorted by
 * value and then by member order, so that a value finds the first member
 * that has it by binary search (a scan per value was values x members:
 * 16,000 of each took 47 s). */
struct enum_key {
	int64_t i;
	double f;
	const char *s;
	size_t n;
	size_t member;
};

struct enum_index {
	struct enum_key *ints, *floats, *strs;
	size_t nints, nfloats, nstrs;
};

static int key_cmp_int(const void *a, const void *b)
{
	const struct enum_key *x = a, *y = b;

	if (x->i != y->i)
		return x->i < y->i ? -1 : 1;
	return (x->member > y->member) - (x->member < y->member);
}

static int key_cmp_float(const void *a, const void *b)
{
	const struct enum_key *x = a, *y = b;

	if (x->f != y->f)
		return x->f < y->f ? -1 : 1;
	return (x->member > y->member) - (x->member < y->member);
}

static int key_cmp_str(const void *a, const void *b)
{
	const struct enum_key *x = a, *y = b;
	size_t n = x->n < y->n ? x->n : y->n;
	int c = memcmp(x->s, y->s, n);

	if (c || x->n != y->n)
		return c ? c : x->n < y->n ? -1 : 1;
	return (x->member > y->member) - (x->member < y->member);
}

static struct enum_index *enum_index_make(struct tsl_model *m,
	const tsl_class_info *ci)
{
	size_t n = ci->nenum_members;
	struct enum_index *x = tsl__arena_alloc(&m->arena, sizeof *x);
	struct enum_key *k;

	if (!x || n > SIZE_MAX / (3 * sizeof *k) ||
		!(k = tsl__arena_alloc(&m->arena, 3 * n * sizeof *k)))
		return NULL;
	x->ints = k;
	x->floats = k + n;
	x->strs = k + 2 * n;
	for (size_t i = 0; i < n; i++) {
		const char *t = ci->enum_members[i].value_text;
		size_t tl = strlen(t);
		char *end;
		long long iv = strtoll(t, &end, 10);
		double fv;

		if (*end == '\0' && end != t)
			x->ints[x->nints++] = (struct enum_key){ .i = iv,
				.member = i };
		fv = strtod(t, &end);
		if (*end == '\0' && end != t && fv == fv)
			x->floats[x->nfloats++] = (struct enum_key){ .f = fv,
				.member = i };
		if (tl >= 2 && (t[0] == '"' || t[0] == '\''))
			x->strs[x->nstrs++] = (struct enum_key){ .s = t + 1,
				.n = tl - 2, .member = i };
	}
	qsort(x->ints, x->nints, sizeof *k, key_cmp_int);
	qsort(x->floats, x->nfloats, sizeof *k, key_cmp_float);
	qsort(x->strs, x->nstrs, sizeof *k, key_cmp_str);
	return x;
}

/* The first of keys[0..n) not below key (member 0: the lowest order). */
static size_t enum_find(const struct enum_key *keys, size_t n,
	const struct enum_key *key, int (*cmp)(const void *, const void *))
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cmp(&keys[mid], key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int enum_name(struct tsl_model *m, tsl_value *v, tsl_error *err)
{
	const tsl_class_info *ci;
	const tsl_value *x = v->u.enm.value;
	struct cls_slot *slot;
	struct enum_index *e;
	struct enum_key key = { .member = 0 };
	const struct enum_key *keys = NULL;
	size_t n = 0, at;
	int (*cmp)(const void *, const void *) = NULL;
	int rc = tsl__class_get(m, v->u.enm.type, &slot, err);

	if (rc)
		return rc;
	ci = slot->info;
	if (!ci || !x || !ci->nenum_members)
		return TSL_OK;
	if (!(e = slot->eindex) &&
		!(e = slot->eindex = enum_index_make(m, ci)))
		return tsl__arena_error(&m->arena, err, NULL, TSL_NO_OFFSET);
	if (x->kind == TSL_VALUE_INT) {
		key.i = x->u.i;
		keys = e->ints, n = e->nints, cmp = key_cmp_int;
	} else if (x->kind == TSL_VALUE_FLOAT && x->u.f == x->u.f) {
		key.f = x->u.f;
		keys = e->floats, n = e->nfloats, cmp = key_cmp_float;
	} else if (x->kind == TSL_VALUE_STRING) {
		key.s = x->u.s;
		key.n = x->len;
		keys = e->strs, n = e->nstrs, cmp = key_cmp_str;
	}
	if (!cmp)
		return TSL_OK;
	at = enum_find(keys, n, &key, cmp);
	if (at < n) {
		struct enum_key probe = keys[at];

		probe.member = 0;
		if (cmp(&probe, &key) == 0)
			v->u.enm.name = ci->enum_members[keys[at].member].name;
	}
	return TSL_OK;
}

/* Whether convert() has anything to do: scalars hold nothing to convert,
 * and shared values are visited once. */
static inline bool to_convert(const tsl_value *v)
{
	return v && v->kind >= TSL_VALUE_LIST && v->kind != TSL_VALUE_DEVICE &&
		!(v->flags & TSL__VFLAG_DONE);
}

/* Walk a value: objects whose class is a Module become modules, tensors are
 * checked against their storages, enums get their member names.  Shared
 * values are visited once; a value that contains itself is an error. */
static int convert(struct tsl_model *m, tsl_value *v, uint32_t depth,
	tsl_error *err)
{
	const tsl_class_info *ci;
	struct cls_slot *slot;
	size_t i, n;
	int rc = TSL_OK;

	if (!to_convert(v))
		return TSL_OK;
	if (v->flags & TSL__VFLAG_VISITING)
		return tsl__error(err, TSL_EFORMAT, "data.pkl", TSL_NO_OFFSET,
			"a %s value contains itself (recursive structure)",
			tsl_value_kind_name((tsl_value_kind)v->kind));
	if (depth > m->limits.max_depth)
		return tsl__error(err, TSL_ELIMIT, "data.pkl", TSL_NO_OFFSET,
			"values nest deeper than max_depth (%u)",
			m->limits.max_depth);
	v->flags |= TSL__VFLAG_VISITING;
	switch (v->kind) {
	case TSL_VALUE_LIST:
	case TSL_VALUE_TUPLE:
	case TSL_VALUE_DICT:
		/* the pickle machine proved it holds no object: its tensors
		 * were checked as they were made, nothing else to do */
		if ((v->flags & (TSL__VF_VM | TSL__VF_HAS_OBJ)) == TSL__VF_VM)
			break;
		n = v->kind == TSL_VALUE_DICT ? 2 * (size_t)v->len : v->len;
		for (i = 0; i < n && !rc; i++)   /* no call for the keys */
			if (to_convert(v->u.seq.items[i]))
				rc = convert(m, v->u.seq.items[i], depth + 1,
					err);
		break;
	case TSL_VALUE_OBJECT:
		rc = tsl__class_get(m, v->u.obj.type, &slot, err);
		if (rc)
			break;
		ci = slot->info;
		if (ci && ci->kind == TSL_CLASS_MODULE) {
			rc = build_module(m, v, slot, depth, NULL, err);
			break;
		}
		if (!ci || ci->has_getstate || !v->u.obj.state ||
			v->u.obj.state->kind != TSL_VALUE_DICT)
			v->flags |= TSL__VFLAG_GETSTATE;
		rc = convert(m, v->u.obj.state, depth + 1, err);
		break;
	case TSL_VALUE_ENUM:
		rc = enum_name(m, v, err);
		if (!rc)
			rc = convert(m, v->u.enm.value, depth + 1, err);
		break;
	case TSL_VALUE_TENSOR:
		if (tsl__vtensor(v))
			rc = check_tensor(m, tsl__vtensor(v), err);
		break;
	default:
		break;
	}
	v->flags &= (uint16_t)~TSL__VFLAG_VISITING;
	v->flags |= TSL__VFLAG_DONE;
	return rc;
}

/* ---- loading ---------------------------------------------------------- */

/*
 * The pickle machine has just built an object (BUILD) whose state dict
 * nothing else reaches (tsl_pickle_ctx.object_built).  A module whose dict
 * holds exactly its class's attributes is made now, with its values in its
 * own slots (mod->vals) and, when the dict lists them in slot order (as
 * torch writes it), the dict is handed back for the machine to reuse: a
 * ModuleList of 10,000 Linear keeps 10,000 slot arrays instead of 10,000
 * dicts with their item arrays.  The public API reads such a module's
 * attributes from its slots, in the same order (value_api.c).  Other
 * objects, __getstate__ modules and a dict with more or fewer keys than
 * attributes (the error, or the extra keys, stay as they were) are left
 * to convert().
 * Its children were made before it: values are built bottom up.
 */
static int object_built(void *payload, tsl_value *v, bool *consumed,
	tsl_error *err)
{
	struct persid_ctx *pc = payload;
	struct tsl_model *m = pc->m;
	const tsl_class_info *ci;
	struct cls_slot *slot;
	int rc;

	/* an object not made yet inside (one this function left): convert()
	 * makes the whole subtree after the pickle, when the machine's
	 * memory is free again */
	if (v->u.obj.state->flags & TSL__VF_HAS_OBJ)
		return TSL_OK;
	/* the first object of a class too: its header is parsed after the
	 * pickle, when the machine's memory is free (a traced model has a
	 * class per module: streaming them cost resnet50_trace 28 KiB and
	 * 8 faults more) */
	if (!seen_before(pc, v->u.obj.type))
		return TSL_OK;
	if ((rc = tsl__class_get(m, v->u.obj.type, &slot, err)))
		return rc;
	ci = slot->info;
	if (!ci || ci->kind != TSL_CLASS_MODULE ||
		(ci->has_getstate && ci->has_setstate) ||
		v->u.obj.state->len != ci->nattrs)
		return TSL_OK;
	v->flags |= TSL__VFLAG_VISITING;
	rc = build_module(m, v, slot, 0, consumed, err);
	v->flags &= (uint16_t)~TSL__VFLAG_VISITING;
	v->flags |= TSL__VFLAG_DONE;
	return rc;
}

/* A tensor the pickle machine has just made (so not checked yet). */
static int tensor_made(void *payload, struct tsl_tensor *t, tsl_error *err)
{
	return check_new_tensor(((struct persid_ctx *)payload)->m, t, err);
}

static int run_pickle(struct tsl_model *m, const char *name, const char *dir,
	tsl_value **out, unsigned flags, tsl_error *err)
{
	struct persid_ctx pc = { m, dir, name, (flags & TSL_PICKLE_PYTHON) != 0,
		strlen(dir), { 0 } };
	tsl_pickle_ctx ctx;
	tsl_record r;
	int rc;

	rc = tsl__archive_record(m->ar, name, strlen(name), &r, err);
	if (rc == TSL_ENOTFOUND)
		return tsl__error(err, TSL_EFORMAT, name, TSL_NO_OFFSET,
			"PytorchStreamReader failed locating file %s: file not "
			"found", name);
	if (rc)
		return rc;
	pc.pickle = r.name;   /* errors name the pickle by its full name */
	memset(&ctx, 0, sizeof ctx);
	ctx.flags = flags;
	ctx.arena = &m->arena;
	ctx.limits = &m->limits;
	ctx.make_storage = make_storage;
	ctx.tensor_made = tensor_made;
	ctx.object_built = object_built;
	ctx.payload = &pc;
	ctx.record = r.name;
	ctx.file_offset = r.file_offset;
	rc = tsl__pickle_load(out, r.data, r.len, &ctx, err);
	tsl__pmap_free(&pc.seen);
	return rc;
}


/* "float32[1, 3, 224, 224]" for a tensor value; NULL for anything else. */
static const char *shape_text(struct tsl_model *m, const tsl_value *v)
{
	const struct tsl_tensor *t;
	char buf[1024];
	size_t o;

	if (!v || v->kind != TSL_VALUE_TENSOR || !tsl__vtensor(v))
		return NULL;
	t = tsl__vtensor(v);
	o = (size_t)snprintf(buf, sizeof buf, "%s[",
		tsl_dtype_name((tsl_dtype)t->dtype));
	for (uint32_t d = 0; d < t->ndim && o < sizeof buf; d++)
		o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%lld",
			d ? ", " : "", (long long)tsl__tshape(t)[d]);
	if (o >= sizeof buf - 2)
		return NULL;
	buf[o++] = ']';
	buf[o] = '\0';
	return tsl__arena_strndup(&m->arena, buf, o);
}

/* _restore_shapes: the stored example inputs of each root method become
 * the arg_shapes of its signature (self, when the method has one more
 * argument than inputs, gets none). */
static int restore_shapes(struct tsl_model *m, tsl_error *err)
{
	const tsl_value *d = m->traced_inputs;
	struct tsl_module *root = m->root;
	size_t i, k;
	int rc = tsl__module_methods(root, err);

	if (rc)
		return rc;

	if (d->kind != TSL_VALUE_DICT)
		return tsl__error(err, TSL_EFORMAT, "traced_inputs.pkl",
			TSL_NO_OFFSET, "traced_inputs.pkl holds a %s, not a dict",
			tsl_value_kind_name((tsl_value_kind)d->kind));
	for (i = 0; i < d->len; i++) {
		const tsl_value *key = d->u.seq.items[2 * i];
		const tsl_value *in = d->u.seq.items[2 * i + 1];
		const char **shapes;
		tsl_method *me = NULL;
		size_t skip;

		if (key->kind != TSL_VALUE_STRING ||
			(in->kind != TSL_VALUE_LIST && in->kind != TSL_VALUE_TUPLE))
			continue;
		tsl_method *ms;
		const tsl_class_method **src;
		size_t nm;

		tsl__module_method_table(root, &ms, &src, &nm);
		for (k = 0; k < nm; k++)
			if (strcmp(ms[k].name, key->u.s) == 0)
				me = &ms[k];
		if (!me || me->nargs < in->len)
			continue;
		skip = me->nargs - in->len;
		shapes = tsl__arena_calloc(&m->arena, me->nargs,
			sizeof *shapes);
		if (!shapes)
			return tsl__arena_error(&m->arena, err, NULL,
				TSL_NO_OFFSET);
		for (k = 0; k < in->len; k++)
			shapes[skip + k] = shape_text(m, in->u.seq.items[k]);
		me->arg_shapes = shapes;
	}
	return TSL_OK;
}

void tsl__model_ref(struct tsl_model *m)
{
	atomic_fetch_add(&m->refs, 1);
}

TSL_API void tsl_model_free(tsl_model *m)
{
	tsl__model_unref(m);
}

void tsl__model_unref(struct tsl_model *m)
{
	if (!m || atomic_fetch_sub(&m->refs, 1) != 1)
		return;
	tsl__storages_free(&m->storages);
	free(m->cls_table);
	tsl__code_files_free(m);
	tsl__tensor_index_free(m->tindex);
	tsl__arena_free(&m->arena);
	tsl__archive_unref(m->ar);
	free(m);
}


/* A torch.save checkpoint: data.pkl in Python's pickle dialect (still a
 * closed allow-list), tensors as lazy views of data/ records. */
static int load_checkpoint(struct tsl_model *m, const tsl_options *opts,
	tsl_error *err)
{
	int rc;

	rc = run_pickle(m, "data.pkl", "data/", &m->root_value,
		TSL_PICKLE_PYTHON, err);
	if (rc)
		return rc;
	m->constants = tsl__arena_alloc(&m->arena, sizeof *m->constants);
	if (!m->constants)
		return tsl__arena_error(&m->arena, err, NULL, TSL_NO_OFFSET);
	m->constants->kind = TSL_VALUE_TUPLE;
	rc = convert(m, m->root_value, 0, err);
	if (rc)
		return rc;
	return TSL_OK;
}

/* A TorchScript archive: constants.pkl, then data.pkl (the root module),
 * then traced_inputs.pkl when present. */
static int load_torchscript(struct tsl_model *m, tsl_error *err)
{
	int rc;

	rc = run_pickle(m, "constants.pkl", "constants/", &m->constants, 0,
		err);
	if (rc)
		return rc;
	if (m->constants->kind != TSL_VALUE_TUPLE)
		return tsl__error(err, TSL_EFORMAT, "constants.pkl",
			TSL_NO_OFFSET, "constants.pkl holds a %s, not a tuple",
			tsl_value_kind_name((tsl_value_kind)m->constants->kind));
	rc = run_pickle(m, "data.pkl", "data/", &m->root_value, 0, err);
	if (rc)
		return rc;
	rc = convert(m, m->constants, 0, err);
	if (rc)
		return rc;
	rc = convert(m, m->root_value, 0, err);
	if (rc)
		return rc;
	if (m->root_value->kind != TSL_VALUE_MODULE)
		return tsl__error(err, TSL_EFORMAT, "data.pkl", TSL_NO_OFFSET,
			"data.pkl holds a %s%s%s, not a module",
			tsl_value_kind_name((tsl_value_kind)m->root_value->kind),
			m->root_value->kind == TSL_VALUE_OBJECT ? " of class " : "",
			m->root_value->kind == TSL_VALUE_OBJECT ?
				m->root_value->u.obj.type : "");
	m->root = tsl__vmodule(m->root_value);
	if (tsl__archive_record_size(m->ar, "traced_inputs.pkl", 17, NULL)) {
		rc = run_pickle(m, "traced_inputs.pkl", "traced_inputs/",
			&m->traced_inputs, 0, err);
		if (!rc)
			rc = convert(m, m->traced_inputs, 0, err);
	}
	return rc;
}

/* A legacy (1.0-1.2, model.json) archive, read by legacy.c; its tensor
 * table is the constants tuple, checked here against the storages. */
static int load_legacy(struct tsl_model *m, const tsl_options *opts,
	tsl_error *err)
{
	int rc = tsl__legacy_load(m, opts, err);

	return rc ? rc : convert(m, m->constants, 0, err);
}

/*
 * Size the arena's first chunk for what this model will need, so that a big
 * model starts in huge pages instead of faulting in small-page chunks
 * first.  Fitted on the benchmark models (bench/gen_models.py): the arena
 * once ended up holding about 4 bytes per byte of data.pkl plus 150 per
 * record (many_small: 9.6 MB for a 1.4 MB data.pkl and 20,011 records;
 * traced resnet50: 340 KB for 32 KB and 625 records), since smaller
 * storages and modules 5.8 MB and 250 KB; a little more is asked for (the
 * pages of the first chunk that are not used cost no fault).
 */
static uint64_t expect_meta(struct tsl_model *m)
{
	uint64_t want, size;

	if (!tsl__archive_nrecords(m->ar))
		return 0;
	want = (uint64_t)tsl__archive_nrecords(m->ar) * 192;
	if (tsl__archive_record_size(m->ar, "data.pkl", 8, &size) &&
		size < ((uint64_t)1 << 40))
		want += size * 5;
	tsl__arena_expect(&m->arena, want);
	return want;
}

struct tsl_model *tsl__storage_model(const struct tsl_storage *s)
{
	/* every storage's place points at its model's storages.sync */
	return (struct tsl_model *)(void *)((char *)s->place->sync -
		offsetof(struct tsl_model, storages.sync));
}

TSL_API int tsl_model_load(tsl_model **out, tsl_archive *ar,
	const tsl_options *opts, tsl_error *err)
{
	struct tsl_model *m;
	tsl_prefault *pf = NULL;
	int rc, warn = TSL_OK;

	if (!out)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"out is NULL");
	*out = NULL;
	if (!ar)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"archive is NULL");
	if (ar->kind == TSL_KIND_TORCH_SAVE &&
		!(opts && (opts->flags & TSL_OPEN_CHECKPOINTS)))
		return tsl__error(err, TSL_ENOTTORCHSCRIPT, "constants.pkl",
			TSL_NO_OFFSET, "not a TorchScript archive: this is a "
			"torch.save checkpoint (no constants.pkl); load it with "
			"torch.load(), or with TSL_OPEN_CHECKPOINTS");
	m = calloc(1, sizeof *m);
	if (!m)
		return tsl__error(err, TSL_ENOMEM, NULL, TSL_NO_OFFSET,
			"out of memory");
	rc = tsl__limits_from_options(&m->limits, opts, err);
	if (rc) {
		free(m);
		return rc;
	}
	m->refs = 1;
	tsl__archive_ref(ar);
	m->ar = ar;
	tsl__arena_init(&m->arena, m->limits.max_meta_bytes);
	tsl__storages_init(&m->storages, ar, &m->arena);
	m->arena.huge = m->limits.huge_pages;
	/* before the first arena allocation; a big model's pages are faulted
	 * in by a helper on the other CPU while it loads (stopped below,
	 * before anything is freed or returned) */
	pf = tsl__prefault_begin(expect_meta(m), m->limits.no_prefault);
	tsl__reuse_begin();
	if (opts && opts->map_location && opts->map_location[0]) {
		char norm[64];

		/* checked before anything is read, as torch.jit.load does */
		rc = tsl__device_check(opts->map_location, norm, sizeof norm,
			err);
		if (rc)
			goto fail;
		m->storages.map_location = tsl__arena_strndup(&m->arena,
			norm, strlen(norm));
		if (!m->storages.map_location) {
			rc = tsl__arena_error(&m->arena, err, NULL, TSL_NO_OFFSET);
			goto fail;
		}
	}
	m->storages.remap = opts ? opts->remap : NULL;
	switch (ar->kind) {
	case TSL_KIND_TORCH_SAVE:
		rc = load_checkpoint(m, opts, err);
		break;
	case TSL_KIND_TORCHSCRIPT_LEGACY:
		rc = load_legacy(m, opts, err);
		break;
	default:
		rc = load_torchscript(m, err);
		break;
	}
	tsl__prefault_end(pf);
	pf = NULL;
	tsl__reuse_end();
	if (rc)
		goto fail;
	/* what was populated ahead for allocations that did not come
	 * (many_small: 182 KB) goes back */
	tsl__arena_trim(&m->arena);
	/* a checkpoint has no methods to give shapes to */
	if (ar->kind != TSL_KIND_TORCH_SAVE && opts && opts->restore_shapes) {
		if (!m->traced_inputs)
			warn = TSL_WNOTRACEDINPUTS;
		else if ((rc = restore_shapes(m, err)) != TSL_OK)
			goto fail;
	}
	*out = m;
	/* a warning: loaded, TSL_OK (a positive return made every
	 * `rc != TSL_OK` caller leak the model); told in err and by
	 * tsl_model_traced_inputs() == NULL */
	if (warn)
		tsl__error(err, warn, "traced_inputs.pkl", TSL_NO_OFFSET,
			"Cannot restore shapes as no traced inputs were stored");
	return TSL_OK;
fail:
	tsl__prefault_end(pf);   /* no-ops when already ended above */
	tsl__reuse_end();
	tsl_model_free(m);
	return rc;
}

TSL_API int tsl_load_path(tsl_model **out, const char *path,
	const tsl_options *opts, tsl_error *err)
{
	tsl_archive *ar;
	int rc;

	if (!out)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"out is NULL");
	*out = NULL;
	rc = tsl_archive_open_path(&ar, path, opts, err);
	if (rc)
		return rc;
	rc = tsl_model_load(out, ar, opts, err);
	tsl_archive_free(ar);   /* the model holds its own reference */
	return rc;
}

TSL_API tsl_archive *tsl_model_archive(const tsl_model *m)
{
	return m ? m->ar : NULL;
}

TSL_API const tsl_module *tsl_model_root(const tsl_model *m)
{
	return m ? m->root : NULL;
}

TSL_API const tsl_value *tsl_model_constants(const tsl_model *m)
{
	return m ? m->constants : NULL;
}

TSL_API size_t tsl_model_storage_count(const tsl_model *m)
{
	return m ? m->storages.st_count : 0;
}

TSL_API tsl_storage *tsl_model_storage(const tsl_model *m, size_t i)
{
	return m && i < m->storages.st_count ?
		tsl__storages_at(&m->storages, i) : NULL;
}

TSL_API int tsl_model_materialize(tsl_model *m, unsigned nthreads,
	tsl_error *err)
{
	if (!m)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"model is NULL");
	return tsl__storages_materialize(&m->storages, nthreads, err);
}

TSL_API const tsl_value *tsl_model_traced_inputs(const tsl_model *m)
{
	return m ? m->traced_inputs : NULL;
}

TSL_API const tsl_value *tsl_model_value(const tsl_model *m)
{
	return m ? m->root_value : NULL;
}

TSL_API tsl_file_kind tsl_model_kind(const tsl_model *m)
{
	return m ? m->ar->kind : TSL_KIND_UNKNOWN;
}
