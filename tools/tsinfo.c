/* tsinfo - inspect a TorchScript archive. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tsload.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tsinfo [--records] ARCHIVE\n"
		"  --records   list the archive's records: name, method, sizes,\n"
		"              data offset and alignment\n");
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

int main(int argc, char **argv)
{
	const char *path = NULL;
	int records = 0, i, rc;
	tsl_archive *ar;
	tsl_error err;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--records") == 0)
			records = 1;
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			usage(stderr);
			return 2;
		} else
			path = argv[i];
	}
	if (!path) {
		usage(stderr);
		return 2;
	}
	(void)records;
	if (tsl_archive_open_path(&ar, path, NULL, &err) != TSL_OK) {
		fprintf(stderr, "tsinfo: %s: %s\n", path, err.message);
		return 1;
	}
	rc = list_records(ar);
	tsl_archive_free(ar);
	return rc;
}
