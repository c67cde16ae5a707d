/* tsinfo - inspect a TorchScript archive: its records, its module tree, or
 * the canonical JSON dump. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsinfo.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tsinfo [OPTIONS] ARCHIVE\n"
		"  (default)            the module tree: types, parameters and buffers\n"
		"                       with dtype and shape, methods, extra files\n"
		"  --json               the canonical JSON dump (DUMP.md)\n"
		"  --records            the archive's records: name, method, sizes,\n"
		"                       data offset and alignment\n"
		"  --map-location DEV   as torch.jit.load's map_location (cpu, cuda:0...)\n"
		"  --no-hash            skip tensor hashes (reads no tensor bytes)\n"
		"  --checkpoint         also read torch.save zip checkpoints (their\n"
		"                       value tree); without it they are refused\n"
		"  --version            print the library version\n");
}

static int list_records(tsl_archive *ar)
{
	size_t i, n = tsl_archive_record_count(ar);
	tsl_error err;

	printf("# %s: prefix '%s', format version %" PRIu64 ", %zu records, %s\n",
		tsl_file_kind_name(tsl_archive_kind(ar)), tsl_archive_prefix(ar),
		tsl_archive_format_version(ar), n,
		tsl_archive_big_endian(ar) ? "big-endian" : "little-endian");
	printf("%-8s %12s %12s %12s %5s  %s\n", "method", "size", "compressed",
		"data_offset", "align", "name");
	for (i = 0; i < n; i++) {
		tsl_record_info r;
		uint64_t off;
		unsigned align = 0;

		if (tsl_archive_record(ar, i, &r) != TSL_OK)
			return 1;
		if (tsl_archive_record_data_offset(ar, i, &off, &err) != TSL_OK) {
			fprintf(stderr, "tsinfo: %s: %s\n", r.name, err.message);
			return 1;
		}
		for (align = 1; align < 4096 && off % (align * 2) == 0; align *= 2)
			;
		printf("%-8s %12" PRIu64 " %12" PRIu64 " %12" PRIu64 " %5u  %s\n",
			r.method == 0 ? "stored" : r.method == 8 ? "deflate" : "other",
			r.size, r.compressed_size, off, align, r.name);
	}
	return 0;
}

static void human(char *buf, size_t cap, uint64_t n)
{
	const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	int i = 0;

	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(buf, cap, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

static void shape_str(char *buf, size_t cap, const tsl_tensor *t)
{
	size_t n = tsl_tensor_ndim(t), o = 0;
	const int64_t *s = tsl_tensor_shape(t);

	o += (size_t)snprintf(buf + o, cap - o, "[");
	for (size_t i = 0; i < n && o < cap; i++)
		o += (size_t)snprintf(buf + o, cap - o, "%s%" PRId64,
			i ? ", " : "", s[i]);
	if (o < cap)
		snprintf(buf + o, cap - o, "]");
}

struct totals {
	uint64_t count, bytes;
};

static int print_tensor(void *payload, const char *name, const tsl_tensor *t)
{
	struct totals *tot = payload;
	char shape[256], size[32];
	uint64_t bytes = tsl_tensor_numel(t) *
		tsl_dtype_size(tsl_tensor_dtype(t));

	shape_str(shape, sizeof shape, t);
	human(size, sizeof size, bytes);
	printf("  %-40s %-9s %-22s %10s  %s\n", name,
		tsl_dtype_name(tsl_tensor_dtype(t)), shape, size,
		tsl_tensor_device(t));
	tot->count++;
	tot->bytes += bytes;
	return 0;
}

static int print_module(void *payload, const char *name, const tsl_module *m)
{
	size_t i, n = tsl_module_method_count(m);
	int depth = 0;

	tsl_error err;

	(void)payload;
	for (const char *p = name; *p; p++)
		depth += *p == '.';
	printf("%*s%s%s%s\n", 2 * (depth + (*name != 0)), "",
		*name ? name : "(root)", ": ", tsl_module_type(m));
	if (tsl_module_methods_load(m, &err) != TSL_OK)
		printf("%*s  (methods unreadable: %s)\n",
			2 * (depth + (*name != 0)), "", err.message);
	for (i = 0; i < n; i++) {
		tsl_method me;

		tsl_module_method(m, i, &me);
		printf("%*s  def %s(", 2 * (depth + (*name != 0)), "", me.name);
		for (size_t a = 0; a < me.nargs; a++)
			printf("%s%s: %s", a ? ", " : "", me.arg_names[a],
				a == 0 ? "Self" : me.arg_types[a]);
		printf(") -> %s\n", me.return_types[0]);
	}
	return 0;
}

static int print_checkpoint(tsl_model *m)
{
	const tsl_value *v = tsl_model_value(m);
	struct totals t = { 0, 0 };
	char size[32];

	printf("%s\n\n", tsl_file_kind_name(tsl_model_kind(m)));
	if (tsl_value_kind_of(v) != TSL_VALUE_DICT) {
		printf("a %s (use --json to see it)\n",
			tsl_value_kind_name(tsl_value_kind_of(v)));
		return 0;
	}
	printf("Tensors:\n");
	for (size_t i = 0; i < tsl_value_len(v); i++) {
		const tsl_value *k = tsl_value_key(v, i);
		const tsl_tensor *te = tsl_value_tensor(tsl_value_item(v, i));

		if (te && tsl_value_kind_of(k) == TSL_VALUE_STRING)
			print_tensor(&t, tsl_value_string(k, NULL), te);
	}
	human(size, sizeof size, t.bytes);
	printf("  (%" PRIu64 " tensors, %s)\n", t.count, size);
	return 0;
}

static int print_tree(tsl_model *m)
{
	const tsl_module *root = tsl_model_root(m);
	tsl_archive *ar = tsl_model_archive(m);
	struct totals tp = { 0, 0 }, tb = { 0, 0 };
	char size[32];
	size_t i, n;

	printf("%s, format version %" PRIu64 ", prefix '%s'\n\nModules:\n",
		tsl_file_kind_name(tsl_archive_kind(ar)),
		tsl_archive_format_version(ar), tsl_archive_prefix(ar));
	tsl_module_named_modules(root, print_module, NULL);
	printf("\nParameters:\n");
	tsl_module_named_parameters(root, print_tensor, &tp);
	human(size, sizeof size, tp.bytes);
	printf("  (%" PRIu64 " parameters, %s)\n\nBuffers:\n", tp.count, size);
	tsl_module_named_buffers(root, print_tensor, &tb);
	human(size, sizeof size, tb.bytes);
	printf("  (%" PRIu64 " buffers, %s)\n", tb.count, size);
	printf("\nConstants: %zu\n", tsl_value_len(tsl_model_constants(m)));
	n = tsl_archive_extra_count(ar);
	printf("\nExtra files: %zu\n", n);
	for (i = 0; i < n; i++) {
		const void *d;
		size_t sz;
		tsl_error err;

		if (tsl_archive_extra_read(ar, tsl_archive_extra_name(ar, i), &d,
			&sz, &err) == TSL_OK)
			printf("  %-40s %zu bytes\n", tsl_archive_extra_name(ar, i),
				sz);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	int records = 0, json = 0, hashes = 1, i, rc;
	tsl_options opts = TSL_OPTIONS_INIT;
	tsl_archive *ar;
	tsl_model *m;
	tsl_error err;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--records") == 0)
			records = 1;
		else if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--no-hash") == 0)
			hashes = 0;
		else if (strcmp(argv[i], "--checkpoint") == 0)
			opts.flags |= TSL_OPEN_CHECKPOINTS;
		else if (strcmp(argv[i], "--map-location") == 0 && i + 1 < argc)
			opts.map_location = argv[++i];
		else if (strcmp(argv[i], "--version") == 0) {
			printf("tsinfo (tsload) %s\n", tsl_version());
			return 0;
		} else if (strcmp(argv[i], "--help") == 0 ||
			strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			usage(stderr);
			return 2;
		} else if (path) {
			usage(stderr);
			return 2;
		} else
			path = argv[i];
	}
	if (!path) {
		usage(stderr);
		return 2;
	}
	if (tsl_archive_open_path(&ar, path, &opts, &err) != TSL_OK) {
		fprintf(stderr, "tsinfo: %s: %s\n", path, err.message);
		return 1;
	}
	if (records) {
		rc = list_records(ar);
		tsl_archive_free(ar);
		return rc;
	}
	rc = tsl_model_load(&m, ar, &opts, &err);
	tsl_archive_free(ar);
	if (rc != TSL_OK) {
		fprintf(stderr, "tsinfo: %s: %s", path, err.message);
		if (err.record[0])
			fprintf(stderr, " [record %s", err.record);
		if (err.record[0] && err.offset != UINT64_MAX)
			fprintf(stderr, ", offset %" PRIu64, err.offset);
		fputs(err.record[0] ? "]\n" : "\n", stderr);
		return 1;
	}
	if (json)
		rc = tsinfo_dump_json(stdout, m, hashes, &err);
	else if (!tsl_model_root(m))
		rc = print_checkpoint(m);
	else
		rc = print_tree(m);
	if (rc) {
		fprintf(stderr, "tsinfo: %s: %s\n", path, err.message);
		rc = 1;
	}
	tsl_model_free(m);
	return rc;
}
