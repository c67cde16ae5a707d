/*
 * fuzz_inflate.c - libFuzzer target for the deflate decoder
 * (lib/zip/inflate.c), checked against libarchive's (zlib's).
 *
 * Input: 4 bytes little-endian, the declared decoded size (modulo 1 MiB),
 * then the raw deflate stream.  Invariants: a refusal is TSL_EFORMAT with a
 * reason and a position inside the input; and the decoder agrees with the
 * reference, libarchive's gzip filter over the same stream: when the
 * reference decodes exactly the declared size, so do we, to the same
 * bytes; when it decodes another size or refuses, we refuse.  Also linked
 * into the gcc-built replay driver (fuzz/replay.c) under another name.
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdint.h>
#include <string.h>

#include "zip/inflate.h"
#include "fuzz_common.h"

int FUZZ_ENTRY(const uint8_t *data, size_t size);

struct feed {
	const uint8_t *part[3];
	size_t len[3];
	int i;
};

static la_ssize_t feed_read(struct archive *a, void *payload,
	const void **buf)
{
	struct feed *f = payload;

	(void)a;
	while (f->i < 3 && f->len[f->i] == 0)
		f->i++;
	if (f->i == 3)
		return 0;
	*buf = f->part[f->i];
	return (la_ssize_t)f->len[f->i++];
}

/* The reference over in[0..n): 1 when it decodes exactly out_len bytes
 * (into ref), 0 when it decodes another size or refuses, -1 when it
 * cannot tell (nothing came out: empty and broken look alike to its raw
 * format). */
static int reference(const uint8_t *in, size_t n, uint8_t *ref,
	size_t out_len)
{
	static const uint8_t gz[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };
	static const uint8_t trailer[8];
	struct feed f = { { gz, in, trailer }, { sizeof gz, n,
		sizeof trailer }, 0 };
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	size_t got = 0;
	int verdict = 0;
	uint8_t extra;

	FUZZ_CHECK(a != NULL);
	archive_read_support_filter_gzip(a);
	archive_read_support_format_raw(a);
	if (archive_read_open(a, &f, NULL, feed_read, NULL) != ARCHIVE_OK ||
		archive_read_next_header(a, &ae) != ARCHIVE_OK) {
		verdict = -1;
		goto done;
	}
	while (got < out_len) {
		la_ssize_t k = archive_read_data(a, ref + got, out_len - got);

		if (k <= 0)
			goto done;   /* refused, or fewer bytes */
		got += (size_t)k;
	}
	/* exactly out_len: nothing more, and a clean end */
	verdict = archive_read_data(a, &extra, 1) == 0;
done:
	archive_read_free(a);
	return verdict;
}

int FUZZ_ENTRY(const uint8_t *data, size_t size)
{
	tsl_inflate_error e;
	uint8_t *out, *ref;
	size_t want;
	int rc, verdict;

	if (size < 4)
		return 0;
	want = (size_t)(((uint32_t)data[0] | (uint32_t)data[1] << 8 |
		(uint32_t)data[2] << 16 | (uint32_t)data[3] << 24) % (1u << 20));
	out = malloc(want ? want : 1);
	ref = malloc(want ? want : 1);
	FUZZ_CHECK(out && ref);
	memset(&e, 0, sizeof e);
	rc = tsl__inflate(data + 4, size - 4, out, want, &e);
	if (rc != TSL_OK) {
		FUZZ_CHECK(rc == TSL_EFORMAT);
		FUZZ_CHECK(e.why != NULL && e.why[0] != '\0');
		FUZZ_CHECK(e.at <= size - 4);
	}
	verdict = reference(data + 4, size - 4, ref, want);
	if (verdict == 1) {
		FUZZ_CHECK(rc == TSL_OK);
		FUZZ_CHECK(want == 0 || memcmp(out, ref, want) == 0);
	} else if (verdict == 0 || want > 0) {
		FUZZ_CHECK(rc != TSL_OK);
	}
	free(out);
	free(ref);
	return 0;
}
