/*
 * extra_files - list and read the extra files of a TorchScript archive
 * (torch.jit.save(..., _extra_files=...)) without loading its model: only
 * the archive's index is read, no pickle, no code, no tensor.
 *
 *   extra_files MODEL.pt          list every extra file, with a preview
 *   extra_files MODEL.pt NAME     write extra file NAME to stdout
 *
 * Without MODEL.pt, $TSL_TEST_DATA/good-extra-files.pt is used.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <tsload.h>

static void report(const char *what, int rc, const tsl_error *err)
{
	fprintf(stderr, "extra_files: %s: %s (%s)\n", what, err->message,
		tsl_status_name(rc));
}

/* Text as is (up to 40 bytes), anything else as hex (up to 16 bytes). */
static void preview(const unsigned char *p, size_t n)
{
	size_t i, text = 1;

	for (i = 0; i < n; i++)
		if (!isprint(p[i]) && p[i] != '\n' && p[i] != '\t' && p[i] < 0x80)
			text = 0;
	if (n == 0) {
		printf("(empty)");
	} else if (text) {
		putchar('"');
		for (i = 0; i < n && i < 40; i++)
			putchar(p[i] == '\n' ? ' ' : p[i]);
		printf("%s\"", n > 40 ? "..." : "");
	} else {
		for (i = 0; i < n && i < 16; i++)
			printf("%02x", p[i]);
		printf("%s", n > 16 ? "..." : "");
	}
}

int main(int argc, char **argv)
{
	char fixture[4096];
	const char *path = argc > 1 ? argv[1] : NULL;
	const void *data;
	size_t i, n, size;
	tsl_archive *ar;
	tsl_error err;
	int rc;

	if (!path && getenv("TSL_TEST_DATA")) {
		snprintf(fixture, sizeof fixture, "%s/good-extra-files.pt",
			getenv("TSL_TEST_DATA"));
		path = fixture;
	}
	if (!path || argc > 3) {
		fprintf(stderr, "usage: extra_files MODEL.pt [NAME]\n");
		return 2;
	}

	/* Opening maps the file and reads the zip central directory only. */
	rc = tsl_archive_open_path(&ar, path, NULL, &err);
	if (rc != TSL_OK) {
		report(path, rc, &err);
		return 1;
	}

	if (argc > 2) {
		/* one file, raw: zero-copy from the mapping when it is stored */
		rc = tsl_archive_extra_read(ar, argv[2], &data, &size, &err);
		if (rc != TSL_OK) {
			report(argv[2], rc, &err);
			tsl_archive_free(ar);
			return 1;
		}
		if (size && fwrite(data, 1, size, stdout) != size)
			rc = TSL_EIO;
		tsl_archive_free(ar);   /* `data` is gone from here on */
		return rc == TSL_OK ? 0 : 1;
	}

	n = tsl_archive_extra_count(ar);
	printf("%s: %s, prefix '%s', format version %" PRIu64 "\n", path,
		tsl_file_kind_name(tsl_archive_kind(ar)), tsl_archive_prefix(ar),
		tsl_archive_format_version(ar));
	printf("%zu extra files\n", n);
	for (i = 0; i < n; i++) {
		/* names are sorted, without the "extra/" folder */
		const char *name = tsl_archive_extra_name(ar, i);

		rc = tsl_archive_extra_read(ar, name, &data, &size, &err);
		if (rc != TSL_OK) {
			report(name, rc, &err);
			tsl_archive_free(ar);
			return 1;
		}
		printf("  %-24s %6zu bytes  ", name, size);
		preview(data, size);
		putchar('\n');
	}
	tsl_archive_free(ar);
	return 0;
}
