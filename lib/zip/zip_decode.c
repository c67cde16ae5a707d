/*
 * zip_decode.c - decode one compressed record.
 *
 * Deflate, what PyTorch writes (code/ and debug records), is decoded by
 * our own inflate.c straight into the output buffer: per record that costs
 * a fraction of setting up libarchive's reader (inflate.h says why).
 * Every other method goes through libarchive's streaming zip reader, fed a
 * synthesized local header (true sizes, no data descriptor) followed by the
 * record's compressed bytes taken straight from the mapping, so any method
 * libarchive supports (bzip2, lzma, xz, zstd...) works and nothing is
 * copied on the way in.  The output is exactly the declared size: a stream
 * that decodes to fewer or more bytes is an error, so a declared size
 * cannot be used to make us allocate more than the limit nor a stream to
 * write past it.
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>

#include "inflate.h"
#include "zip.h"

struct feed {
	uint8_t hdr[30 + 1];
	size_t hdr_len;
	const uint8_t *data;
	uint64_t left;
	bool started;
};

static la_ssize_t feed_read(struct archive *a, void *payload,
	const void **buf)
{
	struct feed *f = payload;
	size_t n;

	(void)a;
	if (!f->started) {
		f->started = true;
		*buf = f->hdr;
		return (la_ssize_t)f->hdr_len;
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

/* Read exactly want bytes (one more is an error) from an opened reader. */
static int drain(struct archive *a, const tsl_zip_entry *e, uint64_t data_off,
	uint8_t *buf, size_t want, tsl_error *err)
{
	size_t got = 0;

	while (got <= want) {
		la_ssize_t n = archive_read_data(a, buf + got, want + 1 - got);

		if (n < 0)
			return tsl__error(err,
				tsl__zip_method(e) == TSL_ZIP_DEFLATED ?
				TSL_EFORMAT : TSL_EUNSUPPORTED, TSL_ZIP_ENAME(e),
				data_off,
				"decoding record (method %u) failed after %zu of "
				"%zu bytes: %s", tsl__zip_method(e), got, want,
				archive_error_string(a) ?
					archive_error_string(a) : "?");
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got != want)
		return tsl__error(err, TSL_EFORMAT, TSL_ZIP_ENAME(e), data_off,
			"record decodes to %s bytes than the %zu declared",
			got > want ? "more" : "fewer", want);
	return TSL_OK;
}

int tsl__zip_decode(const tsl_zip *z, const tsl_zip_entry *e,
	uint64_t data_off, uint64_t csize, uint8_t **out, tsl_error *err)
{
	struct feed f;
	struct archive *a;
	struct archive_entry *ae;
	uint8_t *buf;
	size_t want = (size_t)tsl__zip_usize(e);
	int rc;

	*out = NULL;
	if (tsl__zip_method(e) != TSL_ZIP_DEFLATED &&
		(csize >= 0xffffffffu || tsl__zip_usize(e) >= 0xffffffffu))
		return tsl__error(err, TSL_EUNSUPPORTED, TSL_ZIP_ENAME(e), data_off,
			"records of 4 GiB or more compressed with method %u are "
			"not supported", (unsigned)tsl__zip_method(e));
	buf = want < SIZE_MAX ? tsl__big_alloc(want + 1, z->huge) : NULL;
	if (!buf)
		return tsl__error(err, TSL_ENOMEM, TSL_ZIP_ENAME(e), data_off,
			"out of memory decoding %zu bytes", want);
	buf[want] = '\0';   /* the decoder writes exactly want bytes */
	if (want == 0) {   /* nothing to decode: the bytes cannot matter */
		*out = buf;
		return TSL_OK;
	}
	if (tsl__zip_method(e) == TSL_ZIP_DEFLATED) {
		tsl_inflate_error ie;

		rc = tsl__inflate(z->base + data_off, (size_t)csize, buf,
			want, &ie);
		if (rc)
			rc = tsl__error(err, TSL_EFORMAT, TSL_ZIP_ENAME(e),
				data_off + ie.at, "deflated record: %s (compressed "
				"byte %zu of %llu)", ie.why, ie.at,
				(unsigned long long)csize);
		goto out;
	}
	/* any other method libarchive knows: its zip reader, fed a local
	 * header with the true sizes and the mapped bytes */
	memset(&f, 0, sizeof f);
	f.hdr_len = sizeof f.hdr;
	tsl__put_le32(f.hdr, 0x04034b50u);
	tsl__put_le16(f.hdr + 4, 20);
	tsl__put_le16(f.hdr + 6, 0);
	tsl__put_le16(f.hdr + 8, tsl__zip_method(e));
	tsl__put_le32(f.hdr + 14, tsl__zip_crc32(e));
	tsl__put_le32(f.hdr + 18, (uint32_t)csize);
	tsl__put_le32(f.hdr + 22, (uint32_t)tsl__zip_usize(e));
	tsl__put_le16(f.hdr + 26, 1);
	tsl__put_le16(f.hdr + 28, 0);
	f.hdr[30] = 'r';
	f.data = z->base + data_off;
	f.left = csize;
	a = archive_read_new();
	if (!a) {
		rc = tsl__error(err, TSL_ENOMEM, TSL_ZIP_ENAME(e), data_off,
			"out of memory (libarchive)");
		goto out;
	}
	archive_read_support_format_zip_streamable(a);
	if (!z->verify_crc)
		archive_read_set_options(a, "zip:ignorecrc32");
	if (archive_read_open(a, &f, NULL, feed_read, NULL) != ARCHIVE_OK ||
		archive_read_next_header(a, &ae) != ARCHIVE_OK)
		rc = tsl__error(err, TSL_EUNSUPPORTED, TSL_ZIP_ENAME(e), data_off,
			"cannot decode record (method %u): %s", tsl__zip_method(e),
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
