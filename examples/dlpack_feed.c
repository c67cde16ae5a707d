/*
 * dlpack_feed - hand a model's weights to another library through DLPack,
 * zero-copy.
 *
 *   dlpack_feed MODEL.pt [DOTTED.PATH]
 *
 * Every tensor of the model's state_dict (or only DOTTED.PATH) is exported
 * with tsl_tensor_to_dlpack() and given to other_library_take(), which
 * stands for any consumer of DLPack: it knows nothing of tsload, reads the
 * DLTensor's dtype, shape, strides and data, and calls the deleter when it
 * is done.  The model is freed *before* the consumer reads: the managed
 * tensor keeps the model's memory alive until its deleter runs.
 * Without MODEL.pt, $TSL_TEST_DATA/good-resnet-script.pt is used.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dlpack/dlpack.h>
#include <tsload.h>
#include <tsload_dlpack.h>

/* ---- the "other library": plain C, DLPack only ---------------------- */

/* One element as a double; 0 when the dtype is not handled here. */
static int load_elem(DLDataType dt, const unsigned char *p, double *out)
{
	if (dt.lanes != 1)
		return 0;
	if (dt.code == kDLFloat && dt.bits == 32) {
		float v; memcpy(&v, p, 4); *out = v; return 1;
	}
	if (dt.code == kDLFloat && dt.bits == 64) {
		double v; memcpy(&v, p, 8); *out = v; return 1;
	}
	if (dt.code == kDLInt && dt.bits == 64) {
		int64_t v; memcpy(&v, p, 8); *out = (double)v; return 1;
	}
	if (dt.code == kDLInt && dt.bits == 32) {
		int32_t v; memcpy(&v, p, 4); *out = v; return 1;
	}
	if (dt.code == kDLInt && dt.bits == 8) {
		*out = (signed char)*p; return 1;
	}
	if (dt.code == kDLUInt && dt.bits == 8) {
		*out = *p; return 1;
	}
	return 0;
}

/* Take ownership of a managed tensor, sum its elements, release it.
 * Returns 0 and *sum, or -1 for a dtype or device it does not handle. */
static int other_library_take(DLManagedTensor *mt, double *sum)
{
	const DLTensor *t = &mt->dl_tensor;
	const unsigned char *base;
	int64_t idx[64] = { 0 }, numel = 1;
	size_t isz = (size_t)(t->dtype.bits * t->dtype.lanes + 7) / 8;
	double v = 0;
	int d, ok = t->device.device_type == kDLCPU && t->ndim <= 64;

	*sum = 0;
	for (d = 0; d < t->ndim; d++)
		numel *= t->shape[d];
	base = (const unsigned char *)t->data + t->byte_offset;
	for (int64_t k = 0; ok && k < numel; k++) {
		int64_t off = 0, stride = 1;

		/* strides are in elements; NULL means compact row-major */
		for (d = t->ndim - 1; d >= 0; d--) {
			off += idx[d] * (t->strides ? t->strides[d] : stride);
			stride *= t->shape[d];
		}
		ok = load_elem(t->dtype, base + off * (int64_t)isz, &v);
		if (ok)
			*sum += v;
		for (d = t->ndim - 1; d >= 0; d--) {   /* next index */
			if (++idx[d] < t->shape[d])
				break;
			idx[d] = 0;
		}
	}
	/* done with it: the producer's memory may go now */
	if (mt->deleter)
		mt->deleter(mt);
	return ok ? 0 : -1;
}

/* ---- the tsload side ------------------------------------------------ */

struct feed {
	const char *only;        /* a dotted path, or NULL for all */
	DLManagedTensor *out[4096];
	char names[4096][128];
	size_t n;
	int rc;
	tsl_error err;
};

static int export_one(void *payload, const char *name, const tsl_tensor *t)
{
	struct feed *f = payload;

	if (f->only && strcmp(f->only, name) != 0)
		return 0;
	if (f->n == sizeof f->out / sizeof f->out[0])
		return 1;   /* stop: enough for an example */
	f->rc = tsl_tensor_to_dlpack(t, &f->out[f->n], &f->err);
	if (f->rc == TSL_EUNSUPPORTED) {  /* sparse, packed dtype... */
		printf("  %-32s skipped: %s\n", name, f->err.message);
		f->rc = TSL_OK;
		return 0;
	}
	if (f->rc != TSL_OK)
		return 1;   /* stop the walk */
	snprintf(f->names[f->n], sizeof f->names[0], "%s", name);
	f->n++;
	return 0;
}

int main(int argc, char **argv)
{
	static struct feed f;
	tsl_options opts = TSL_OPTIONS_INIT;
	char fixture[4096];
	const char *path = argc > 1 ? argv[1] : NULL;
	tsl_model *m;
	tsl_error err;
	size_t i, summed = 0;
	int rc;

	if (!path && getenv("TSL_TEST_DATA")) {
		snprintf(fixture, sizeof fixture, "%s/good-resnet-script.pt",
			getenv("TSL_TEST_DATA"));
		path = fixture;
	}
	if (!path || argc > 3) {
		fprintf(stderr, "usage: dlpack_feed MODEL.pt [DOTTED.PATH]\n");
		return 2;
	}
	f.only = argc > 2 ? argv[2] : NULL;

	opts.map_location = "cpu";      /* DLPack data on kDLCPU */
	rc = tsl_load_path(&m, path, &opts, &err);
	if (rc != TSL_OK) {
		fprintf(stderr, "dlpack_feed: %s: %s (%s)\n", path, err.message,
			tsl_status_name(rc));
		return 1;
	}
	if (!tsl_model_root(m)) {
		fprintf(stderr, "dlpack_feed: %s: not a module\n", path);
		tsl_model_free(m);
		return 1;
	}
	/* export every state_dict entry: each export materializes its
	 * storage and takes a reference on the model */
	rc = tsl_module_state_dict(tsl_model_root(m), export_one, &f);
	if (f.rc != TSL_OK) {
		fprintf(stderr, "dlpack_feed: export: %s (%s)\n", f.err.message,
			tsl_status_name(f.rc));
		rc = 1;
	} else if (rc < 0) {
		fprintf(stderr, "dlpack_feed: walk: %s\n", tsl_status_name(rc));
		rc = 1;
	} else {
		rc = 0;
	}

	/* The model can go now: the exported tensors keep it alive. */
	tsl_model_free(m);

	for (i = 0; i < f.n; i++) {
		const DLTensor *t = &f.out[i]->dl_tensor;
		double sum;
		char shape[128] = "";
		size_t o = 0;

		for (int d = 0; d < t->ndim && o < sizeof shape; d++)
			o += (size_t)snprintf(shape + o, sizeof shape - o, "%s%" PRId64,
				d ? "," : "", t->shape[d]);
		printf("  %-32s code %u bits %u [%s] ", f.names[i],
			(unsigned)t->dtype.code, (unsigned)t->dtype.bits, shape);
		if (other_library_take(f.out[i], &sum) == 0) {  /* deleter runs */
			printf("sum %.6g\n", sum);
			summed++;
		} else {
			printf("(not summed)\n");
		}
	}
	printf("%zu tensors fed through DLPack, %zu summed\n", f.n, summed);
	return rc;
}
