/*
 * fuzz_pickle.c - libFuzzer target for the pickle machine alone
 * (lib/pickle).
 *
 * Input: one selector byte, then the pickle.  Bit 0 of the selector chooses
 * the dialect (set: TSL_PICKLE_PYTHON, torch.save's Python pickles; clear:
 * TorchScript's), bit 1 makes the storage callback fail for keys that start
 * with a digit >= '5' (the "missing record" path), bit 2 sets an
 * object_built callback that takes every state dict offered (the machine
 * recycles it: nothing left may reach it), and fails for a type whose
 * name ends in 'E'.  The value left is walked completely (bounded: the
 * graph is a DAG that may share nodes).
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "pickle/pickle.h"
#include "fuzz_common.h"

int FUZZ_ENTRY(const uint8_t *data, size_t size);

struct walk {
	uint64_t visits;
	uint32_t max_depth;
	volatile uint64_t sink;
};

/* storages are opaque to the pickle machine: hand out distinct dummies */
static char dummy_storages[16];

static struct tsl_storage *make_storage(void *payload, int dtype,
	const char *key, const char *location, uint64_t numel, tsl_error *err)
{
	const unsigned *sel = payload;
	size_t kl = strlen(key);

	FUZZ_CHECK(dtype >= 0 && dtype < TSL_DTYPE_COUNT);
	FUZZ_CHECK(location != NULL);
	/* read it: a location pointer that is not a string shows here */
	FUZZ_CHECK(strlen(location) < ((size_t)1 << 40));
	(void)numel;
	if ((*sel & 2) && kl && key[0] >= '5') {
		tsl__error(err, TSL_EFORMAT, NULL, TSL_NO_OFFSET,
			"no record for storage '%s'", key);
		return NULL;
	}
	return (struct tsl_storage *)&dummy_storages[kl & 15];
}

/* Take every state dict offered (lib/module does for modules): the
 * objects keep a NULL state and the dicts are reused by the machine. */
static int object_built(void *payload, tsl_value *obj, bool *consumed,
	tsl_error *err)
{
	const tsl_value *d = obj->u.obj.state;
	size_t tl = strlen(obj->u.obj.type);

	(void)payload;
	FUZZ_CHECK(obj->kind == TSL_VALUE_OBJECT);
	FUZZ_CHECK(d && d->kind == TSL_VALUE_DICT && d->len <= 32);
	for (uint32_t i = 0; i < 2 * d->len; i++)
		FUZZ_CHECK(d->u.seq.items[i] != NULL &&
			d->u.seq.items[i]->depth < d->depth);
	if (tl && obj->u.obj.type[tl - 1] == 'E')
		return tsl__error(err, TSL_EFORMAT, NULL, TSL_NO_OFFSET,
			"refused by the callee");
	*consumed = true;
	return TSL_OK;
}

static void walk_tensor(struct walk *w, const struct tsl_tensor *t,
	unsigned level)
{
	if (!t || level > 4)
		return;
	w->sink += (uint64_t)t->dtype + (uint64_t)t->ndim +
		(uint64_t)tsl__toffset(t);
	for (uint32_t i = 0; i < t->ndim; i++)
		w->sink += (uint64_t)tsl__tshape(t)[i] ^
			(uint64_t)tsl__tstride(t)[i];
	if (!t->has_ext)
		return;
	w->sink += (uint64_t)tsl__text(t)->q_zero_point + (uint64_t)tsl__text(t)->q_axis;
	walk_tensor(w, tsl__text(t)->q_scales, level + 1);
	walk_tensor(w, tsl__text(t)->q_zero_points, level + 1);
	walk_tensor(w, tsl__text(t)->sp_indices, level + 1);
	walk_tensor(w, tsl__text(t)->sp_values, level + 1);
}

static void walk_value(struct walk *w, const tsl_value *v, uint32_t level)
{
	FUZZ_CHECK(v != NULL);
	FUZZ_CHECK(level <= w->max_depth + 1);
	if (++w->visits > 200000)
		return;
	switch (v->kind) {
	case TSL_VALUE_STRING:
	case TSL_VALUE_BYTES:
	case TSL_VALUE_DEVICE:
		FUZZ_CHECK(v->u.s != NULL && v->u.s[v->len] == '\0');
		w->sink += v->len ? (uint8_t)v->u.s[v->len - 1] : 0;
		break;
	case TSL_VALUE_LIST:
	case TSL_VALUE_TUPLE:
		for (uint32_t i = 0; i < v->len; i++) {
			FUZZ_CHECK(v->u.seq.items[i]->depth < v->depth);
			walk_value(w, v->u.seq.items[i], level + 1);
		}
		break;
	case TSL_VALUE_DICT:
		for (uint32_t i = 0; i < 2 * v->len; i++) {
			FUZZ_CHECK(v->u.seq.items[i]->depth < v->depth);
			walk_value(w, v->u.seq.items[i], level + 1);
		}
		break;
	case TSL_VALUE_OBJECT:
		FUZZ_CHECK(v->u.obj.type != NULL);
		if (v->u.obj.state)
			walk_value(w, v->u.obj.state, level + 1);
		break;
	case TSL_VALUE_ENUM:
		FUZZ_CHECK(v->u.enm.type != NULL);
		if (v->u.enm.value)
			walk_value(w, v->u.enm.value, level + 1);
		break;
	case TSL_VALUE_TENSOR:
		walk_tensor(w, tsl__vtensor(v), 0);
		break;
	case TSL_VALUE_NONE:
	case TSL_VALUE_BOOL:
	case TSL_VALUE_INT:
	case TSL_VALUE_FLOAT:
	case TSL_VALUE_COMPLEX:
		break;
	case TSL__VALUE_GLOBAL:
	case TSL__VALUE_STORAGE:
		/* may sit inside a container (the public API reads them as
		 * NONE); never at the top (checked at STOP) */
		FUZZ_CHECK(level > 0);
		break;
	default:
		/* a MARK or an unknown kind never escapes */
		fprintf(stderr, "value of kind %u at level %u\n", v->kind,
			level);
		FUZZ_CHECK(!"bad value kind escaped the pickle machine");
	}
}

int FUZZ_ENTRY(const uint8_t *data, size_t size)
{
	tsl_options opts = TSL_OPTIONS_INIT;
	tsl_limits lim;
	tsl_arena arena;
	tsl_pickle_ctx ctx;
	tsl_error err;
	tsl_value *v = NULL;
	unsigned sel;
	int rc;

	if (size < 1)
		return 0;
	sel = data[0];
	opts.max_meta_bytes = 512u << 20;
	memset(&err, 0, sizeof err);
	FUZZ_CHECK(tsl__limits_from_options(&lim, &opts, &err) == TSL_OK);
	tsl__arena_init(&arena, lim.max_meta_bytes);
	memset(&ctx, 0, sizeof ctx);
	ctx.arena = &arena;
	ctx.limits = &lim;
	ctx.make_storage = make_storage;
	ctx.payload = &sel;
	ctx.record = "fuzz/data.pkl";
	ctx.file_offset = 1;
	ctx.flags = (sel & 1) ? TSL_PICKLE_PYTHON : 0;
	if (sel & 4)
		ctx.object_built = object_built;
	rc = tsl__pickle_load(&v, data + 1, size - 1, &ctx, &err);
	if (rc == TSL_OK) {
		struct walk w = { 0, lim.max_depth, 0 };

		FUZZ_CHECK(v != NULL);
		FUZZ_CHECK(v->depth <= lim.max_depth);
		walk_value(&w, v, 0);
	} else {
		FUZZ_CHECK_FAIL(rc, err);
	}
	tsl__arena_free(&arena);
	return 0;
}
