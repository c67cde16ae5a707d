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
	size_t hdr_len;
	const uint8_t *data;
	uint64_t left;
	uint8_t trailer[8];
	size_t trailer_len;
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
		return (la_ssize_t)f->hdr_len;
	}
	if (f->left == 0) {
		if (f->stage == 1 && f->trailer_len) {
			f->stage = 2;
			*buf = f->trailer;
			return (la_ssize_t)f->trailer_len;
		}
		return 0;
	}
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

/* Read exactly want bytes (one more is an error) from an opened reader. */
static int drain(struct archive *a, const tsl_zip_entry *e, uint64_t data_off,
	uint8_t *buf, size_t want, tsl_error *err)
{
	size_t got = 0;

	while (got <= want) {
		la_ssize_t n = archive_read_data(a, buf + got, want + 1 - got);

		if (n < 0)
			return tsl__error(err, e->method == 8 ? TSL_EFORMAT :
				TSL_EUNSUPPORTED, e->name, data_off,
				"decoding record (method %u) failed after %zu of "
				"%zu bytes: %s", e->method, got, want,
				archive_error_string(a) ?
					archive_error_string(a) : "?");
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got != want)
		return tsl__error(err, TSL_EFORMAT, e->name, data_off,
			"record decodes to %s bytes than the %zu declared",
			got > want ? "more" : "fewer", want);
	return TSL_OK;
}

/*
 * Deflate (PyTorch's code/ records): the raw stream is wrapped as a gzip
 * member (10-byte header, the mapped bytes, an 8-byte trailer) and read
 * with libarchive's gzip filter and raw format.  That costs far less than
 * its zip reader per record (no 256 KiB buffers, no mktime() stat of
 * /etc/localtime for the entry time), and the filter, like PyTorch, does
 * not verify the CRC (TSL_OPEN_VERIFY_CRC does, afterwards).
 */
static int decode_deflate(const tsl_zip *z, const tsl_zip_entry *e,
	uint64_t data_off, uint8_t *buf, tsl_error *err)
{
	static const uint8_t gz[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };
	struct feed f;
	struct archive *a;
	struct archive_entry *ae;
	int rc;

	memset(&f, 0, sizeof f);
	memcpy(f.hdr, gz, sizeof gz);
	f.hdr_len = sizeof gz;
	f.data = z->base + data_off;
	f.left = e->csize;
	put32(f.trailer, e->crc32);
	put32(f.trailer + 4, (uint32_t)e->usize);
	f.trailer_len = 8;
	a = archive_read_new();
	if (!a)
		return tsl__error(err, TSL_ENOMEM, e->name, data_off,
			"out of memory (libarchive)");
	archive_read_support_filter_gzip(a);
	archive_read_support_format_raw(a);
	if (archive_read_open(a, &f, NULL, feed_read, NULL) != ARCHIVE_OK ||
		archive_read_next_header(a, &ae) != ARCHIVE_OK)
		rc = tsl__error(err, TSL_EFORMAT, e->name, data_off,
			"cannot decode deflated record: %s",
			archive_error_string(a) ? archive_error_string(a) : "?");
	else
		rc = drain(a, e, data_off, buf, (size_t)e->usize, err);
	archive_read_free(a);
	return rc;
}

int tsl__zip_decode(const tsl_zip *z, const tsl_zip_entry *e,
	uint64_t data_off, uint8_t **out, tsl_error *err)
{
	struct feed f;
	struct archive *a;
	struct archive_entry *ae;
	uint8_t *buf;
	size_t want = (size_t)e->usize;
	int rc;

	*out = NULL;
	if (e->method != 8 &&
		(e->csize >= 0xffffffffu || e->usize >= 0xffffffffu))
		return tsl__error(err, TSL_EUNSUPPORTED, e->name, data_off,
			"records of 4 GiB or more compressed with method %u are "
			"not supported", e->method);
	buf = want < SIZE_MAX ? tsl__big_alloc(want + 1, z->huge) : NULL;
	if (!buf)
		return tsl__error(err, TSL_ENOMEM, e->name, data_off,
			"out of memory decoding %zu bytes", want);
	buf[want] = '\0';   /* the decoder writes exactly want bytes */
	if (want == 0) {   /* nothing to decode: the bytes cannot matter */
		*out = buf;
		return TSL_OK;
	}
	if (e->method == 8) {
		rc = decode_deflate(z, e, data_off, buf, err);
		goto out;
	}
	/* any other method libarchive knows: its zip reader, fed a local
	 * header with the true sizes and the mapped bytes */
	memset(&f, 0, sizeof f);
	f.hdr_len = sizeof f.hdr;
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
	a = archive_read_new();
	if (!a) {
		rc = tsl__error(err, TSL_ENOMEM, e->name, data_off,
			"out of memory (libarchive)");
		goto out;
	}
	archive_read_support_format_zip_streamable(a);
	if (!z->verify_crc)
		archive_read_set_options(a, "zip:ignorecrc32");
	if (archive_read_open(a, &f, NULL, feed_read, NULL) != ARCHIVE_OK ||
		archive_read_next_header(a, &ae) != ARCHIVE_OK)
		rc = tsl__error(err, TSL_EUNSUPPORTED, e->name, data_off,
			"cannot decode record (method %u): %s", e->method,
			archive_error_string(a) ? archive_error_string(a) : "?");
	else
		rc = drain(a, e, data_off, buf, want, err);
	archive_read_free(a);
out:
	if (rc) {
		tsl__big_free(buf);
		return rc;
	}
	*out = buf;
	return TSL_OK;
}

/* ---- many deflated records in one pass -------------------------------- */

struct multi {
	tsl_zip_entry **v;
	const uint64_t *off;
	size_t n, i;
	int stage;              /* 0 header, 1 data, 2 trailer */
	const uint8_t *base;
	uint64_t left;
	uint8_t trailer[8];
};

static la_ssize_t multi_read(struct archive *a, void *payload,
	const void **buf)
{
	static const uint8_t gz[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };
	struct multi *f = payload;

	(void)a;
	while (f->i < f->n) {
		tsl_zip_entry *e = f->v[f->i];

		switch (f->stage) {
		case 0:
			f->stage = 1;
			f->left = e->csize;
			*buf = gz;
			return (la_ssize_t)sizeof gz;
		case 1:
			if (f->left) {
				size_t k = f->left > ((size_t)1 << 30) ?
					((size_t)1 << 30) : (size_t)f->left;

				*buf = f->base + f->off[f->i] + (e->csize - f->left);
				f->left -= k;
				return (la_ssize_t)k;
			}
			f->stage = 2;
			put32(f->trailer, e->crc32);
			put32(f->trailer + 4, (uint32_t)e->usize);
			*buf = f->trailer;
			return (la_ssize_t)sizeof f->trailer;
		default:
			f->stage = 0;
			f->i++;
			break;
		}
	}
	return 0;
}

/*
 * Decode n deflated records (data offsets resolved) through one libarchive
 * reader: their streams are presented as consecutive gzip members, so the
 * reader, its buffers and its inflate state are set up once instead of once
 * per record (a traced resnet50 has 151 code records).  out[i] receives a
 * malloc'd buffer of v[i]->usize bytes.  Any error or size mismatch fails
 * the whole batch (TSL_EFORMAT, nothing returned): the caller then decodes
 * record by record, which names the record at fault.
 */
int tsl__zip_decode_many(const tsl_zip *z, tsl_zip_entry **v,
	const uint64_t *off, size_t n, uint8_t **out, tsl_error *err)
{
	struct multi f;
	struct archive *a;
	struct archive_entry *ae;
	size_t i;
	int rc = TSL_OK;
	char extra;

	memset(out, 0, n * sizeof *out);
	memset(&f, 0, sizeof f);
	f.v = v;
	f.off = off;
	f.n = n;
	f.base = z->base;
	a = archive_read_new();
	if (!a)
		return tsl__error(err, TSL_ENOMEM, NULL, TSL_NO_OFFSET,
			"out of memory (libarchive)");
	archive_read_support_filter_gzip(a);
	archive_read_support_format_raw(a);
	if (archive_read_open(a, &f, NULL, multi_read, NULL) != ARCHIVE_OK ||
		archive_read_next_header(a, &ae) != ARCHIVE_OK) {
		rc = TSL_EFORMAT;
		goto out;
	}
	for (i = 0; i < n && !rc; i++) {
		size_t want = (size_t)v[i]->usize, got = 0;

		out[i] = want < SIZE_MAX ? tsl__big_alloc(want + 1, z->huge) :
			NULL;
		if (!out[i]) {
			rc = TSL_ENOMEM;
			break;
		}
		out[i][want] = '\0';
		while (got < want) {
			la_ssize_t k = archive_read_data(a, out[i] + got,
				want - got);

			if (k <= 0) {
				rc = TSL_EFORMAT;
				break;
			}
			got += (size_t)k;
		}
	}
	/* the streams must end exactly where the declared sizes say */
	if (!rc && archive_read_data(a, &extra, 1) != 0)
		rc = TSL_EFORMAT;
out:
	archive_read_free(a);
	if (rc) {
		for (i = 0; i < n; i++) {
			tsl__big_free(out[i]);
			out[i] = NULL;
		}
		return tsl__error(err, rc, NULL, TSL_NO_OFFSET,
			"batch decode of %zu records failed", n);
	}
	return TSL_OK;
}
