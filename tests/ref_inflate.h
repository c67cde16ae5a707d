/*
 * ref_inflate.h - the reference raw-deflate decoder that lib/zip/inflate.c
 * is checked and timed against (tests/test_zip.c, fuzz/fuzz_inflate.c,
 * bench/inflate_bench.c): libarchive's gzip filter, that is zlib, over the
 * stream presented as a gzip member (a 10-byte header, the stream, an
 * 8-byte trailer that libarchive does not check).  Header-only; needs
 * libarchive.
 */
#ifndef TSL_REF_INFLATE_H
#define TSL_REF_INFLATE_H

#include <archive.h>
#include <archive_entry.h>
#include <stdint.h>
#include <string.h>

enum {
	REF_OK = 0,       /* the stream ended after *got (<= cap) bytes */
	REF_MORE = 1,     /* it gives more than cap bytes (*got == cap) */
	REF_ERROR = -1,   /* refused after *got bytes */
	REF_NOTHING = -2  /* nothing came out: libarchive's raw format cannot
	                     tell an empty stream from a broken one (both are
	                     "Unrecognized archive format") */
};

struct ref_feed {
	const uint8_t *part[3];
	size_t len[3];
	int i;
};

static la_ssize_t ref_feed_read(struct archive *a, void *payload,
	const void **buf)
{
	struct ref_feed *f = payload;

	(void)a;
	while (f->i < 3 && f->len[f->i] == 0)
		f->i++;
	if (f->i == 3)
		return 0;
	*buf = f->part[f->i];
	return (la_ssize_t)f->len[f->i++];
}

/* Decode in[0..n) into out[0..cap) with a fresh libarchive reader (its
 * set-up is part of what bench/inflate_bench times).  REF_* above; -3 when
 * libarchive cannot even make a reader. */
static int ref_inflate_into(const uint8_t *in, size_t n, uint8_t *out,
	size_t cap, size_t *got)
{
	static const uint8_t gz[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };
	static const uint8_t trailer[8];
	struct ref_feed f = { { gz, in, trailer }, { sizeof gz, n,
		sizeof trailer }, 0 };
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	int rc = REF_OK;
	uint8_t extra;
	la_ssize_t k = 0;

	*got = 0;
	if (!a)
		return -3;
	archive_read_support_filter_gzip(a);
	archive_read_support_format_raw(a);
	if (archive_read_open(a, &f, NULL, ref_feed_read, NULL) != ARCHIVE_OK ||
		archive_read_next_header(a, &ae) != ARCHIVE_OK) {
		const char *why = archive_error_string(a);

		rc = why && strcmp(why, "Unrecognized archive format") == 0 ?
			REF_NOTHING : REF_ERROR;
		goto done;
	}
	while (*got < cap && (k = archive_read_data(a, out + *got,
		cap - *got)) > 0)
		*got += (size_t)k;
	if (*got == cap)   /* full: does the stream end here? */
		k = archive_read_data(a, &extra, 1);
	rc = k < 0 ? REF_ERROR : k > 0 ? REF_MORE : REF_OK;
done:
	archive_read_free(a);
	return rc;
}

#endif
