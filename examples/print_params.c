/*
 * print_params - load a TorchScript model, list its parameters with dtype
 * and shape (in the order of PyTorch's named_parameters()), find one tensor
 * by its dotted path and print its first values.
 *
 *   print_params MODEL.pt [DOTTED.PATH]
 *
 * Without DOTTED.PATH the first parameter is shown.  Without MODEL.pt the
 * fixture $TSL_TEST_DATA/good-scripted-mlp.pt is used (as `make check`
 * does).  Build: cc print_params.c $(pkg-config --cflags --libs tsload)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tsload.h>

/* Print a failed call's tsl_error: message, status name, record, offset. */
static void report(const char *what, int rc, const tsl_error *err)
{
	fprintf(stderr, "print_params: %s: %s (%s)", what, err->message,
		tsl_status_name(rc));
	if (err->record[0])
		fprintf(stderr, " [record %s", err->record);
	if (err->record[0] && err->offset != UINT64_MAX)
		fprintf(stderr, ", offset %" PRIu64, err->offset);
	fputs(err->record[0] ? "]\n" : "\n", stderr);
}

static void print_shape(const tsl_tensor *t)
{
	const int64_t *shape = tsl_tensor_shape(t);
	size_t d, n = tsl_tensor_ndim(t);

	putchar('[');
	for (d = 0; d < n; d++)
		printf("%s%" PRId64, d ? ", " : "", shape[d]);
	putchar(']');
}

struct listing {
	size_t count;
	char first[256];   /* the first name (names live only during the call) */
};

/* tsl_named_tensor_cb: called once per parameter; 0 = go on. */
static int print_one(void *payload, const char *name, const tsl_tensor *t)
{
	struct listing *l = payload;

	if (l->count++ == 0)
		snprintf(l->first, sizeof l->first, "%s", name);
	printf("  %-32s %-9s ", name, tsl_dtype_name(tsl_tensor_dtype(t)));
	print_shape(t);
	printf("  %s\n", tsl_tensor_device(t));
	return 0;
}

/* Print element i of a few common dtypes; p points at the element. */
static void print_elem(tsl_dtype dt, const unsigned char *p)
{
	switch (dt) {
	case TSL_FLOAT32: { float v; memcpy(&v, p, sizeof v); printf("%g", v); break; }
	case TSL_FLOAT64: { double v; memcpy(&v, p, sizeof v); printf("%g", v); break; }
	case TSL_INT64: { int64_t v; memcpy(&v, p, sizeof v); printf("%" PRId64, v); break; }
	case TSL_INT32: { int32_t v; memcpy(&v, p, sizeof v); printf("%" PRId32, v); break; }
	case TSL_INT16: { int16_t v; memcpy(&v, p, sizeof v); printf("%d", v); break; }
	case TSL_INT8: printf("%d", (int)(signed char)*p); break;
	case TSL_UINT8: printf("%u", (unsigned)*p); break;
	case TSL_BOOL: printf("%s", *p ? "True" : "False"); break;
	default: {
		/* other dtypes: the element's bytes in hex */
		size_t i, n = tsl_dtype_size(dt);

		printf("0x");
		for (i = 0; i < n; i++)
			printf("%02x", p[i]);
	}
	}
}

/* The first `max` elements in logical (row-major) order: element k's
 * index is decomposed over the shape and mapped through the strides, so
 * views (transposed, sliced, expanded) print what PyTorch would print. */
static int print_values(const tsl_tensor *t, uint64_t max)
{
	const int64_t *shape = tsl_tensor_shape(t), *stride = tsl_tensor_strides(t);
	size_t nd = tsl_tensor_ndim(t), isz = tsl_dtype_size(tsl_tensor_dtype(t));
	uint64_t k, numel = tsl_tensor_numel(t);
	const void *data;
	tsl_error err;
	int rc;

	/* the first access to a storage maps (or copies) its record */
	rc = tsl_tensor_data(t, &data, &err);
	if (rc != TSL_OK) {
		report("tsl_tensor_data", rc, &err);
		return 1;
	}
	if (!data && numel) {   /* a record without bytes (traced input) */
		printf("  values: (no data stored)\n");
		return 0;
	}
	printf("  values:");
	for (k = 0; k < numel && k < max; k++) {
		uint64_t rest = k;
		int64_t off = 0;

		for (size_t d = nd; d-- > 0;) {
			off += (int64_t)(rest % (uint64_t)shape[d]) * stride[d];
			rest /= (uint64_t)shape[d];
		}
		putchar(' ');
		print_elem(tsl_tensor_dtype(t), (const unsigned char *)data +
			(size_t)off * isz);
	}
	printf("%s\n", numel > max ? " ..." : numel == 0 ? " (empty)" : "");
	return 0;
}

int main(int argc, char **argv)
{
	tsl_options opts = TSL_OPTIONS_INIT;
	struct listing l = { 0, "" };
	char fixture[4096];
	const char *path = argc > 1 ? argv[1] : NULL, *want;
	const tsl_module *root;
	const tsl_tensor *t;
	tsl_model *m;
	tsl_error err;
	int rc;

	if (!path && getenv("TSL_TEST_DATA")) {
		snprintf(fixture, sizeof fixture, "%s/good-scripted-mlp.pt",
			getenv("TSL_TEST_DATA"));
		path = fixture;
	}
	if (!path || argc > 3) {
		fprintf(stderr, "usage: print_params MODEL.pt [DOTTED.PATH]\n");
		return 2;
	}

	/* every storage goes to the CPU, wherever it was saved */
	opts.map_location = "cpu";
	rc = tsl_load_path(&m, path, &opts, &err);
	if (rc != TSL_OK) {
		report(path, rc, &err);
		return 1;
	}
	root = tsl_model_root(m);
	if (!root) {   /* a torch.save checkpoint has no module tree */
		fprintf(stderr, "print_params: %s: not a module\n", path);
		tsl_model_free(m);
		return 1;
	}
	printf("%s: %s\n", path, tsl_module_type(root));
	printf("parameters:\n");
	rc = tsl_module_named_parameters(root, print_one, &l);
	if (rc != 0) {
		fprintf(stderr, "print_params: walk failed: %s\n",
			tsl_status_name(rc));
		tsl_model_free(m);
		return 1;
	}
	printf("  (%zu parameters)\n", l.count);

	want = argc > 2 ? argv[2] : l.first;
	t = tsl_module_find_tensor(root, want);
	if (!t) {
		const tsl_value *v = tsl_module_find(root, want);

		fprintf(stderr, "print_params: '%s' %s\n", want, v ?
			"is not a tensor" : "not found");
		tsl_model_free(m);
		return 1;
	}
	if (tsl_tensor_layout(t) != TSL_LAYOUT_STRIDED) {
		printf("%s: a sparse tensor (see tsl_tensor_sparse_values)\n",
			want);
		tsl_model_free(m);
		return 0;
	}
	printf("%s: %s ", want, tsl_dtype_name(tsl_tensor_dtype(t)));
	print_shape(t);
	printf(", storage %s, offset %" PRId64 "\n",
		tsl_storage_record(tsl_tensor_storage(t)),
		tsl_tensor_storage_offset(t));
	rc = print_values(t, 6);
	tsl_model_free(m);   /* every pointer above dies with the model */
	return rc;
}
