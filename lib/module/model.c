/*
 * model.c - tsl_model_load: constants.pkl, then data.pkl, then the module
 * tree (class headers from code/, read lazily and cached per class).
 * Touches no tensor bytes: storages are created as lazy views of records.
 */
#include "config.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "model.h"
#include "../backend/backend.h"

/* ---- storages --------------------------------------------------------- */

struct persid_ctx {
	struct tsl_model *m;
	const char *dir;          /* "data/", "constants/" */
	const char *pickle;       /* for messages */
	bool dedupe;              /* share storages by record name */
	size_t dir_len;
};

static int st_grow(struct tsl_model *m)
{
	size_t cap = m->st_table ? (m->st_mask + 1) * 2 : 64, i;
	struct tsl_storage **t = calloc(cap, sizeof *t);

	if (!t)
		return TSL_ENOMEM;
	for (i = 0; m->st_table && i <= m->st_mask; i++) {
		struct tsl_storage *s = m->st_table[i];
		size_t h;

		if (!s)
			continue;
		h = (size_t)XXH3_64bits(tsl__storage_record(s),
			strlen(tsl__storage_record(s))) & (cap - 1);
		while (t[h])
			h = (h + 1) & (cap - 1);
		t[h] = s;
	}
	free(m->st_table);
	m->st_table = t;
	m->st_mask = cap - 1;
	return TSL_OK;
}

static const char *remap(const char *const *r, const char *loc)
{
	for (; r && r[0] && r[1]; r += 2)
		if (strcmp(r[0], loc) == 0)
			return r[1];
	return loc;
}

/* The place of a saved location: the location and its target device
 * (map_location, else the remapped location, checked - as torch does, at
 * load time, although copies happen on first access - once per distinct
 * location).  NULL with err set. */
static const struct tsl_storage_place *place_for(struct tsl_model *m,
	const char *location, const char *record, tsl_error *err)
{
	struct tsl_storage_place *pl;
	char norm[64];
	const char *dev;
	size_t i;

	for (i = 0; i < m->nplaces; i++)
		if (m->places[i].location == location ||
			strcmp(m->places[i].location, location) == 0)
			return &m->places[i];
	if (m->map_location) {
		dev = m->map_location;
		goto found;
	}
	if (tsl__device_check(remap(m->remap, location), norm, sizeof norm,
		err)) {
		if (err) {
			size_t n = strlen(record);

			if (n >= sizeof err->record)
				n = sizeof err->record - 1;
			memcpy(err->record, record, n);
			err->record[n] = '\0';
		}
		return NULL;
	}
	dev = tsl__arena_strndup(&m->arena, norm, strlen(norm));
	if (!dev) {
		tsl__arena_error(&m->arena, err, record, TSL_NO_OFFSET);
		return NULL;
	}
found:
	/* the first 8 distinct locations are kept; past that (a contrived
	 * archive), each storage gets a place of its own */
	if (m->nplaces < sizeof m->places / sizeof m->places[0])
		pl = &m->places[m->nplaces++];
	else if (!(pl = tsl__arena_alloc(&m->arena, sizeof *pl))) {
		tsl__arena_error(&m->arena, err, record, TSL_NO_OFFSET);
		return NULL;
	}
	pl->location = location;
	pl->device = dev;
	pl->sync = &m->sync;
	return pl;
}

/* Room for storage st_count: a new chunk when the last one is full.  The
 * chunk size is the record count rounded up to a power of two, at most
 * 1024 (TorchScript archives have at most one storage per record). */
static int st_reserve(struct tsl_model *m)
{
	size_t k = m->st_count >> m->st_shift, per;

	if (m->st_count && k < m->st_nchunks)
		return TSL_OK;
	if (!m->st_count) {
		for (m->st_shift = 0; m->st_shift < 10 &&
			((size_t)1 << m->st_shift) < m->ar->zip->n; m->st_shift++)
			;
		k = 0;
	}
	if (k == m->st_chunks_cap) {
		size_t cap = m->st_chunks_cap ? 2 * m->st_chunks_cap : 8;
		struct tsl_storage **t = realloc(m->st_chunks, cap * sizeof *t);

		if (!t)
			return TSL_ENOMEM;
		m->st_chunks = t;
		m->st_chunks_cap = cap;
	}
	per = (size_t)1 << m->st_shift;
	m->st_chunks[k] = tsl__arena_calloc(&m->arena, per,
		sizeof **m->st_chunks);
	if (!m->st_chunks[k])
		return TSL_ENOMEM;
	m->st_nchunks = k + 1;
	return TSL_OK;
}

/* The stand-in entry of a storage whose record the archive lacks (it has
 * no elements): the name, size 0 (so it is never read).  rel: in the
 * arena already when owned. */
static tsl_zip_entry *absent_record(struct tsl_model *m, const char *rel,
	size_t len, bool owned)
{
	tsl_zip_entry *e = tsl__arena_alloc(&m->arena, sizeof *e);

	if (!e)
		return NULL;
	if (!owned && !(rel = tsl__arena_strndup(&m->arena, rel, len)))
		return NULL;
	e->name = rel;   /* not in_prefix: tsl__zip_rel gives the name */
	e->name_len = len > UINT16_MAX ? UINT16_MAX : (uint16_t)len;
	return e;
}

static struct tsl_storage *make_storage(void *payload, int dtype,
	const char *key, const char *location, uint64_t numel, tsl_error *err)
{
	struct persid_ctx *c = payload;
	struct tsl_model *m = c->m;
	size_t dl = c->dir_len, kl = strlen(key), h = 0,
		isz = tsl_dtype_size((tsl_dtype)dtype);
	uint64_t need;
	char buf[256], *rel = buf;
	const struct tsl_storage_place *pl;
	struct tsl_storage *s;
	tsl_zip_entry *e;

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
	/* the record name: dir + key, on the stack when short */
	if (dl + kl + 1 > sizeof buf) {
		rel = tsl__arena_alloc(&m->arena, dl + kl + 1);
		if (!rel) {
			tsl__arena_error(&m->arena, err, c->pickle, TSL_NO_OFFSET);
			return NULL;
		}
	}
	memcpy(rel, c->dir, dl);
	memcpy(rel + dl, key, kl + 1);
	/* Python pickles (and legacy tables) name a storage again at every
	 * use: the same record must give the same storage object.  In the
	 * TorchScript dialect the memo shares it, so each call is new. */
	if (c->dedupe) {
		if (m->st_count * 2 >= (m->st_table ? m->st_mask + 1 : 0) &&
			st_grow(m)) {
			tsl__error(err, TSL_ENOMEM, c->pickle, TSL_NO_OFFSET,
				"out of memory");
			return NULL;
		}
		h = (size_t)XXH3_64bits(rel, dl + kl) & m->st_mask;
		while (m->st_table[h]) {
			if (strcmp(tsl__storage_record(m->st_table[h]), rel) == 0)
				return m->st_table[h];
			h = (h + 1) & m->st_mask;
		}
	}
	/* the storage names its record by its zip entry (the index's copy
	 * of the name, and the size) */
	e = (tsl_zip_entry *)tsl__zip_find_next(m->ar->zip, rel, dl + kl,
		&m->st_next);
	if (!e && numel != 0) {
		tsl__error(err, TSL_EFORMAT, c->pickle, TSL_NO_OFFSET,
			"persistent id names storage record '%s/%s', which the "
			"archive does not have", m->ar->zip->prefix, rel);
		return NULL;
	}
	if (!e && !(e = absent_record(m, rel, dl + kl, rel != buf))) {
		tsl__arena_error(&m->arena, err, c->pickle, TSL_NO_OFFSET);
		return NULL;
	}
	if (!(pl = place_for(m, location, tsl__zip_rel(m->ar->zip, e), err)))
		return NULL;
	if (st_reserve(m)) {   /* TSL_ELIMIT or TSL_ENOMEM */
		tsl__arena_error(&m->arena, err, c->pickle, TSL_NO_OFFSET);
		return NULL;
	}
	s = tsl__model_storage_at(m, m->st_count++);
	s->entry = e;
	s->place = pl;
	s->numel = numel;
	s->dtype = (uint8_t)dtype;   /* < TSL_DTYPE_COUNT: it has a size */
	if (c->dedupe)
		m->st_table[h] = s;
	return s;
}

int tsl__model_storage(struct tsl_storage **out, struct tsl_model *m,
	const char *record, int dtype, const char *location, uint64_t numel,
	tsl_error *err)
{
	struct persid_ctx pc = { m, "", "model.json", true, 0 };
	tsl_error e = { .code = TSL_EFORMAT };

	*out = make_storage(&pc, dtype, record, location, numel, &e);
	if (*out)
		return TSL_OK;
	if (err)
		*err = e;
	return e.code;
}

/* ---- class headers ---------------------------------------------------- */

/* "__torch__.a.b.C" -> "code/__torch__/a/b.py" */
static int class_file(char *buf, size_t cap, const char *qname)
{
	const char *dot = strrchr(qname, '.');
	size_t n, i;

	if (!dot)
		return -1;
	n = (size_t)(dot - qname);
	if (n + 9 > cap)
		return -1;
	memcpy(buf, "code/", 5);
	for (i = 0; i < n; i++)
		buf[5 + i] = qname[i] == '.' ? '/' : qname[i];
	memcpy(buf + 5 + n, ".py", 4);
	return 0;
}

static int cls_grow(struct tsl_model *m)
{
	size_t cap = m->cls_table ? (m->cls_mask + 1) * 2 : 64, i;
	struct cls_slot **t = calloc(cap, sizeof *t);

	if (!t)
		return TSL_ENOMEM;
	for (i = 0; m->cls_table && i <= m->cls_mask; i++) {
		size_t h;

		if (!m->cls_table[i])
			continue;
		h = (size_t)XXH3_64bits(m->cls_table[i]->qname,
			strlen(m->cls_table[i]->qname)) & (cap - 1);
		while (t[h])
			h = (h + 1) & (cap - 1);
		t[h] = m->cls_table[i];
	}
	free(m->cls_table);
	m->cls_table = t;
	m->cls_mask = cap - 1;
	return TSL_OK;
}

/* The class record for a qualified name; its header is parsed once.
 * (*out)->info is NULL when the archive has no source for the class
 * (torchbind classes, missing files).  The pickle machine shares one type
 * string per class, so the pointer is checked first. */
static int get_class(struct tsl_model *m, const char *qname,
	struct cls_slot **out, tsl_error *err)
{
	char file[1024];
	size_t h, len;
	const tsl_zip_entry *e = NULL;
	const uint8_t *src = NULL;
	size_t srclen = 0;
	tsl_class_info *ci = NULL;
	struct cls_slot *slot;
	uint64_t off = TSL_NO_OFFSET;
	int rc;

	if (m->cls_last && m->cls_last->qname == qname) {
		*out = m->cls_last;
		return TSL_OK;
	}
	len = strlen(qname);
	if (m->cls_table) {
		h = (size_t)XXH3_64bits(qname, len) & m->cls_mask;
		while (m->cls_table[h]) {
			if (strcmp(m->cls_table[h]->qname, qname) == 0) {
				*out = m->cls_last = m->cls_table[h];
				return TSL_OK;
			}
			h = (h + 1) & m->cls_mask;
		}
	}
	if (strncmp(qname, "__torch__.torch.classes.", 24) != 0 &&
		class_file(file, sizeof file, qname) == 0 &&
		(e = tsl__zip_find(m->ar->zip, file, strlen(file))) != NULL) {
		rc = tsl__zip_read(m->ar->zip, (tsl_zip_entry *)e, &src, &srclen,
			err);
		if (rc)
			return rc;
		if (e->method == 0 && tsl__zip_data_offset(m->ar->zip,
			(tsl_zip_entry *)e, &off, NULL) != TSL_OK)
			off = TSL_NO_OFFSET;
		/* methods are parsed when first asked for */
		rc = tsl__class_header_parse_lazy(&ci, (const char *)src,
			srclen, qname, &m->arena, e->name, off, err);
		if (rc && rc != TSL_ENOTFOUND)
			return rc;
	}
	slot = tsl__arena_alloc(&m->arena, sizeof *slot);
	if (!slot)
		return tsl__arena_error(&m->arena, err, NULL, TSL_NO_OFFSET);
	slot->qname = qname;
	slot->info = ci;
	if (ci && e) {
		slot->src = (const char *)src;
		slot->src_len = srclen;
		slot->record = e->name;
		slot->src_off = off;
	}
	if (m->cls_count * 2 >= (m->cls_table ? m->cls_mask + 1 : 0) &&
		cls_grow(m))
		return tsl__error(err, TSL_ENOMEM, NULL, TSL_NO_OFFSET,
			"out of memory");
	h = (size_t)XXH3_64bits(qname, len) & m->cls_mask;
	while (m->cls_table[h])
		h = (h + 1) & m->cls_mask;
	m->cls_table[h] = slot;
	m->cls_count++;
	*out = m->cls_last = slot;
	return TSL_OK;
}

/* ---- the tree --------------------------------------------------------- */

static int convert(struct tsl_model *m, tsl_value *v, uint32_t depth,
	tsl_error *err);

struct msort {
	tsl_method m;
	const tsl_class_method *src;
};

static int cmp_msort(const void *a, const void *b)
{
	return strcmp(((const struct msort *)a)->m.name,
		((const struct msort *)b)->m.name);
}

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

/* The class's sorted method table (slot->methods, msrc, nmethods), shared
 * by all its modules.  The caller publishes methods_built. */
static int build_methods(struct tsl_model *m, struct cls_slot *slot,
	tsl_error *err)
{
	const tsl_class_info *ci = slot->info;
	tsl_method *methods;
	const tsl_class_method **msrc;
	size_t i, n = 0, j;

	for (i = 0; i < ci->nmethods; i++)
		if (!ci->methods[i].is_forward_hook &&
			!ci->methods[i].is_forward_pre_hook)
			n++;
	methods = tsl__arena_calloc(&m->arena, n ? n : 1, sizeof *methods);
	msrc = tsl__arena_calloc(&m->arena, n ? n : 1, sizeof *msrc);
	if (!methods || !msrc)
		return tsl__arena_error(&m->arena, err, NULL, TSL_NO_OFFSET);
	for (i = 0, j = 0; i < ci->nmethods; i++) {
		const tsl_class_method *cm = &ci->methods[i];
		tsl_method *mm;
		const char **names, **types, **rets;

		if (cm->is_forward_hook || cm->is_forward_pre_hook)
			continue;
		mm = &methods[j];
		names = tsl__arena_calloc(&m->arena, cm->nargs + 1,
			sizeof *names);
		types = tsl__arena_calloc(&m->arena, cm->nargs + 1,
			sizeof *types);
		rets = tsl__arena_calloc(&m->arena, 1, sizeof *rets);
		if (!names || !types || !rets)
			return tsl__arena_error(&m->arena, err, NULL,
				TSL_NO_OFFSET);
		for (size_t a = 0; a < cm->nargs; a++) {
			names[a] = cm->args[a].name;
			types[a] = cm->args[a].type ? cm->args[a].type :
				slot->qname;
		}
		/* no annotation: TorchScript infers; NoneType is what an
		 * unannotated method without return value gets */
		rets[0] = cm->return_type ? cm->return_type : "NoneType";
		mm->name = cm->name;
		mm->nargs = cm->nargs;
		mm->arg_names = names;
		mm->arg_types = types;
		mm->nreturns = 1;
		mm->return_types = rets;
		j++;
	}
	/* sort methods and their sources together */
	for (i = 0, j = 0; i < ci->nmethods; i++)
		if (!ci->methods[i].is_forward_hook &&
			!ci->methods[i].is_forward_pre_hook)
			msrc[j++] = &ci->methods[i];
	if (n > 1) {
		struct msort *v = malloc(n * sizeof *v);

		if (!v)
			return tsl__error(err, TSL_ENOMEM, NULL, TSL_NO_OFFSET,
				"out of memory");
		for (i = 0; i < n; i++) {
			v[i].m = methods[i];
			v[i].src = msrc[i];
		}
		qsort(v, n, sizeof *v, cmp_msort);
		for (i = 0; i < n; i++) {
			methods[i] = v[i].m;
			msrc[i] = v[i].src;
		}
		free(v);
	}
	slot->methods = methods;
	slot->msrc = msrc;
	slot->nmethods = n;
	return TSL_OK;
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

static int build_module(struct tsl_model *m, tsl_value *v,
	struct cls_slot *slot, uint32_t depth, tsl_error *err)
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
	mod = tsl__arena_alloc(&m->arena, sizeof *mod);
	if (!mod)
		return tsl__arena_error(&m->arena, err, NULL, TSL_NO_OFFSET);
	mod->value = v;
	mod->slot = slot;   /* methods: tsl__module_methods, on first use */
	v->kind = TSL_VALUE_MODULE;
	v->u.obj.module = mod;
	if (!slot->has_state && (!state || state->kind != TSL_VALUE_DICT))
		return tsl__error(err, TSL_EFORMAT, "data.pkl", TSL_NO_OFFSET,
			"module of class %s has no attribute dictionary as its "
			"state", v->u.obj.type);
	if (state) {
		rc = convert(m, state, depth + 1, err);
		if (rc)
			return rc;
	}
	/* Names, types and kinds come from the class (shared); the values
	 * from the pickled state, in place when it is in slot order, else
	 * gathered by name. */
	if (slot->has_state || in_slot_order(slot, state))
		return TSL_OK;
	mod->vals = tsl__arena_calloc(&m->arena, ci->nattrs, sizeof *mod->vals);
	if (!mod->vals)
		return tsl__arena_error(&m->arena, err, NULL, TSL_NO_OFFSET);
	for (i = 0; i < ci->nattrs; i++) {
		mod->vals[i] = dict_get(state, ci->attrs[i].name, i);
		if (!mod->vals[i])
			return tsl__error(err, TSL_EFORMAT, "data.pkl",
				TSL_NO_OFFSET, "module of class %s lacks "
				"attribute '%s' that its class declares",
				v->u.obj.type, ci->attrs[i].name);
	}
	return TSL_OK;
}

/* Parse a class's methods (the header was parsed lazily) and build its
 * sorted method table.  Called with the model's lock held. */
static int load_methods(struct tsl_model *m, struct cls_slot *slot,
	tsl_error *err)
{
	tsl_class_info *full = NULL;
	int rc;

	if (slot->info && slot->info->lazy_methods) {
		rc = tsl__class_header_parse(&full, slot->src, slot->src_len,
			slot->qname, &m->arena, slot->record, slot->src_off, err);
		if (rc)
			return rc;
		slot->info = full;
	}
	return build_methods(m, slot, err);
}

int tsl__module_methods(const struct tsl_module *mod, tsl_error *err)
{
	struct cls_slot *slot = mod->slot;
	struct tsl_model *m;
	int rc;

	if (!slot)
		return TSL_OK;   /* legacy: its own table, made at load */
	m = slot->model;
	if (!atomic_load_explicit((_Atomic bool *)&slot->methods_built,
		memory_order_acquire)) {
		pthread_mutex_lock(&m->sync.mu);
		if (!atomic_load_explicit((_Atomic bool *)&slot->methods_built,
			memory_order_relaxed) && !slot->methods_rc) {
			tsl_error e;

			rc = load_methods(m, slot, &e);
			if (rc) {
				slot->methods_rc = rc;
				slot->methods_err = tsl__arena_alloc(&m->arena,
					sizeof e);
				if (slot->methods_err)
					*slot->methods_err = e;
			} else {
				atomic_store_explicit(
					(_Atomic bool *)&slot->methods_built, true,
					memory_order_release);
			}
		}
		rc = slot->methods_rc;
		pthread_mutex_unlock(&m->sync.mu);
		if (rc) {
			if (err && slot->methods_err)
				*err = *slot->methods_err;
			else
				tsl__error(err, rc, slot->record, TSL_NO_OFFSET,
					"the methods of %s could not be read",
					slot->qname);
			return rc;
		}
	}
	return TSL_OK;   /* read through tsl__module_method_table */
}

void tsl__module_method_table(const struct tsl_module *mod,
	tsl_method **methods, const tsl_class_method ***msrc, size_t *n)
{
	/* the class's shared table once built (never written after), or
	 * the module's own (legacy archives) */
	const struct cls_slot *slot = mod->slot;
	const struct tsl_legacy_module *lm = tsl__legacy_module(mod);

	*methods = slot ? slot->methods : lm->methods;
	*msrc = slot ? slot->msrc : lm->msrc;
	*n = slot ? slot->nmethods : lm->nmethods;
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
	const char *record;
	uint32_t d;

	t->owner = m;
	if (t->ext) {
		const struct tsl_tensor_ext *x = t->ext;

		if ((x->q_scales && check_tensor(m, x->q_scales, err)) ||
			(x->q_zero_points &&
			 check_tensor(m, x->q_zero_points, err)) ||
			(x->sp_indices && check_tensor(m, x->sp_indices, err)) ||
			(x->sp_values && check_tensor(m, x->sp_values, err)))
			return err ? err->code : TSL_EFORMAT;
	}
	if (!s || (nbytes = tsl__storage_nbytes(s)) == 0)
		return TSL_OK;   /* sparse, or a storage without data */
	record = tsl__storage_record(s);
	isz = tsl_dtype_size((tsl_dtype)t->dtype);
	for (d = 0; d < t->ndim; d++) {
		uint64_t span;

		if (t->shape[d] == 0)
			return TSL_OK;   /* empty: reaches nothing */
		if (t->shape[d] < 0 || t->stride[d] < 0)
			return tsl__error(err, TSL_EFORMAT, record,
				TSL_NO_OFFSET, "tensor has a negative size or "
				"stride");
		if (tsl__mul_u64((uint64_t)(t->shape[d] - 1),
			(uint64_t)t->stride[d], &span) ||
			tsl__add_u64(extent, span, &extent))
			goto overflow;
	}
	if (t->storage_offset < 0 ||
		tsl__add_u64(extent, (uint64_t)t->storage_offset, &extent) ||
		tsl__add_u64(extent, 1, &extent) ||
		tsl__mul_u64(extent, isz, &bytes))
		goto overflow;
	if (bytes > nbytes)
		return tsl__error(err, TSL_EFORMAT, record, TSL_NO_OFFSET,
			"tensor view reaches %llu bytes but its storage record "
			"holds %llu", (unsigned long long)bytes,
			(unsigned long long)nbytes);
	return TSL_OK;
overflow:
	return tsl__error(err, TSL_EFORMAT, record, TSL_NO_OFFSET,
		"tensor shape and strides overflow 64-bit arithmetic");
}

static int check_tensor(struct tsl_model *m, struct tsl_tensor *t,
	tsl_error *err)
{
	if (t->owner)
		return TSL_OK;   /* checked when the pickle machine made it */
	return check_new_tensor(m, t, err);
}

static int enum_name(struct tsl_model *m, tsl_value *v, tsl_error *err)
{
	const tsl_class_info *ci;
	const tsl_value *x = v->u.enm.value;
	struct cls_slot *slot;
	size_t i;
	int rc = get_class(m, v->u.enm.type, &slot, err);

	if (rc)
		return rc;
	ci = slot->info;
	if (!ci || !x)
		return TSL_OK;
	for (i = 0; i < ci->nenum_members; i++) {
		const char *t = ci->enum_members[i].value_text;
		size_t tl = strlen(t);
		bool match = false;

		if (x->kind == TSL_VALUE_INT) {
			char *end;
			long long n = strtoll(t, &end, 10);

			match = *end == '\0' && n == x->u.i;
		} else if (x->kind == TSL_VALUE_FLOAT) {
			char *end;
			double f = strtod(t, &end);

			match = *end == '\0' && f == x->u.f;
		} else if (x->kind == TSL_VALUE_STRING && tl >= 2 &&
			(t[0] == '"' || t[0] == '\'')) {
			match = tl - 2 == x->len && memcmp(t + 1, x->u.s, tl - 2) == 0;
		}
		if (match) {
			v->u.enm.name = ci->enum_members[i].name;
			break;
		}
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
		rc = get_class(m, v->u.obj.type, &slot, err);
		if (rc)
			break;
		ci = slot->info;
		if (ci && ci->kind == TSL_CLASS_MODULE) {
			rc = build_module(m, v, slot, depth, err);
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
		if (v->u.tensor)
			rc = check_tensor(m, v->u.tensor, err);
		break;
	default:
		break;
	}
	v->flags &= (uint16_t)~TSL__VFLAG_VISITING;
	v->flags |= TSL__VFLAG_DONE;
	return rc;
}

/* ---- loading ---------------------------------------------------------- */

/* A tensor the pickle machine has just made (so not checked yet). */
static int tensor_made(void *payload, struct tsl_tensor *t, tsl_error *err)
{
	return check_new_tensor(((struct persid_ctx *)payload)->m, t, err);
}

static int run_pickle(struct tsl_model *m, const char *name, const char *dir,
	tsl_value **out, unsigned flags, tsl_error *err)
{
	const tsl_zip_entry *e = tsl__zip_find(m->ar->zip, name, strlen(name));
	/* errors name the pickle by its full record name */
	struct persid_ctx pc = { m, dir, e ? e->name : name,
		(flags & TSL_PICKLE_PYTHON) != 0, strlen(dir) };
	tsl_pickle_ctx ctx;
	const uint8_t *data;
	size_t len;
	int rc;

	if (!e)
		return tsl__error(err, TSL_EFORMAT, name, TSL_NO_OFFSET,
			"PytorchStreamReader failed locating file %s: file not "
			"found", name);
	rc = tsl__zip_read(m->ar->zip, (tsl_zip_entry *)e, &data, &len, err);
	if (rc)
		return rc;
	memset(&ctx, 0, sizeof ctx);
	ctx.flags = flags;
	ctx.arena = &m->arena;
	ctx.limits = &m->limits;
	ctx.make_storage = make_storage;
	ctx.tensor_made = tensor_made;
	ctx.payload = &pc;
	ctx.record = e->name;
	ctx.file_offset = TSL_NO_OFFSET;
	if (e->method == 0)
		tsl__zip_data_offset(m->ar->zip, (tsl_zip_entry *)e,
			&ctx.file_offset, NULL);
	return tsl__pickle_load(out, data, len, &ctx, err);
}


/* "float32[1, 3, 224, 224]" for a tensor value; NULL for anything else. */
static const char *shape_text(struct tsl_model *m, const tsl_value *v)
{
	const struct tsl_tensor *t;
	char buf[1024];
	size_t o;

	if (!v || v->kind != TSL_VALUE_TENSOR || !v->u.tensor)
		return NULL;
	t = v->u.tensor;
	o = (size_t)snprintf(buf, sizeof buf, "%s[",
		tsl_dtype_name((tsl_dtype)t->dtype));
	for (uint32_t d = 0; d < t->ndim && o < sizeof buf; d++)
		o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%lld",
			d ? ", " : "", (long long)t->shape[d]);
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
	atomic_fetch_add((_Atomic int *)&m->refs, 1);
}

TSL_API void tsl_model_free(tsl_model *m)
{
	tsl__model_unref(m);
}

void tsl__model_unref(struct tsl_model *m)
{
	if (!m || atomic_fetch_sub((_Atomic int *)&m->refs, 1) != 1)
		return;
	/* what storages hold beyond the arena; nothing when none has any
	 * (no pass over every storage then) */
	if (atomic_load((_Atomic int *)&m->sync.holders))
		for (size_t i = 0; i < m->st_count; i++)
			tsl__storage_free(tsl__model_storage_at(m, i));
	free(m->st_chunks);
	free(m->st_table);
	free(m->cls_table);
	tsl__tensor_index_free(m->tindex);
	tsl__arena_free(&m->arena);
	pthread_mutex_destroy(&m->sync.mu);
	pthread_cond_destroy(&m->sync.cv);
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
static void expect_meta(struct tsl_model *m)
{
	const tsl_zip_entry *e;
	uint64_t want;

	if (!m->ar->zip)
		return;
	e = tsl__zip_find(m->ar->zip, "data.pkl", 8);
	want = (uint64_t)m->ar->zip->n * 192;

	if (e && e->usize < ((uint64_t)1 << 40))
		want += e->usize * 5;
	tsl__arena_expect(&m->arena, want);
}

TSL_API int tsl_model_load(tsl_model **out, tsl_archive *ar,
	const tsl_options *opts, tsl_error *err)
{
	struct tsl_model *m;
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
	m->sync.ar = ar;
	pthread_mutex_init(&m->sync.mu, NULL);
	pthread_cond_init(&m->sync.cv, NULL);
	tsl__archive_ref(ar);
	m->ar = ar;
	tsl__arena_init(&m->arena, m->limits.max_meta_bytes);
	m->arena.huge = m->limits.huge_pages;
	expect_meta(m);   /* before the first arena allocation */
	if (opts && opts->map_location && opts->map_location[0]) {
		char norm[64];

		/* checked before anything is read, as torch.jit.load does */
		rc = tsl__device_check(opts->map_location, norm, sizeof norm,
			err);
		if (rc)
			goto fail;
		m->map_location = tsl__arena_strndup(&m->arena, norm,
			strlen(norm));
		if (!m->map_location) {
			rc = tsl__arena_error(&m->arena, err, NULL, TSL_NO_OFFSET);
			goto fail;
		}
	}
	m->remap = opts ? opts->remap : NULL;
	if (ar->kind == TSL_KIND_TORCH_SAVE) {
		rc = load_checkpoint(m, opts, err);
		if (rc)
			goto fail;
		*out = m;
		return TSL_OK;
	}
	if (ar->kind == TSL_KIND_TORCHSCRIPT_LEGACY) {
		/* model.json (legacy.c); its tensor table is the constants
		 * tuple, checked here against the storages */
		if ((rc = tsl__legacy_load(m, opts, err)) ||
			(rc = convert(m, m->constants, 0, err)))
			goto fail;
		*out = m;
		if (opts && opts->restore_shapes)
			return tsl__error(err, TSL_WNOTRACEDINPUTS,
				"traced_inputs.pkl", TSL_NO_OFFSET, "Cannot "
				"restore shapes as no traced inputs were stored");
		return TSL_OK;
	}
	rc = run_pickle(m, "constants.pkl", "constants/", &m->constants, 0,
		err);
	if (rc)
		goto fail;
	if (m->constants->kind != TSL_VALUE_TUPLE) {
		rc = tsl__error(err, TSL_EFORMAT, "constants.pkl", TSL_NO_OFFSET,
			"constants.pkl holds a %s, not a tuple",
			tsl_value_kind_name((tsl_value_kind)m->constants->kind));
		goto fail;
	}
	rc = run_pickle(m, "data.pkl", "data/", &m->root_value, 0, err);
	if (rc)
		goto fail;
	rc = convert(m, m->constants, 0, err);
	if (rc)
		goto fail;
	rc = convert(m, m->root_value, 0, err);
	if (rc)
		goto fail;
	if (m->root_value->kind != TSL_VALUE_MODULE) {
		rc = tsl__error(err, TSL_EFORMAT, "data.pkl", TSL_NO_OFFSET,
			"data.pkl holds a %s%s%s, not a module",
			tsl_value_kind_name((tsl_value_kind)m->root_value->kind),
			m->root_value->kind == TSL_VALUE_OBJECT ? " of class " : "",
			m->root_value->kind == TSL_VALUE_OBJECT ?
				m->root_value->u.obj.type : "");
		goto fail;
	}
	m->root = m->root_value->u.obj.module;
	if (tsl__zip_find(m->ar->zip, "traced_inputs.pkl", 17)) {
		rc = run_pickle(m, "traced_inputs.pkl", "traced_inputs/",
			&m->traced_inputs, 0, err);
		if (!rc)
			rc = convert(m, m->traced_inputs, 0, err);
		if (rc)
			goto fail;
	}
	if (opts && opts->restore_shapes) {
		if (!m->traced_inputs)
			warn = TSL_WNOTRACEDINPUTS;
		else if ((rc = restore_shapes(m, err)) != TSL_OK)
			goto fail;
	}
	*out = m;
	if (warn)
		tsl__error(err, warn, "traced_inputs.pkl", TSL_NO_OFFSET,
			"Cannot restore shapes as no traced inputs were stored");
	return warn;
fail:
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
	return m ? m->st_count : 0;
}

TSL_API tsl_storage *tsl_model_storage(const tsl_model *m, size_t i)
{
	return m && i < m->st_count ? tsl__model_storage_at(m, i) : NULL;
}

struct mat_job {
	struct tsl_model *m;
	_Atomic size_t next;
	_Atomic int rc;
	tsl_error err;
	pthread_mutex_t mu;
};

static void *mat_worker(void *arg)
{
	struct mat_job *j = arg;
	size_t i;

	while ((i = atomic_fetch_add(&j->next, 1)) < j->m->st_count &&
		atomic_load(&j->rc) == TSL_OK) {
		tsl_error e;
		int rc = tsl__storage_touch(tsl__model_storage_at(j->m, i),
			true, &e);

		if (rc) {
			int expected = TSL_OK;

			pthread_mutex_lock(&j->mu);
			if (atomic_compare_exchange_strong(&j->rc, &expected, rc))
				j->err = e;
			pthread_mutex_unlock(&j->mu);
		}
	}
	return NULL;
}

TSL_API int tsl_model_materialize(tsl_model *m, unsigned nthreads,
	tsl_error *err)
{
	int rc;
	struct mat_job j;
	pthread_t th[64];
	unsigned n = 0, i;

	if (!m)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"model is NULL");
	/* one check that the file still holds everything, for all storages */
	rc = tsl__archive_check_size(m->ar, 0, m->ar->size, NULL, err);
	if (rc)
		return rc;
	memset(&j, 0, sizeof j);
	j.m = m;
	pthread_mutex_init(&j.mu, NULL);
	if (nthreads > 64)
		nthreads = 64;
	for (i = 1; i < nthreads; i++)
		if (pthread_create(&th[n], NULL, mat_worker, &j) == 0)
			n++;
	mat_worker(&j);
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&j.mu);
	if (j.rc && err)
		*err = j.err;
	return j.rc;
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
