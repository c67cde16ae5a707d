/*
 * zip_decode.c - decode one compressed record through libarchive.
 *
 * libarchive's streaming zip reader is fed a synthesized local header (true
 * sizes, no data descriptor) followed by the record's compressed bytes taken
 * straight from the mapping, so any method libarchive supports (deflate,
 * bzip2, lzma, xz, zstd...) works and nothing is copied on the way in.  The
 * output is exactly the declared size: a stream that decodes to fewer or
 * more bytes is an error, so a declared size cannot be used to make us
 * allocate more than the limit nor a stream to write past it.
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>

#include "zip.h"

struct feed {
	uint8_t hdr[30 + 1];
	const uint8_t *data;
	uint64_t left;
	int stage;
};

static la_ssize_t feed_read(struct archive *a, void *payload,
	const void **buf)
{
	struct feed *f = payload;
	size_t n;

	(void)a;
	if (f->stage == 0) {
		f->stage = 1;
		*buf = f->hdr;
		return (la_ssize_t)sizeof f->hdr;
	}
	if (f->left == 0)
		return 0;
	/* hand out the mapping in bounded slices */
	n = f->left > ((size_t)1 << 30) ? ((size_t)1 << 30) : (size_t)f->left;
	*buf = f->data;
	f->data += n;
	f->left -= n;
	return (la_ssize_t)n;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

int tsl__zip_decode(const tsl_zip *z, const tsl_zip_entry *e,
	uint64_t data_off, uint8_t **out, tsl_error *err)
{
	struct feed f;
	struct archive *a;
	struct archive_entry *ae;
	uint8_t *buf;
	size_t want = (size_t)e->usize, got = 0;
	int rc = TSL_OK;

	*out = NULL;
	if (e->csize >= 0xffffffffu || e->usize >= 0xffffffffu)
		return tsl__error(err, TSL_EUNSUPPORTED, e->name, data_off,
			"compressed records of 4 GiB or more are not supported");
	memset(&f, 0, sizeof f);
	put32(f.hdr, 0x04034b50u);
	put16(f.hdr + 4, 20);
	put16(f.hdr + 6, 0);
	put16(f.hdr + 8, e->method);
	put32(f.hdr + 14, e->crc32);
	put32(f.hdr + 18, (uint32_t)e->csize);
	put32(f.hdr + 22, (uint32_t)e->usize);
	put16(f.hdr + 26, 1);
	put16(f.hdr + 28, 0);
	f.hdr[30] = 'r';
	f.data = z->base + data_off;
	f.left = e->csize;

	buf = malloc(want + 1);
	if (!buf)
		return tsl__error(err, TSL_ENOMEM, e->name, data_off,
			"out of memory decoding %zu bytes", want);
	a = archive_read_new();
	if (!a) {
		free(buf);
		return tsl__error(err, TSL_ENOMEM, e->name, data_off,
			"out of memory (libarchive)");
	}
	archive_read_support_format_zip_streamable(a);
	if (!z->verify_crc)
		archive_read_set_options(a, "zip:ignorecrc32");
	if (archive_read_open(a, &f, NULL, feed_read, NULL) != ARCHIVE_OK ||
		archive_read_next_header(a, &ae) != ARCHIVE_OK) {
		rc = tsl__error(err, TSL_EUNSUPPORTED, e->name, data_off,
			"cannot decode record (method %u): %s", e->method,
			archive_error_string(a) ? archive_error_string(a) : "?");
		goto out;
	}
	/* read up to one byte more than declared to catch a lying size */
	while (got <= want) {
		la_ssize_t n = archive_read_data(a, buf + got, want + 1 - got);

		if (n < 0) {
			rc = tsl__error(err, e->method == 8 || e->method == 0 ?
					TSL_EFORMAT : TSL_EUNSUPPORTED,
				e->name, data_off,
				"decoding record (method %u) failed after %zu of "
				"%zu bytes: %s", e->method, got, want,
				archive_error_string(a) ?
					archive_error_string(a) : "?");
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got != want) {
		rc = tsl__error(err, TSL_EFORMAT, e->name, data_off,
			"record decodes to %s bytes than the %zu declared",
			got > want ? "more" : "fewer", want);
		goto out;
	}
out:
	archive_read_free(a);
	if (rc) {
		free(buf);
		return rc;
	}
	*out = buf;
	return TSL_OK;
}
