/*
 * fuzz_load.c - libFuzzer target for the whole load-from-buffer path, through
 * the public API only: tsl_archive_open_buffer, tsl_model_load (map_location
 * "cpu"), a walk of every module (attributes, methods, method sources,
 * parameters, buffers, state dict) and every value, tsl_model_materialize
 * with one thread, the XXH3 of every tensor and storage, the list of every
 * tensor with a float32 gather of each, and the extra files.
 * Bits of the input size choose TSL_OPEN_VERIFY_CRC, restore_shapes and
 * TSL_OPEN_CHECKPOINTS (torch.save zips, where the library has it).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tsload.h"
#include "fuzz_common.h"

int FUZZ_ENTRY(const uint8_t *data, size_t size);

/* hashing a view reads every element: skip views larger than this (a
 * zero-stride view may be huge over a tiny storage; that is legal) */
#define FUZZ_MAX_HASH_BYTES (64u << 20)

struct walk {
	uint64_t visits;
	uint64_t hashed;   /* bytes hashed so far (a DAG may repeat a tensor) */
	volatile uint64_t sink;
};

static void walk_tensor(struct walk *w, const tsl_tensor *t, unsigned level)
{
	tsl_error err;
	uint64_t h, numel, nbytes;
	const void *p;
	size_t nd;
	int rc;

	if (!t || level > 3)
		return;
	nd = tsl_tensor_ndim(t);
	for (size_t i = 0; i < nd; i++)
		w->sink += (uint64_t)tsl_tensor_shape(t)[i] ^
			(uint64_t)tsl_tensor_strides(t)[i];
	w->sink += (uint64_t)tsl_tensor_storage_offset(t);
	FUZZ_CHECK(tsl_tensor_device(t) != NULL);
	FUZZ_CHECK(tsl_tensor_saved_device(t) != NULL);
	numel = tsl_tensor_numel(t);
	w->sink += numel + (uint64_t)tsl_tensor_dtype(t);
	walk_tensor(w, tsl_tensor_q_scales(t), level + 1);
	walk_tensor(w, tsl_tensor_q_zero_points(t), level + 1);
	walk_tensor(w, tsl_tensor_sparse_indices(t), level + 1);
	walk_tensor(w, tsl_tensor_sparse_values(t), level + 1);
	if (numel > FUZZ_MAX_HASH_BYTES)
		return;
	nbytes = numel * (tsl_dtype_size(tsl_tensor_dtype(t)) + 1);
	if (nbytes > FUZZ_MAX_HASH_BYTES ||
		w->hashed > 4 * (uint64_t)FUZZ_MAX_HASH_BYTES)
		return;
	w->hashed += nbytes;
	memset(&err, 0, sizeof err);
	rc = tsl_tensor_xxh3(t, &h, &err);
	if (rc)
		FUZZ_CHECK_FAIL(rc, err);
	else
		w->sink += h;
	if (tsl_tensor_storage(t)) {
		memset(&err, 0, sizeof err);
		rc = tsl_tensor_data(t, &p, &err);
		if (rc)
			FUZZ_CHECK_FAIL(rc, err);
	}
}

static void walk_value(struct walk *w, const tsl_value *v, unsigned level)
{
	size_t n;

	if (!v || ++w->visits > 100000)
		return;
	FUZZ_CHECK(level <= 1100);
	w->sink += (uint64_t)tsl_value_kind_of(v);
	FUZZ_CHECK(tsl_value_kind_name(tsl_value_kind_of(v)) != NULL);
	switch (tsl_value_kind_of(v)) {
	case TSL_VALUE_STRING:
	case TSL_VALUE_BYTES:
	case TSL_VALUE_DEVICE: {
		size_t len = 0;
		const char *s = tsl_value_string(v, &len);

		FUZZ_CHECK(s != NULL && s[len] == '\0');
		break;
	}
	case TSL_VALUE_LIST:
	case TSL_VALUE_TUPLE:
		(void)tsl_value_type_tag(v);
		n = tsl_value_len(v);
		for (size_t i = 0; i < n; i++)
			walk_value(w, tsl_value_item(v, i), level + 1);
		break;
	case TSL_VALUE_DICT:
		(void)tsl_value_type_tag(v);
		n = tsl_value_len(v);
		for (size_t i = 0; i < n; i++) {
			walk_value(w, tsl_value_key(v, i), level + 1);
			walk_value(w, tsl_value_item(v, i), level + 1);
		}
		break;
	case TSL_VALUE_OBJECT:
	case TSL_VALUE_MODULE:
		FUZZ_CHECK(tsl_value_type_name(v) != NULL);
		n = tsl_value_len(v);
		for (size_t i = 0; i < n; i++) {
			/* NULL for a key that is not a string */
			(void)tsl_value_attr_name(v, i);
			walk_value(w, tsl_value_attr(v, i), level + 1);
		}
		walk_value(w, tsl_value_state(v), level + 1);
		break;
	case TSL_VALUE_ENUM:
		(void)tsl_value_enum_name(v);
		walk_value(w, tsl_value_enum_value(v), level + 1);
		break;
	case TSL_VALUE_TENSOR:
		walk_tensor(w, tsl_value_tensor(v), 0);
		break;
	case TSL_VALUE_COMPLEX: {
		double re, im;

		tsl_value_complex(v, &re, &im);
		break;
	}
	default:
		w->sink += (uint64_t)tsl_value_int(v) + (uint64_t)tsl_value_bool(v);
		(void)tsl_value_float(v);
	}
}

static int on_tensor(void *payload, const char *name, const tsl_tensor *t)
{
	struct walk *w = payload;

	FUZZ_CHECK(name != NULL);
	w->sink += strlen(name) + tsl_tensor_ndim(t);
	return 0;
}

static int on_module(void *payload, const char *name, const tsl_module *mod)
{
	struct walk *w = payload;
	size_t n;

	FUZZ_CHECK(name != NULL && mod != NULL);
	FUZZ_CHECK(tsl_module_type(mod) != NULL);
	w->sink += (uint64_t)tsl_module_training(mod);
	FUZZ_CHECK(tsl_value_module(tsl_module_value(mod)) == mod);
	walk_value(w, tsl_module_state(mod), 0);
	n = tsl_module_attr_count(mod);
	for (size_t i = 0; i < n; i++) {
		tsl_attr a;

		FUZZ_CHECK(tsl_module_attr(mod, i, &a) == TSL_OK);
		FUZZ_CHECK(a.name != NULL);
		if (a.value)
			walk_value(w, a.value, 0);
		(void)tsl_module_find(mod, a.name);
	}
	n = tsl_module_method_count(mod);
	for (size_t i = 0; i < n; i++) {
		tsl_method me;
		tsl_error err;
		const char *src;
		size_t len;
		int rc;

		FUZZ_CHECK(tsl_module_method(mod, i, &me) == TSL_OK);
		FUZZ_CHECK(me.name != NULL);
		for (size_t k = 0; k < me.nargs; k++)
			FUZZ_CHECK(me.arg_names[k] != NULL);
		memset(&err, 0, sizeof err);
		rc = tsl_module_method_source(mod, i, &src, &len, &err);
		if (rc)
			FUZZ_CHECK_FAIL(rc, err);
		else if (len)
			w->sink += (uint8_t)src[len - 1];
	}
	return 0;
}

/* The list of every tensor (lib/tensor/walk.c) and the consumer services
 * on each (lib/tensor/gather.c): contiguity, byte size, the zero-copy
 * pointer, and a gather to float32 where that conversion exists, within
 * the hashing budget. */
static void walk_tensor_list(struct walk *w, tsl_model *m)
{
	tsl_error err;
	size_t n;
	int rc;

	memset(&err, 0, sizeof err);
	rc = tsl_model_tensor_count(m, &n, &err);
	if (rc) {
		FUZZ_CHECK_FAIL(rc, err);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		tsl_tensor_entry e;
		uint64_t nb, gs;
		const void *p;
		size_t sz;
		void *buf;

		FUZZ_CHECK(tsl_model_tensor_at(m, i, &e) == TSL_OK);
		FUZZ_CHECK(e.name != NULL && e.tensor != NULL);
		FUZZ_CHECK(e.alias_of == SIZE_MAX || e.alias_of < i);
		w->sink += strlen(e.name) + e.storage +
			(uint64_t)tsl_tensor_is_contiguous(e.tensor);
		memset(&err, 0, sizeof err);
		rc = tsl_tensor_nbytes(e.tensor, &nb, &err);
		if (rc)
			FUZZ_CHECK_FAIL(rc, err);
		if (rc || nb > FUZZ_MAX_HASH_BYTES ||
		    w->hashed > 4 * (uint64_t)FUZZ_MAX_HASH_BYTES)
			continue;
		memset(&err, 0, sizeof err);
		rc = tsl_tensor_contiguous_data(e.tensor, &p, &sz, &err);
		if (rc)
			FUZZ_CHECK_FAIL(rc, err);
		if (!tsl_dtype_can_gather(tsl_tensor_dtype(e.tensor),
				TSL_FLOAT32))
			continue;
		memset(&err, 0, sizeof err);
		rc = tsl_tensor_gather_size(e.tensor, TSL_FLOAT32, &gs, &err);
		if (rc) {
			FUZZ_CHECK_FAIL(rc, err);
			continue;
		}
		if (gs > FUZZ_MAX_HASH_BYTES)
			continue;
		w->hashed += gs;
		buf = malloc(gs ? gs : 1);
		if (!buf)
			continue;
		memset(&err, 0, sizeof err);
		rc = tsl_tensor_gather(e.tensor, TSL_FLOAT32, buf, gs, &err);
		if (rc)
			FUZZ_CHECK_FAIL(rc, err);
		else if (gs)
			w->sink += ((const uint8_t *)buf)[gs - 1];
		free(buf);
	}
}

static void walk_model(struct walk *w, tsl_model *m)
{
	const tsl_module *root = tsl_model_root(m);
	tsl_archive *ar = tsl_model_archive(m);
	size_t n;
	int rc;

	if (root) {
		rc = tsl_module_named_modules(root, on_module, w);
		FUZZ_CHECK(rc <= 0); /* ELIMIT/ENOMEM possible */
		rc = tsl_module_named_parameters(root, on_tensor, w);
		FUZZ_CHECK(rc <= 0);
		rc = tsl_module_named_buffers(root, on_tensor, w);
		FUZZ_CHECK(rc <= 0);
		rc = tsl_module_state_dict(root, on_tensor, w);
		FUZZ_CHECK(rc <= 0);
		(void)tsl_module_find(root, "0.weight");
		(void)tsl_module_find_tensor(root, "weight");
		walk_value(w, tsl_module_value(root), 0);
	}
#ifdef TSL_OPEN_CHECKPOINTS
	/* a torch.save checkpoint has no root module, only a value */
	FUZZ_CHECK(root || tsl_model_value(m) != NULL);
	walk_value(w, tsl_model_value(m), 0);
#else
	FUZZ_CHECK(root != NULL);
#endif
	walk_value(w, tsl_model_constants(m), 0);
	walk_value(w, tsl_model_traced_inputs(m), 0);
	walk_tensor_list(w, m);

	{
		tsl_error err;

		memset(&err, 0, sizeof err);
		rc = tsl_model_materialize(m, 1, &err);
		if (rc)
			FUZZ_CHECK_FAIL(rc, err);
	}
	n = tsl_model_storage_count(m);
	for (size_t i = 0; i < n; i++) {
		tsl_storage *s = tsl_model_storage(m, i);
		tsl_error err;
		uint64_t h;

		FUZZ_CHECK(s != NULL);
		FUZZ_CHECK(tsl_storage_record(s) != NULL);
		memset(&err, 0, sizeof err);
		rc = tsl_storage_xxh3(s, &h, &err);
		if (rc)
			FUZZ_CHECK_FAIL(rc, err);
	}
	/* hash every tensor (after materialize, and again through the walk) */
	w->visits = 0;
	if (root)
		walk_value(w, tsl_module_value(root), 0);

	n = tsl_archive_extra_count(ar);
	for (size_t i = 0; i < n; i++) {
		const char *name = tsl_archive_extra_name(ar, i);
		const void *p;
		size_t len;
		tsl_error err;

		FUZZ_CHECK(name != NULL);
		memset(&err, 0, sizeof err);
		rc = tsl_archive_extra_read(ar, name, &p, &len, &err);
		if (rc)
			FUZZ_CHECK_FAIL(rc, err);
		else if (len)
			w->sink += ((const uint8_t *)p)[len - 1];
	}
}

int FUZZ_ENTRY(const uint8_t *data, size_t size)
{
	tsl_options opts = TSL_OPTIONS_INIT;
	tsl_archive *ar = NULL;
	tsl_model *m = NULL;
	tsl_error err;
	struct walk w = { 0, 0, 0 };
	int rc;

	opts.map_location = "cpu";
	opts.max_record_bytes = 64u << 20;
	opts.max_total_bytes = 256u << 20;
	opts.max_meta_bytes = 512u << 20;
	if (size & 2)
		opts.flags |= TSL_OPEN_VERIFY_CRC;
	opts.restore_shapes = (int)(size & 1);
#ifdef TSL_OPEN_CHECKPOINTS
	if (size & 4)
		opts.flags |= TSL_OPEN_CHECKPOINTS;
#endif
	memset(&err, 0, sizeof err);
	rc = tsl_archive_open_buffer(&ar, data, size, &opts, &err);
	if (rc != TSL_OK) {
		FUZZ_CHECK_FAIL(rc, err);
		FUZZ_CHECK(ar == NULL);
		return 0;
	}
	memset(&err, 0, sizeof err);
	rc = tsl_model_load(&m, ar, &opts, &err);
	if (rc < 0) {
		FUZZ_CHECK_FAIL(rc, err);
		FUZZ_CHECK(m == NULL);
		tsl_archive_free(ar);
		return 0;
	}
	/* the model keeps the archive alive: free the caller's reference now */
	tsl_archive_free(ar);
	walk_model(&w, m);
	tsl_model_free(m);
	return 0;
}
