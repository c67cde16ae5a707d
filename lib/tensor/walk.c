/*
 * walk.c - every tensor of a model, once, under names that say where it
 * came from (see tsload.h, "Every tensor of a model").
 *
 * Built on first use from the public module and value API, kept in the
 * model (struct tsl_model.tindex, published with one atomic exchange) and
 * freed with it.  Names live in one pool owned by the list.
 */
#include "config.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../module/model.h"

#define WALK_MAX_DEPTH 10000
/* A checkpoint's containers reached again by another path are walked
 * again (every path is a name: {"model": sd, "ema": sd}), for at most
 * this many steps plus WALK_SHARED_RATIO times the steps of the first
 * walks: a hostile DAG (40 lists of [a, a]) has 2^40 paths. */
#define WALK_SHARED_STEPS 100000
#define WALK_SHARED_RATIO 16

struct tsl_tensor_index {
	size_t n;
	tsl_tensor_entry *e;
	char *pool;
};

/* A pointer set / map (open addressing, grows at half full). */
struct builder {
	tsl_model *m;
	tsl_tensor_entry *e;      /* name holds the pool offset until done */
	size_t n, cap;
	char *pool;
	size_t pool_len, pool_cap;
	char *path;               /* the dotted name being built */
	size_t path_len, path_cap;
	tsl_pmap seen;         /* tensors listed (extras: once each) */
	tsl_pmap visited;      /* containers, objects, modules walked */
	tsl_pmap barren;       /* checkpoint containers that hold no tensor */
	tsl_pmap params;       /* tensors that are parameters */
	tsl_pmap storages;     /* storage -> number */
	int checkpoint;
	unsigned shared;       /* inside a container walked again */
	uint64_t steps, shared_steps;   /* walk_value calls outside, inside */
	tsl_error *err;
};

static int oom(struct builder *b)
{
	return tsl__error(b->err, TSL_ENOMEM, NULL, TSL_NO_OFFSET,
		"out of memory listing the model's tensors");
}

/* Append ".seg" (or "seg" at the start) to the path; returns the old
 * length to restore, or SIZE_MAX when out of memory. */
static size_t path_push(struct builder *b, const char *seg, size_t len)
{
	size_t old = b->path_len, need = old + len + 2;

	if (need > b->path_cap) {
		size_t cap = b->path_cap ? b->path_cap : 256;
		char *p;

		while (cap < need)
			cap *= 2;
		p = realloc(b->path, cap);
		if (!p)
			return SIZE_MAX;
		b->path = p;
		b->path_cap = cap;
	}
	if (old)
		b->path[b->path_len++] = '.';
	memcpy(b->path + b->path_len, seg, len);
	b->path_len += len;
	b->path[b->path_len] = '\0';
	return old;
}

static size_t path_push_index(struct builder *b, size_t i)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%zu", i);

	return path_push(b, tmp, (size_t)n);
}

static void path_pop(struct builder *b, size_t old)
{
	b->path_len = old;
	if (b->path)
		b->path[old] = '\0';
}

/* List tensor t under the current path. */
static int emit(struct builder *b, const tsl_tensor *t,
	tsl_tensor_origin origin, int state_dict)
{
	tsl_tensor_entry *e;
	size_t len = b->path_len;
	tsl_storage *s;

	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		tsl_tensor_entry *ne = realloc(b->e, cap * sizeof(*ne));

		if (!ne)
			return oom(b);
		b->e = ne;
		b->cap = cap;
	}
	if (b->pool_len + len + 1 > b->pool_cap) {
		size_t cap = b->pool_cap ? b->pool_cap : 4096;
		char *p;

		while (cap < b->pool_len + len + 1)
			cap *= 2;
		p = realloc(b->pool, cap);
		if (!p)
			return oom(b);
		b->pool = p;
		b->pool_cap = cap;
	}
	if (len)
		memcpy(b->pool + b->pool_len, b->path, len);
	b->pool[b->pool_len + len] = '\0';
	e = &b->e[b->n];
	memset(e, 0, sizeof(*e));
	e->name = (const char *)(uintptr_t)b->pool_len;
	b->pool_len += len + 1;
	e->tensor = t;
	e->origin = origin;
	e->state_dict = state_dict;
	e->storage = SIZE_MAX;
	e->alias_of = SIZE_MAX;
	s = tsl_tensor_storage(t);
	if (s) {
		size_t id = tsl__pmap_get(&b->storages, s);

		if (id == SIZE_MAX) {
			id = b->storages.count;
			if (tsl__pmap_put(&b->storages, s, id) < 0)
				return oom(b);
		}
		e->storage = id;
	}
	if (tsl__pmap_put(&b->seen, t, b->n) < 0)
		return oom(b);
	b->n++;
	return TSL_OK;
}

static int walk_value(struct builder *b, const tsl_value *v,
	tsl_tensor_origin origin, unsigned depth);
static int walk_items(struct builder *b, const tsl_value *v,
	tsl_value_kind k, tsl_tensor_origin origin, unsigned depth);

static int walk_module(struct builder *b, const tsl_module *mod,
	tsl_tensor_origin origin, unsigned depth)
{
	const tsl_value *st;
	int put, rc;

	if (depth > WALK_MAX_DEPTH)
		return tsl__error(b->err, TSL_ELIMIT, NULL, TSL_NO_OFFSET,
			"modules nested deeper than %d", WALK_MAX_DEPTH);
	put = tsl__pmap_put(&b->visited, tsl_module_value(mod), 0);
	if (put)
		return put < 0 ? oom(b) : TSL_OK;
	st = tsl_module_state(mod);
	if (st) {
		size_t old = path_push(b, "__getstate__", 12);

		if (old == SIZE_MAX)
			return oom(b);
		rc = walk_value(b, st, TSL_ORIGIN_STATE, depth + 1);
		path_pop(b, old);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < tsl_module_attr_count(mod); i++) {
		tsl_attr a;
		size_t old;

		if (tsl_module_attr(mod, i, &a) || !a.value)
			continue;
		/* parameters and buffers in the state_dict are listed
		 * already (seen); others (non-persistent buffers) keep their
		 * kind */
		old = path_push(b, a.name, strlen(a.name));
		if (old == SIZE_MAX)
			return oom(b);
		rc = walk_value(b, a.value, origin != TSL_ORIGIN_ATTRIBUTE ?
			origin : a.kind == TSL_ATTR_PARAMETER ?
			TSL_ORIGIN_PARAMETER : a.kind == TSL_ATTR_BUFFER ?
			TSL_ORIGIN_BUFFER : origin, depth + 1);
		path_pop(b, old);
		if (rc)
			return rc;
	}
	return TSL_OK;
}

static int walk_value(struct builder *b, const tsl_value *v,
	tsl_tensor_origin origin, unsigned depth)
{
	tsl_value_kind k = tsl_value_kind_of(v);
	size_t n;
	int rc, put;

	if (!v)
		return TSL_OK;
	if (depth > WALK_MAX_DEPTH)
		return tsl__error(b->err, TSL_ELIMIT, NULL, TSL_NO_OFFSET,
			"values nested deeper than %d", WALK_MAX_DEPTH);
	if (!b->shared)
		b->steps++;
	else if (++b->shared_steps > WALK_SHARED_STEPS &&
		b->shared_steps / WALK_SHARED_RATIO > b->steps)
		return tsl__error(b->err, TSL_ELIMIT, NULL, TSL_NO_OFFSET,
			"the saved object's values are shared by so many paths "
			"that naming every tensor takes more than %llu steps",
			(unsigned long long)b->shared_steps);
	switch (k) {
	case TSL_VALUE_TENSOR: {
		const tsl_tensor *t = tsl_value_tensor(v);

		if (!t)
			return TSL_OK;
		if (!b->checkpoint && tsl__pmap_get(&b->seen, t) != SIZE_MAX)
			return TSL_OK;
		return emit(b, t, origin, b->checkpoint);
	}
	case TSL_VALUE_MODULE:
		return walk_module(b, tsl_value_module(v),
			origin == TSL_ORIGIN_CHECKPOINT ? origin :
			origin == TSL_ORIGIN_STATE ? origin :
			TSL_ORIGIN_ATTRIBUTE, depth + 1);
	case TSL_VALUE_LIST:
	case TSL_VALUE_TUPLE:
	case TSL_VALUE_DICT:
	case TSL_VALUE_OBJECT:
		break;
	default:
		return TSL_OK;
	}
	/* containers and objects: in a model walked once, whatever the paths
	 * to them (its tensors are listed once); in a checkpoint every path
	 * is a name, so one reached again is walked again (within the
	 * budget above; values are acyclic, so this ends) */
	put = tsl__pmap_put(&b->visited, v, 0);
	if (put < 0)
		return oom(b);
	if (put && (!b->checkpoint ||
		tsl__pmap_get(&b->barren, v) != SIZE_MAX))
		return TSL_OK;   /* (nothing to name in a barren one) */
	if (put) {
		b->shared++;
		rc = walk_items(b, v, k, origin, depth);
		b->shared--;
		return rc;
	}
	n = b->n;
	rc = walk_items(b, v, k, origin, depth);
	if (!rc && b->checkpoint && b->n == n &&
		tsl__pmap_put(&b->barren, v, 0) < 0)
		return oom(b);
	return rc;
}

/* A dict key that is not a str, named as Python prints it: an int, None,
 * True, False, a float (shortest repr: "0.1", "2.0", "inf").  0 for the
 * other kinds. */
static int key_name(const tsl_value *key, char *buf, size_t cap)
{
	double f;

	switch (tsl_value_kind_of(key)) {
	case TSL_VALUE_INT:
		snprintf(buf, cap, "%" PRId64, tsl_value_int(key));
		return 1;
	case TSL_VALUE_NONE:
		snprintf(buf, cap, "None");
		return 1;
	case TSL_VALUE_BOOL:
		snprintf(buf, cap, "%s", tsl_value_bool(key) ? "True" : "False");
		return 1;
	case TSL_VALUE_FLOAT:
		f = tsl_value_float(key);
		if (f != f) {
			snprintf(buf, cap, "nan");
			return 1;
		}
		for (int prec = 1; prec <= 17; prec++) {
			snprintf(buf, cap, "%.*g", prec, f);
			if (strtod(buf, NULL) == f)
				break;
		}
		if (!strpbrk(buf, ".en"))   /* "2" -> "2.0"; not "inf", "1e+20" */
			strncat(buf, ".0", cap - strlen(buf) - 1);
		return 1;
	default:
		return 0;
	}
}

/* The items of container or object v (of kind k), each under its path. */
static int walk_items(struct builder *b, const tsl_value *v,
	tsl_value_kind k, tsl_tensor_origin origin, unsigned depth)
{
	size_t n;
	int rc;

	n = tsl_value_len(v);
	if (k == TSL_VALUE_OBJECT) {
		const tsl_value *st = tsl_value_state(v);

		if (st) {
			size_t old = path_push(b, "__getstate__", 12);

			if (old == SIZE_MAX)
				return oom(b);
			rc = walk_value(b, st, origin == TSL_ORIGIN_CHECKPOINT ?
				origin : TSL_ORIGIN_STATE, depth + 1);
			path_pop(b, old);
			return rc;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const tsl_value *item;
		size_t old;

		if (k == TSL_VALUE_OBJECT) {
			const char *an = tsl_value_attr_name(v, i);

			item = tsl_value_attr(v, i);
			old = an ? path_push(b, an, strlen(an)) :
				path_push_index(b, i);
		} else if (k == TSL_VALUE_DICT) {
			const tsl_value *key = tsl_value_key(v, i);
			size_t klen;
			const char *ks = NULL;
			char tmp[40];

			item = tsl_value_item(v, i);
			if (tsl_value_kind_of(key) == TSL_VALUE_STRING)
				ks = tsl_value_string(key, &klen);
			if (ks && !memchr(ks, '\0', klen)) {
				old = path_push(b, ks, klen);
			} else if (!ks && key_name(key, tmp, sizeof tmp)) {
				old = path_push(b, tmp, strlen(tmp));
			} else {
				/* a key that no name can hold (a str with a NUL
				 * in it, a tuple, bytes): its position */
				old = path_push_index(b, i);
			}
		} else {
			item = tsl_value_item(v, i);
			old = path_push_index(b, i);
		}
		if (old == SIZE_MAX)
			return oom(b);
		rc = walk_value(b, item, origin, depth + 1);
		path_pop(b, old);
		if (rc)
			return rc;
	}
	return TSL_OK;
}

static int param_cb(void *payload, const char *name, const tsl_tensor *t)
{
	struct builder *b = payload;

	(void)name;
	return tsl__pmap_put(&b->params, t, 0) < 0 ? 1 : 0;
}

static int state_dict_cb(void *payload, const char *name, const tsl_tensor *t)
{
	struct builder *b = payload;
	size_t old;

	b->path_len = 0;
	old = path_push(b, name, strlen(name));
	if (old == SIZE_MAX) {
		oom(b);
		return 1;
	}
	if (emit(b, t, tsl__pmap_get(&b->params, t) != SIZE_MAX ?
			TSL_ORIGIN_PARAMETER : TSL_ORIGIN_BUFFER, 1))
		return 1;
	path_pop(b, 0);
	return 0;
}

/* Equal views: same storage, dtype, offset, shape and strides. */
static int same_view(const tsl_tensor *a, const tsl_tensor *c)
{
	size_t nd = tsl_tensor_ndim(a);

	return tsl_tensor_storage(a) == tsl_tensor_storage(c) &&
		tsl_tensor_dtype(a) == tsl_tensor_dtype(c) &&
		tsl_tensor_storage_offset(a) == tsl_tensor_storage_offset(c) &&
		nd == tsl_tensor_ndim(c) &&
		(nd == 0 || (memcmp(tsl_tensor_shape(a), tsl_tensor_shape(c),
			nd * sizeof(int64_t)) == 0 &&
		 memcmp(tsl_tensor_strides(a), tsl_tensor_strides(c),
			nd * sizeof(int64_t)) == 0));
}

static uint64_t view_hash(const tsl_tensor *t)
{
	uint64_t h = tsl__hash_u64((uintptr_t)tsl_tensor_storage(t)) ^
		tsl__hash_u64((uint64_t)tsl_tensor_storage_offset(t) * 31 +
			(uint64_t)tsl_tensor_dtype(t));

	for (size_t d = 0; d < tsl_tensor_ndim(t); d++)
		h = tsl__hash_u64(h ^ (uint64_t)tsl_tensor_shape(t)[d]) ^
			(uint64_t)tsl_tensor_strides(t)[d];
	return h;
}

/* alias_of for every strided entry, through a hash of the views. */
static int link_aliases(struct builder *b)
{
	size_t cap = 64, *slots;

	while (cap < b->n * 2)
		cap *= 2;
	slots = malloc(cap * sizeof(*slots));
	if (!slots)
		return oom(b);
	for (size_t i = 0; i < cap; i++)
		slots[i] = SIZE_MAX;
	for (size_t i = 0; i < b->n; i++) {
		const tsl_tensor *t = b->e[i].tensor;
		size_t j;

		if (!tsl_tensor_storage(t))
			continue;
		j = view_hash(t) & (cap - 1);
		while (slots[j] != SIZE_MAX) {
			if (same_view(b->e[slots[j]].tensor, t)) {
				b->e[i].alias_of = slots[j];
				break;
			}
			j = (j + 1) & (cap - 1);
		}
		if (slots[j] == SIZE_MAX)
			slots[j] = i;
	}
	free(slots);
	return TSL_OK;
}

static int build(tsl_model *m, struct tsl_tensor_index **out, tsl_error *err)
{
	struct builder b;
	struct tsl_tensor_index *ix;
	const tsl_module *root = tsl_model_root(m);
	int rc = TSL_OK;

	memset(&b, 0, sizeof(b));
	b.m = m;
	b.err = err;
	if (path_push(&b, "", 0) == SIZE_MAX) {
		rc = oom(&b);
		goto fail;
	}
	if (!root) {
		/* a torch.save checkpoint: every tensor of the saved object */
		b.checkpoint = 1;
		rc = walk_value(&b, tsl_model_value(m), TSL_ORIGIN_CHECKPOINT, 0);
		if (rc)
			goto fail;
	} else {
		const tsl_value *c = tsl_model_constants(m);

		rc = tsl_module_named_parameters(root, param_cb, &b);
		if (rc) {
			rc = rc > 0 ? oom(&b) : tsl__error(err, rc, NULL,
				TSL_NO_OFFSET, "cannot list the parameters");
			goto fail;
		}
		rc = tsl_module_state_dict(root, state_dict_cb, &b);
		if (rc) {
			/* a positive value: emit failed and filled err */
			if (rc < 0)
				tsl__error(err, rc, NULL, TSL_NO_OFFSET,
					"cannot list the state_dict");
			rc = rc < 0 ? rc : err && err->code ? err->code :
				TSL_ENOMEM;
			goto fail;
		}
		path_pop(&b, 0);
		rc = walk_module(&b, root, TSL_ORIGIN_ATTRIBUTE, 0);
		if (rc)
			goto fail;
		for (size_t i = 0; c && i < tsl_value_len(c); i++) {
			char tmp[48];
			int tl = snprintf(tmp, sizeof(tmp), "CONSTANTS.c%zu", i);

			path_pop(&b, 0);
			if (path_push(&b, tmp, (size_t)tl) == SIZE_MAX) {
				rc = oom(&b);
				goto fail;
			}
			rc = walk_value(&b, tsl_value_item(c, i),
				TSL_ORIGIN_CONSTANT, 0);
			if (rc)
				goto fail;
		}
	}
	rc = link_aliases(&b);
	if (rc)
		goto fail;
	ix = calloc(1, sizeof(*ix));
	if (!ix) {
		rc = oom(&b);
		goto fail;
	}
	for (size_t i = 0; i < b.n; i++)
		b.e[i].name = b.pool + (uintptr_t)b.e[i].name;
	ix->n = b.n;
	ix->e = b.e;
	ix->pool = b.pool;
	free(b.path);
	tsl__pmap_free(&b.seen);
	tsl__pmap_free(&b.visited);
	tsl__pmap_free(&b.barren);
	tsl__pmap_free(&b.params);
	tsl__pmap_free(&b.storages);
	*out = ix;
	return TSL_OK;
fail:
	free(b.e);
	free(b.pool);
	free(b.path);
	tsl__pmap_free(&b.seen);
	tsl__pmap_free(&b.visited);
	tsl__pmap_free(&b.barren);
	tsl__pmap_free(&b.params);
	tsl__pmap_free(&b.storages);
	return rc;
}

void tsl__tensor_index_free(struct tsl_tensor_index *ix)
{
	if (!ix)
		return;
	free(ix->e);
	free(ix->pool);
	free(ix);
}

TSL_API const char *tsl_tensor_origin_name(tsl_tensor_origin origin)
{
	static const char *const names[] = { "parameter", "buffer",
		"attribute", "state", "constant", "checkpoint" };

	return (unsigned)origin < sizeof(names) / sizeof(names[0]) ?
		names[origin] : "unknown";
}

TSL_API int tsl_model_tensor_count(tsl_model *m, size_t *count,
	tsl_error *err)
{
	struct tsl_tensor_index *ix, *expect = NULL;
	_Atomic(struct tsl_tensor_index *) *slot;
	int rc;

	if (!m || !count)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"NULL argument");
	slot = &m->tindex;
	ix = atomic_load(slot);
	if (!ix) {
		rc = build(m, &ix, err);
		if (rc)
			return rc;
		if (!atomic_compare_exchange_strong(slot, &expect, ix)) {
			tsl__tensor_index_free(ix);
			ix = expect;
		}
	}
	*count = ix->n;
	return TSL_OK;
}

TSL_API int tsl_model_tensor_at(const tsl_model *m, size_t i,
	tsl_tensor_entry *out)
{
	struct tsl_tensor_index *ix;

	if (!m || !out)
		return TSL_EINVAL;
	ix = atomic_load(&m->tindex);
	if (!ix || i >= ix->n)
		return TSL_EINVAL;
	*out = ix->e[i];
	return TSL_OK;
}

TSL_API int tsl_model_tensors(tsl_model *m, tsl_tensor_entry_cb cb,
	void *payload, tsl_error *err)
{
	size_t n;
	int rc;

	if (!cb)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"NULL callback");
	rc = tsl_model_tensor_count(m, &n, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		tsl_tensor_entry e;

		if (tsl_model_tensor_at(m, i, &e) == TSL_OK) {
			rc = cb(payload, &e);
			if (rc)
				return rc;
		}
	}
	return TSL_OK;
}
