/*
 * test_zip.c - the record index and the archive layer (lib/zip, lib/archive).
 *
 *  - good fixtures written by torch.jit.save (tests/data/good-*.pt): open by
 *    path, fd, buffer and reader; prefix; versions; lookup; zero-copy stored
 *    records; deflated, unaligned and zip64 re-packs; extra files; alignment
 *  - file kinds: the shared real corpus (skipped when absent) and synthesized
 *    headers (PYTORCH1, legacy pickle, FlatBuffer, text, empty)
 *  - malformed zips made here, in memory, from a fixture's bytes or from a
 *    small zip writer (zb_*): every one must fail with its specific code, a
 *    message, and the record / offset where that applies
 *  - lazy indexing: opening a 1500-record archive touches only its last pages
 *    (mincore), the numbers are printed
 */
#include "config.h"

#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/vfs.h>

#include "ref_inflate.h"
#include "testutil.h"
#include "zip/inflate.h"
#include "zip/zip.h"

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_LOC64 0x07064b50u
#define SIG_DESC 0x08074b50u

#define MLP "good-scripted-mlp.pt"
#define MLP_RECORDS 20

/* ------------------------------------------------------------------------ */
/* bytes                                                                     */
/* ------------------------------------------------------------------------ */

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

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
		((uint32_t)p[3] << 24);
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32);
}

static uint32_t crc32_calc(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
	}
	return ~c;
}

/* An exact-size heap copy, so that AddressSanitizer sees any read past it. */
static uint8_t *dup_exact(const uint8_t *b, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	assert_non_null(c);
	if (n)
		memcpy(c, b, n);
	return c;
}

static uint8_t *load(const char *name, size_t *size)
{
	char *p = data_path(name);
	uint8_t *b = read_file_or_fail(p, size);

	free(p);
	return b;
}

/* ------------------------------------------------------------------------ */
/* zb: a small zip writer laid out like PyTorchStreamWriter                  */
/* ------------------------------------------------------------------------ */

typedef struct zb_rec {
	char *name;
	uint16_t method;
	uint32_t crc;
	uint64_t csize;
	uint64_t usize;        /* declared in the central directory */
	uint64_t lho, data_off;
	uint64_t cd_pos;       /* set by zb_finish */
	bool zip64;            /* 0xFFFFFFFF + zip64 extra in the CD entry */
} zb_rec;

typedef struct zb {
	uint8_t *buf;
	size_t len, cap;
	zb_rec *recs;
	size_t n, rcap;
	unsigned align;        /* 0: no "FB" padding field */
	bool zip64_end;        /* zip64 end record + locator, as PyTorch */
	bool reverse_cd;       /* the directory lists the records last first */
	uint64_t cd_off, cd_size, eocd64, loc, eocd;
} zb;

static void zb_reserve(zb *z, size_t more)
{
	if (z->len + more > z->cap) {
		size_t cap = z->cap ? z->cap : 4096;

		while (cap < z->len + more)
			cap *= 2;
		z->buf = realloc(z->buf, cap);
		assert_non_null(z->buf);
		z->cap = cap;
	}
}

static void zb_bytes(zb *z, const void *p, size_t n)
{
	zb_reserve(z, n);
	if (n)
		memcpy(z->buf + z->len, p, n);
	z->len += n;
}

static void zb_u16(zb *z, uint16_t v)
{
	zb_reserve(z, 2);
	put16(z->buf + z->len, v);
	z->len += 2;
}

static void zb_u32(zb *z, uint32_t v)
{
	zb_reserve(z, 4);
	put32(z->buf + z->len, v);
	z->len += 4;
}

static void zb_u64(zb *z, uint64_t v)
{
	zb_reserve(z, 8);
	put64(z->buf + z->len, v);
	z->len += 8;
}

static void zb_init(zb *z, unsigned align, bool zip64_end)
{
	memset(z, 0, sizeof *z);
	z->align = align;
	z->zip64_end = zip64_end;
}

static void zb_free(zb *z)
{
	for (size_t i = 0; i < z->n; i++)
		free(z->recs[i].name);
	free(z->recs);
	free(z->buf);
	memset(z, 0, sizeof *z);
}

/* Add a record whose payload is given as it goes in the file (already
 * compressed); usize and crc are what the central directory will say.
 * Returns the record's index. */
static size_t zb_add_raw(zb *z, const char *name, const void *payload,
	size_t plen, uint16_t method, uint64_t usize, uint32_t crc)
{
	size_t nlen = strlen(name);
	zb_rec *r;

	if (z->n == z->rcap) {
		z->rcap = z->rcap ? z->rcap * 2 : 64;
		z->recs = realloc(z->recs, z->rcap * sizeof *z->recs);
		assert_non_null(z->recs);
	}
	r = &z->recs[z->n];
	memset(r, 0, sizeof *r);
	r->name = strdup(name);
	assert_non_null(r->name);
	r->method = method;
	r->crc = crc;
	r->csize = plen;
	r->usize = usize;
	r->lho = z->len;
	/* local header: sizes and CRC 0, flags 0x0808, as PyTorch writes */
	zb_u32(z, SIG_LOCAL);
	zb_u16(z, method ? 20 : 0);
	zb_u16(z, 0x0808);
	zb_u16(z, method);
	zb_u32(z, 0);
	zb_u32(z, 0);
	zb_u32(z, 0);
	zb_u32(z, 0);
	zb_u16(z, (uint16_t)nlen);
	if (z->align) {
		uint64_t start = z->len + 2 + nlen + 4;
		uint16_t pad = (uint16_t)((z->align - start % z->align) % z->align);

		zb_u16(z, (uint16_t)(4 + pad));
		zb_bytes(z, name, nlen);
		zb_bytes(z, "FB", 2);
		zb_u16(z, pad);
		zb_reserve(z, pad);
		memset(z->buf + z->len, 'Z', pad);
		z->len += pad;
	} else {
		zb_u16(z, 0);
		zb_bytes(z, name, nlen);
	}
	r->data_off = z->len;
	zb_bytes(z, payload, plen);
	zb_u32(z, SIG_DESC);
	zb_u32(z, crc);
	zb_u32(z, (uint32_t)plen);
	zb_u32(z, (uint32_t)usize);
	return z->n++;
}

/* Raw deflate made of stored blocks (BTYPE 00): a valid method-8 stream
 * without zlib. */
static uint8_t *deflate_stored(const uint8_t *d, size_t n, size_t *out_len)
{
	size_t blocks = n / 65535 + 1, o = 0;
	uint8_t *out = malloc(n + blocks * 5);

	assert_non_null(out);
	do {
		size_t k = n > 65535 ? 65535 : n;

		out[o++] = n == k ? 1 : 0;        /* BFINAL on the last block */
		put16(out + o, (uint16_t)k);
		put16(out + o + 2, (uint16_t)~k);
		o += 4;
		if (k)
			memcpy(out + o, d, k);
		o += k;
		d += k;
		n -= k;
	} while (n);
	*out_len = o;
	return out;
}

/* Add a record stored (method 0) or deflated (method 8). */
static size_t zb_add(zb *z, const char *name, const void *data, size_t n,
	uint16_t method)
{
	uint32_t crc = crc32_calc(data, n);

	if (method == 8) {
		size_t plen;
		uint8_t *p = deflate_stored(data, n, &plen);
		size_t i = zb_add_raw(z, name, p, plen, 8, n, crc);

		free(p);
		return i;
	}
	return zb_add_raw(z, name, data, n, method, n, crc);
}

static size_t zb_add_str(zb *z, const char *name, const char *s)
{
	return zb_add(z, name, s, strlen(s), 0);
}

/* Write the central directory and the end records.  Returns the archive in
 * an exact-size buffer owned by the caller; z keeps the layout. */
static uint8_t *zb_finish(zb *z, size_t *size)
{
	uint8_t *out;

	z->cd_off = z->len;
	for (size_t i = 0; i < z->n; i++) {
		zb_rec *r = &z->recs[z->reverse_cd ? z->n - 1 - i : i];
		size_t nlen = strlen(r->name);
		bool big = r->zip64 || r->usize >= 0xffffffffu ||
			r->csize >= 0xffffffffu || r->lho >= 0xffffffffu;

		r->cd_pos = z->len;
		zb_u32(z, SIG_CENTRAL);
		zb_u16(z, big ? 45 : 0);
		zb_u16(z, r->method ? 20 : 0);
		zb_u16(z, 0x0808);
		zb_u16(z, r->method);
		zb_u32(z, 0);
		zb_u32(z, r->crc);
		zb_u32(z, big ? 0xffffffffu : (uint32_t)r->csize);
		zb_u32(z, big ? 0xffffffffu : (uint32_t)r->usize);
		zb_u16(z, (uint16_t)nlen);
		zb_u16(z, big ? 28 : 0);
		zb_u16(z, 0);
		zb_u16(z, 0);
		zb_u16(z, 0);
		zb_u32(z, 0);
		zb_u32(z, big ? 0xffffffffu : (uint32_t)r->lho);
		zb_bytes(z, r->name, nlen);
		if (big) {
			zb_u16(z, 1);
			zb_u16(z, 24);
			zb_u64(z, r->usize);
			zb_u64(z, r->csize);
			zb_u64(z, r->lho);
		}
	}
	z->cd_size = z->len - z->cd_off;
	if (z->zip64_end) {
		z->eocd64 = z->len;
		zb_u32(z, SIG_EOCD64);
		zb_u64(z, 44);
		zb_u16(z, 45);
		zb_u16(z, 45);
		zb_u32(z, 0);
		zb_u32(z, 0);
		zb_u64(z, z->n);
		zb_u64(z, z->n);
		zb_u64(z, z->cd_size);
		zb_u64(z, z->cd_off);
		z->loc = z->len;
		zb_u32(z, SIG_LOC64);
		zb_u32(z, 0);
		zb_u64(z, z->eocd64);
		zb_u32(z, 1);
	}
	z->eocd = z->len;
	zb_u32(z, SIG_EOCD);
	zb_u16(z, 0);
	zb_u16(z, 0);
	zb_u16(z, z->n > 0xffff ? 0xffff : (uint16_t)z->n);
	zb_u16(z, z->n > 0xffff ? 0xffff : (uint16_t)z->n);
	zb_u32(z, (uint32_t)z->cd_size);
	zb_u32(z, (uint32_t)z->cd_off);
	zb_u16(z, 0);
	out = dup_exact(z->buf, z->len);
	*size = z->len;
	return out;
}

/* The records every TorchScript archive needs, under prefix/. */
static void zb_minimal(zb *z, const char *prefix, const char *version)
{
	char name[256];

	snprintf(name, sizeof name, "%s/data.pkl", prefix);
	zb_add_str(z, name, "\x80\x02K\x01.");
	snprintf(name, sizeof name, "%s/constants.pkl", prefix);
	zb_add_str(z, name, "\x80\x02).");
	snprintf(name, sizeof name, "%s/version", prefix);
	zb_add_str(z, name, version);
}

/* ------------------------------------------------------------------------ */
/* zv: a view of an existing zip to mutate its end records and directory     */
/* ------------------------------------------------------------------------ */

typedef struct zv {
	uint8_t *b;
	size_t size;
	size_t eocd, loc, eocd64;   /* loc, eocd64: SIZE_MAX when absent */
	uint64_t n, cd_off, cd_size;
} zv;

static void zv_parse(zv *v, uint8_t *b, size_t size)
{
	size_t p;

	memset(v, 0, sizeof *v);
	v->b = b;
	v->size = size;
	assert_true(size >= 22);
	for (p = size - 22 + 1; p-- > 0;)
		if (rd32(b + p) == SIG_EOCD)
			break;
	assert_true(rd32(b + p) == SIG_EOCD);
	v->eocd = p;
	v->loc = v->eocd64 = SIZE_MAX;
	if (p >= 20 && rd32(b + p - 20) == SIG_LOC64) {
		v->loc = p - 20;
		v->eocd64 = (size_t)rd64(b + v->loc + 8);
		assert_true(rd32(b + v->eocd64) == SIG_EOCD64);
		v->n = rd64(b + v->eocd64 + 32);
		v->cd_size = rd64(b + v->eocd64 + 40);
		v->cd_off = rd64(b + v->eocd64 + 48);
	} else {
		v->n = rd16(b + p + 10);
		v->cd_size = rd32(b + p + 12);
		v->cd_off = rd32(b + p + 16);
	}
}

static size_t zv_next(const zv *v, size_t e)
{
	return e + 46 + rd16(v->b + e + 28) + rd16(v->b + e + 30) +
		rd16(v->b + e + 32);
}

/* Offset of central-directory entry i. */
static size_t zv_entry(const zv *v, size_t i)
{
	size_t e = (size_t)v->cd_off;

	while (i--)
		e = zv_next(v, e);
	assert_true(rd32(v->b + e) == SIG_CENTRAL);
	return e;
}

/* The entry whose name ends with "/" + rel. */
static size_t zv_find(const zv *v, const char *rel)
{
	size_t e = (size_t)v->cd_off, rl = strlen(rel);

	for (uint64_t i = 0; i < v->n; i++, e = zv_next(v, e)) {
		size_t nl = rd16(v->b + e + 28);
		const char *nm = (const char *)v->b + e + 46;

		if (nl > rl && nm[nl - rl - 1] == '/' &&
			memcmp(nm + nl - rl, rel, rl) == 0)
			return e;
	}
	fail_msg("no record %s", rel);
	return 0;
}

static void zv_set_count(zv *v, uint64_t n)
{
	if (v->eocd64 != SIZE_MAX) {
		put64(v->b + v->eocd64 + 24, n);
		put64(v->b + v->eocd64 + 32, n);
	}
	put16(v->b + v->eocd + 8, n > 0xffff ? 0xffff : (uint16_t)n);
	put16(v->b + v->eocd + 10, n > 0xffff ? 0xffff : (uint16_t)n);
}

static void zv_set_cd(zv *v, uint64_t off, uint64_t size)
{
	if (v->eocd64 != SIZE_MAX) {
		put64(v->b + v->eocd64 + 40, size);
		put64(v->b + v->eocd64 + 48, off);
		put32(v->b + v->eocd + 12, size > 0xfffffffeu ? 0xffffffffu :
			(uint32_t)size);
		put32(v->b + v->eocd + 16, off > 0xfffffffeu ? 0xffffffffu :
			(uint32_t)off);
	} else {
		put32(v->b + v->eocd + 12, (uint32_t)size);
		put32(v->b + v->eocd + 16, (uint32_t)off);
	}
}

/* ------------------------------------------------------------------------ */
/* opening helpers                                                           */
/* ------------------------------------------------------------------------ */

/* Open an exact-size copy of b[0..n); expect `want`.  On TSL_OK the archive
 * is returned and *copy must be freed after it; otherwise NULL. */
static tsl_archive *open_copy(const uint8_t *b, size_t n,
	const tsl_options *o, int want, tsl_error *err, uint8_t **copy)
{
	tsl_archive *ar = (tsl_archive *)&ar;   /* must be reset to NULL */
	uint8_t *c = dup_exact(b, n);
	int rc;

	memset(err, 0, sizeof *err);
	rc = tsl_archive_open_buffer(&ar, c, n, o, err);
	if (want == TSL_OK) {
		if (rc != TSL_OK)
			fail_msg("open failed: %s: %s", tsl_status_name(rc),
				err->message);
		assert_non_null(ar);
		*copy = c;
		return ar;
	}
	assert_tsl_fail(rc, *err, want);
	assert_null(ar);
	free(c);
	if (copy)
		*copy = NULL;
	return NULL;
}

/* Open a copy expecting failure with `want`. */
static void expect_open(const uint8_t *b, size_t n, const tsl_options *o,
	int want, tsl_error *err)
{
	open_copy(b, n, o, want, err, NULL);
}

static tsl_archive *open_fixture(const char *name, const tsl_options *o)
{
	char *p = data_path(name);
	tsl_archive *ar = NULL;
	tsl_error err;
	int rc = tsl_archive_open_path(&ar, p, o, &err);

	if (rc != TSL_OK)
		fail_msg("%s: %s: %s", p, tsl_status_name(rc), err.message);
	free(p);
	return ar;
}

/* Read every record; returns the first failure (or TSL_OK). */
static int read_all(tsl_archive *ar)
{
	size_t n = tsl_archive_record_count(ar);
	int first = TSL_OK;

	for (size_t i = 0; i < n; i++) {
		const void *d;
		size_t len;
		tsl_error err;
		int rc = tsl_archive_record_data(ar, i, &d, &len, &err);

		if (rc != TSL_OK) {
			if (!err.message[0] || err.code != rc)
				fail_msg("record %zu: %s without a message", i,
					tsl_status_name(rc));
			if (first == TSL_OK)
				first = rc;
		}
	}
	return first;
}

static bool has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);

	return a >= b && strcmp(s + a - b, suf) == 0;
}

/* ------------------------------------------------------------------------ */
/* 1. good fixtures                                                          */
/* ------------------------------------------------------------------------ */

static void check_mlp(tsl_archive *ar, size_t file_size)
{
	const void *d;
	size_t n;
	tsl_error err;

	assert_int_equal(tsl_archive_kind(ar), TSL_KIND_TORCHSCRIPT);
	assert_string_equal(tsl_archive_prefix(ar), "good-scripted-mlp");
	assert_int_equal(tsl_archive_format_version(ar), 3);
	assert_int_equal(tsl_archive_big_endian(ar), 0);
	assert_int_equal(tsl_archive_size(ar), file_size);
	assert_int_equal(tsl_archive_record_count(ar), MLP_RECORDS);
	assert_int_equal(tsl_archive_read(ar, "constants.pkl", &d, &n, &err),
		TSL_OK);
	assert_int_equal(n, 4);
	assert_memory_equal(d, "\x80\x02).", 4);
	assert_int_equal(tsl_archive_read(ar, "extra/meta.txt", &d, &n, &err),
		TSL_OK);
	assert_int_equal(n, 5);
	assert_memory_equal(d, "hello", 5);
	assert_int_equal(read_all(ar), TSL_OK);
}

struct memreader {
	const uint8_t *b;
	size_t size, pos;
	uint64_t bytes_read;       /* through read() */
	size_t fail_lo, fail_hi;   /* read() fails (EIO) inside [lo, hi) */
	bool seek_fails;
	bool overread;             /* read() claims more than it was asked */
};

static int64_t mr_read(void *payload, void *buf, size_t size)
{
	struct memreader *m = payload;
	size_t k = m->size - m->pos;

	if (k > size)
		k = size;
	if (k > 1000)
		k = 1000;          /* short reads */
	if (m->pos < m->fail_hi && m->pos + k > m->fail_lo) {
		errno = EIO;
		return -1;
	}
	memcpy(buf, m->b + m->pos, k);
	m->pos += k;
	m->bytes_read += k;
	return m->overread ? (int64_t)size + 1 : (int64_t)k;
}

static int64_t mr_seek(void *payload, int64_t off, int whence)
{
	struct memreader *m = payload;
	int64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ?
		(int64_t)m->pos : (int64_t)m->size;

	if (m->seek_fails || base + off < 0 || base + off > (int64_t)m->size)
		return -1;
	m->pos = (size_t)(base + off);
	return (int64_t)m->pos;
}

static int64_t mr_tell(void *payload)
{
	return (int64_t)((struct memreader *)payload)->pos;
}

static void test_open_path_fd_buffer_reader(void **state)
{
	char *path = data_path(MLP);
	size_t size;
	uint8_t *buf = read_file_or_fail(path, &size);
	tsl_archive *ar = NULL;
	tsl_error err;
	int fd;

	(void)state;
	assert_int_equal(tsl_archive_open_path(&ar, path, NULL, &err), TSL_OK);
	check_mlp(ar, size);
	tsl_archive_free(ar);

	/* fd not at offset 0, closed right after opening */
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(lseek(fd, 1234, SEEK_SET), 1234);
	assert_int_equal(tsl_archive_open_fd(&ar, fd, NULL, &err), TSL_OK);
	close(fd);
	check_mlp(ar, size);
	tsl_archive_free(ar);

	assert_int_equal(tsl_archive_open_buffer(&ar, buf, size, NULL, &err),
		TSL_OK);
	check_mlp(ar, size);
	tsl_archive_free(ar);

	{
		tsl_options o = TSL_OPTIONS_INIT;

		o.flags = TSL_OPEN_COPY | TSL_OPEN_VERIFY_CRC;
		assert_int_equal(tsl_archive_open_path(&ar, path, &o, &err),
			TSL_OK);
		check_mlp(ar, size);
		tsl_archive_free(ar);
		o.flags = TSL_OPEN_POPULATE;
		assert_int_equal(tsl_archive_open_path(&ar, path, &o, &err),
			TSL_OK);
		check_mlp(ar, size);
		tsl_archive_free(ar);
	}

	/* reader, seekable and not (spooled) */
	for (int seekable = 0; seekable < 2; seekable++) {
		struct memreader m = { .b = buf, .size = size };
		tsl_reader r = { mr_read, seekable ? mr_seek : NULL,
			seekable ? mr_tell : NULL, &m };

		assert_int_equal(tsl_archive_open_reader(&ar, &r, NULL, &err),
			TSL_OK);
		check_mlp(ar, size);
		tsl_archive_free(ar);
	}

	/* bad arguments */
	assert_int_equal(tsl_archive_open_buffer(NULL, buf, size, NULL, &err),
		TSL_EINVAL);
	ar = (tsl_archive *)&ar;
	assert_tsl_fail(tsl_archive_open_buffer(&ar, NULL, 10, NULL, &err),
		err, TSL_EINVAL);
	assert_null(ar);
	assert_tsl_fail(tsl_archive_open_fd(&ar, -1, NULL, &err), err,
		TSL_EINVAL);
	assert_tsl_fail(tsl_archive_open_path(&ar, "/nonexistent/x.pt", NULL,
		&err), err, TSL_ENOTFOUND);
	assert_int_equal(err.sys_errno, ENOENT);
	assert_tsl_fail(tsl_archive_open_path(&ar, tu_srcdir(), NULL, &err),
		err, TSL_EINVAL);
	{   /* a pipe is not mappable: the message points to the reader API */
		int pfd[2];

		assert_int_equal(pipe(pfd), 0);
		assert_tsl_fail(tsl_archive_open_fd(&ar, pfd[0], NULL, &err), err,
			TSL_EINVAL);
		assert_contains(err.message, "reader");
		close(pfd[0]);
		close(pfd[1]);
	}
	{
		tsl_options o = TSL_OPTIONS_INIT;

		o.version = 99;
		assert_tsl_fail(tsl_archive_open_buffer(&ar, buf, size, &o,
			&err), err, TSL_EINVAL);
	}
	/* NULL error pointer is fine */
	assert_int_equal(tsl_archive_open_buffer(&ar, buf, 10, NULL, NULL),
		TSL_EFORMAT);
	free(buf);
	free(path);
}

static void test_prefix(void **state)
{
	tsl_archive *ar;
	size_t size;
	uint8_t *buf, *copy;
	char *tmp;
	tsl_error err;
	zb z;

	(void)state;
	ar = open_fixture("good-buffer-prefix.pt", NULL);
	assert_string_equal(tsl_archive_prefix(ar), "archive");
	assert_int_equal(tsl_archive_find(ar, "data.pkl", NULL), TSL_OK);
	tsl_archive_free(ar);
	ar = open_fixture("good-gelu.pt", NULL);
	assert_string_equal(tsl_archive_prefix(ar), "good-gelu");
	tsl_archive_free(ar);

	/* the prefix comes from the entries, not from the file name */
	buf = load(MLP, &size);
	tmp = write_temp_file(buf, size);
	assert_int_equal(tsl_archive_open_path(&ar, tmp, NULL, &err), TSL_OK);
	assert_string_equal(tsl_archive_prefix(ar), "good-scripted-mlp");
	tsl_archive_free(ar);
	remove_temp_file(tmp);
	free(buf);

	/* any folder name; entries outside the prefix are not found */
	zb_init(&z, 64, true);
	zb_minimal(&z, "we.ird-1", "3\n");
	zb_add_str(&z, "other/extra/x", "outside");
	zb_add_str(&z, "we.irdX/extra/y", "outside");
	buf = zb_finish(&z, &size);
	ar = open_copy(buf, size, NULL, TSL_OK, &err, &copy);
	assert_string_equal(tsl_archive_prefix(ar), "we.ird-1");
	assert_int_equal(tsl_archive_record_count(ar), 5);
	assert_int_equal(tsl_archive_extra_count(ar), 0);
	assert_int_equal(tsl_archive_find(ar, "extra/x", NULL), TSL_ENOTFOUND);
	assert_int_equal(tsl_archive_find(ar, "extra/y", NULL), TSL_ENOTFOUND);
	tsl_archive_free(ar);
	free(copy);
	free(buf);
	zb_free(&z);
}

static void test_versions(void **state)
{
	static const struct {
		const char *file;
		uint64_t version;
	} v[] = {
		{ MLP, 3 },
		{ "good-version-div.pt", 4 },
		{ "good-gelu.pt", 10 },     /* from .data/version */
	};
	tsl_archive *ar;

	(void)state;
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		ar = open_fixture(v[i].file, NULL);
		assert_int_equal(tsl_archive_format_version(ar), v[i].version);
		tsl_archive_free(ar);
	}
	ar = open_fixture("good-gelu.pt", NULL);
	assert_int_equal(tsl_archive_find(ar, "version", NULL), TSL_ENOTFOUND);
	assert_int_equal(tsl_archive_find(ar, ".data/version", NULL), TSL_OK);
	tsl_archive_free(ar);
}

/* Every good-* fixture opens, every record reads, stored records are
 * 64-byte aligned in the files torch.jit.save wrote. */
static void test_all_fixtures_aligned(void **state)
{
	char *dir = data_path("");
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t files = 0, records = 0;

	(void)state;
	assert_non_null(d);
	while ((de = readdir(d))) {
		const char *nm = de->d_name;
		bool torch_written;
		tsl_archive *ar;
		size_t n;

		if (strncmp(nm, "good-", 5) != 0 ||
			!(has_suffix(nm, ".pt") || has_suffix(nm, ".ptl")))
			continue;
		torch_written = !strstr(nm, "rezip") && !strstr(nm, "zip64");
		ar = open_fixture(nm, NULL);
		assert_int_equal(tsl_archive_kind(ar), TSL_KIND_TORCHSCRIPT);
		assert_in_range(tsl_archive_format_version(ar), 1, 10);
		n = tsl_archive_record_count(ar);
		assert_true(n > 0);
		for (size_t i = 0; i < n; i++) {
			tsl_record_info ri;
			uint64_t off;
			const void *p;
			size_t len;
			tsl_error err;

			assert_int_equal(tsl_archive_record(ar, i, &ri), TSL_OK);
			assert_int_equal(tsl_archive_record_data_offset(ar, i,
				&off, &err), TSL_OK);
			assert_true(off >= ri.header_offset + 30);
			assert_int_equal(tsl_archive_record_data(ar, i, &p,
				&len, &err), TSL_OK);
			assert_int_equal(len, ri.size);
			if (torch_written) {
				if (off % 64 != 0)
					fail_msg("%s: %s data at %llu is not "
						"64-byte aligned", nm, ri.name,
						(unsigned long long)off);
				if (ri.method == 0)
					assert_int_equal((uintptr_t)p % 64, 0);
			}
			records++;
		}
		tsl_archive_free(ar);
		files++;
	}
	closedir(d);
	free(dir);
	print_message("     %zu fixtures, %zu records read\n", files, records);
	assert_true(files >= 20);
}

/* tsl__zip_find_next: the hinted entry first, the table otherwise; the same
 * answers as tsl__zip_find in any order, and the hint follows the entry
 * found. */
static void test_find_next(void **state)
{
	tsl_options opts = TSL_OPTIONS_INIT;
	tsl_limits lim;
	tsl_error err;
	tsl_zip *z = NULL;
	size_t size, hint = 0, k;
	uint8_t *b = load("good-resnet-trace.pt", &size);

	(void)state;
	assert_int_equal(tsl__limits_from_options(&lim, &opts, &err), TSL_OK);
	assert_int_equal(tsl__zip_open(&z, b, size, &lim, NULL, &err), TSL_OK);
	/* in record order: every lookup hits the hint */
	for (size_t i = 0; i < z->n; i++) {
		const tsl_zip_entry *e = &z->entries[i];
		const char *rel = tsl__zip_rel(z, e);

		if (!tsl__zip_in_prefix(e))
			continue;
		hint = i;
		assert_ptr_equal(tsl__zip_find_next(z, rel, strlen(rel), &hint),
			e);
		assert_int_equal(hint, i + 1);
	}
	/* backwards, from a stale hint: found through the table */
	hint = 0;
	for (size_t i = z->n; i-- > 0;) {
		const tsl_zip_entry *e = &z->entries[i];
		const char *rel = tsl__zip_rel(z, e);

		if (!tsl__zip_in_prefix(e))
			continue;
		assert_ptr_equal(tsl__zip_find_next(z, rel, strlen(rel), &hint),
			tsl__zip_find(z, rel, strlen(rel)));
		assert_int_equal(hint, i + 1);
	}
	/* a name only a prefix of the hinted one, an absent one, a hint past
	 * the end: no match, the hint kept */
	k = 0;
	assert_null(tsl__zip_find_next(z, "dat", 3, &k));
	assert_int_equal(k, 0);
	k = z->n + 5;
	assert_null(tsl__zip_find_next(z, "data/999999", 11, &k));
	assert_int_equal(k, z->n + 5);
	tsl__zip_free(z);
	free(b);
}

static void test_record_lookup(void **state)
{
	tsl_archive *ar = open_fixture(MLP, NULL);
	tsl_record_info ri;
	size_t i, j;
	const void *d, *d2;
	size_t n, n2;
	tsl_error err;

	(void)state;
	assert_int_equal(tsl_archive_find(ar, "data.pkl", &i), TSL_OK);
	assert_int_equal(tsl_archive_record(ar, i, &ri), TSL_OK);
	assert_string_equal(ri.name, "data.pkl");
	assert_int_equal(ri.method, 0);
	assert_int_equal(ri.size, 679);
	assert_int_equal(ri.compressed_size, 679);
	assert_int_equal(ri.header_offset, 856);

	assert_int_equal(tsl_archive_find(ar, "code/__torch__.py", &j), TSL_OK);
	assert_int_equal(tsl_archive_record(ar, j, &ri), TSL_OK);
	assert_int_equal(ri.method, 8);
	assert_int_equal(ri.size, 367);
	assert_int_equal(ri.compressed_size, 223);

	/* every record finds itself */
	for (i = 0; i < tsl_archive_record_count(ar); i++) {
		assert_int_equal(tsl_archive_record(ar, i, &ri), TSL_OK);
		assert_int_equal(tsl_archive_find(ar, ri.name, &j), TSL_OK);
		assert_int_equal(i, j);
		assert_int_equal(tsl_archive_record_data(ar, i, &d, &n, &err),
			TSL_OK);
		assert_int_equal(tsl_archive_read(ar, ri.name, &d2, &n2, &err),
			TSL_OK);
		assert_ptr_equal(d, d2);
		assert_int_equal(n, n2);
	}

	assert_int_equal(tsl_archive_find(ar, "nope", &i), TSL_ENOTFOUND);
	assert_int_equal(tsl_archive_find(ar, "good-scripted-mlp/data.pkl", &i),
		TSL_ENOTFOUND);
	assert_int_equal(tsl_archive_find(ar, "data", &i), TSL_ENOTFOUND);
	assert_int_equal(tsl_archive_find(ar, "", &i), TSL_ENOTFOUND);
	assert_int_equal(tsl_archive_find(ar, "data.pk", &i), TSL_ENOTFOUND);
	assert_int_equal(tsl_archive_find(ar, "data.pkl2", &i), TSL_ENOTFOUND);
	assert_tsl_fail(tsl_archive_read(ar, "nope", &d, &n, &err), err,
		TSL_ENOTFOUND);
	assert_string_equal(err.record, "nope");
	assert_contains(err.message, "good-scripted-mlp/nope");
	assert_int_equal(tsl_archive_record(ar, MLP_RECORDS, &ri), TSL_EINVAL);
	assert_tsl_fail(tsl_archive_record_data(ar, MLP_RECORDS, &d, &n, &err),
		err, TSL_EINVAL);
	assert_tsl_fail(tsl_archive_record_data_offset(ar, MLP_RECORDS,
		&ri.header_offset, &err), err, TSL_EINVAL);
	assert_tsl_fail(tsl_archive_read(ar, NULL, &d, &n, &err), err,
		TSL_EINVAL);
	tsl_archive_free(ar);
	tsl_archive_free(NULL);
}

static void test_stored_zero_copy(void **state)
{
	size_t size, i;
	uint8_t *buf = load(MLP, &size);
	tsl_archive *ar = NULL;
	tsl_error err;
	const void *d, *d2;
	size_t n;
	uint64_t off;

	(void)state;
	assert_int_equal(tsl_archive_open_buffer(&ar, buf, size, NULL, &err),
		TSL_OK);
	for (i = 0; i < tsl_archive_record_count(ar); i++) {
		tsl_record_info ri;

		assert_int_equal(tsl_archive_record(ar, i, &ri), TSL_OK);
		assert_int_equal(tsl_archive_record_data(ar, i, &d, &n, &err),
			TSL_OK);
		assert_int_equal(tsl_archive_record_data_offset(ar, i, &off,
			&err), TSL_OK);
		if (ri.method == 0) {
			/* a slice of the caller's buffer, right at the data */
			assert_ptr_equal(d, buf + off);
			assert_int_equal(off % 64, 0);
		} else {
			/* decoded into memory of the archive, cached */
			assert_true((const uint8_t *)d < buf ||
				(const uint8_t *)d >= buf + size);
		}
		assert_int_equal(tsl_archive_record_data(ar, i, &d2, &n, &err),
			TSL_OK);
		assert_ptr_equal(d, d2);
	}
	tsl_archive_free(ar);
	free(buf);
}

/* The re-packs hold the same records as the archive they were made from
 * (tests/gen/gen_fixtures.py rezip()). */
static void test_repacks_match_source(void **state)
{
	static const char *const packs[] = {
		"good-rezip-deflate.pt", "good-rezip-unaligned.pt",
		"good-zip64-entries.pt",
	};
	tsl_options o = TSL_OPTIONS_INIT;
	tsl_archive *src = open_fixture(MLP, NULL);
	size_t n = tsl_archive_record_count(src);

	(void)state;
	o.flags = TSL_OPEN_VERIFY_CRC;
	for (size_t k = 0; k < 3; k++) {
		tsl_archive *ar = open_fixture(packs[k], &o);
		size_t deflated = 0, unaligned = 0;

		assert_string_equal(tsl_archive_prefix(ar), "good-scripted-mlp");
		assert_int_equal(tsl_archive_format_version(ar), 3);
		assert_int_equal(tsl_archive_record_count(ar), n);
		for (size_t i = 0; i < n; i++) {
			tsl_record_info a, b;
			const void *da, *db;
			size_t na, nb;
			uint64_t off;
			tsl_error err;

			assert_int_equal(tsl_archive_record(src, i, &a), TSL_OK);
			assert_int_equal(tsl_archive_record(ar, i, &b), TSL_OK);
			assert_string_equal(a.name, b.name);
			assert_int_equal(a.size, b.size);
			assert_int_equal(a.crc32, b.crc32);
			assert_int_equal(tsl_archive_record_data(src, i, &da, &na,
				&err), TSL_OK);
			if (tsl_archive_record_data(ar, i, &db, &nb, &err))
				fail_msg("%s %s: %s", packs[k], b.name,
					err.message);
			assert_int_equal(na, nb);
			assert_memory_equal(da, db, na);
			assert_int_equal(tsl_archive_record_data_offset(ar, i,
				&off, &err), TSL_OK);
			deflated += b.method == 8;
			unaligned += off % 64 != 0;
			if (k == 2) {
				/* Python's force_zip64 puts a zip64 extra in
				 * every local header (not in the directory) */
				size_t extra = off - b.header_offset - 30 -
					strlen("good-scripted-mlp/") -
					strlen(b.name);

				assert_true(extra >= 20);
			}
		}
		if (k == 0)
			assert_int_equal(deflated, n);   /* all deflated */
		else
			assert_int_equal(deflated, 0);
		if (k > 0)
			assert_true(unaligned > n / 2);
		tsl_archive_free(ar);
	}
	tsl_archive_free(src);
}

/* Central-directory zip64 extras: sizes and offsets all 0xFFFFFFFF. */
static void test_zip64_directory_extra(void **state)
{
	tsl_archive *src = open_fixture(MLP, NULL), *ar;
	size_t n = tsl_archive_record_count(src), size;
	uint8_t *buf, *copy;
	tsl_error err;
	zb z;

	(void)state;
	for (int method = 0; method <= 8; method += 8) {
		zb_init(&z, 64, true);
		for (size_t i = 0; i < n; i++) {
			tsl_record_info ri;
			const void *d;
			size_t len;
			char name[300];

			assert_int_equal(tsl_archive_record(src, i, &ri), TSL_OK);
			assert_int_equal(tsl_archive_record_data(src, i, &d, &len,
				&err), TSL_OK);
			snprintf(name, sizeof name, "zz/%s", ri.name);
			zb_add(&z, name, d, len, (uint16_t)method);
			z.recs[z.n - 1].zip64 = true;
		}
		buf = zb_finish(&z, &size);
		ar = open_copy(buf, size, NULL, TSL_OK, &err, &copy);
		assert_string_equal(tsl_archive_prefix(ar), "zz");
		for (size_t i = 0; i < n; i++) {
			tsl_record_info a, b;
			const void *da, *db;
			size_t na, nb;
			uint64_t off;

			assert_int_equal(tsl_archive_record(src, i, &a), TSL_OK);
			assert_int_equal(tsl_archive_record(ar, i, &b), TSL_OK);
			assert_string_equal(a.name, b.name);
			assert_int_equal(b.header_offset, z.recs[i].lho);
			assert_int_equal(b.compressed_size, z.recs[i].csize);
			assert_int_equal(b.size, a.size);
			assert_int_equal(b.method, method);
			assert_int_equal(tsl_archive_record_data_offset(ar, i,
				&off, &err), TSL_OK);
			assert_int_equal(off, z.recs[i].data_off);
			assert_int_equal(tsl_archive_record_data(src, i, &da, &na,
				&err), TSL_OK);
			if (tsl_archive_record_data(ar, i, &db, &nb, &err))
				fail_msg("%s: %s", b.name, err.message);
			assert_int_equal(na, nb);
			assert_memory_equal(da, db, na);
		}
		tsl_archive_free(ar);
		free(copy);

		/* zip64 extra too short for the three fields it must hold */
		{
			zv v;
			size_t e;

			zv_parse(&v, buf, size);
			e = zv_find(&v, "data.pkl");
			put16(buf + e + 46 + rd16(buf + e + 28) + 2, 16);
			expect_open(buf, size, NULL, TSL_EFORMAT, &err);
			assert_contains(err.message, "zip64");
			assert_contains(err.record, "zz/data.pkl");
			assert_int_equal(err.offset, e);
			/* and no zip64 extra at all (id changed) */
			put16(buf + e + 46 + rd16(buf + e + 28), 0x7777);
			put16(buf + e + 46 + rd16(buf + e + 28) + 2, 24);
			expect_open(buf, size, NULL, TSL_EFORMAT, &err);
			assert_contains(err.message, "zip64");
			assert_int_equal(err.offset, e);
			/* an extra field longer than the extra area */
			put16(buf + e + 46 + rd16(buf + e + 28) + 2, 25);
			expect_open(buf, size, NULL, TSL_EFORMAT, &err);
			assert_contains(err.message, "extra");
			assert_int_equal(err.offset, e);
		}
		free(buf);
		zb_free(&z);
	}
	tsl_archive_free(src);
}

static void test_extra_files(void **state)
{
	static const char *const sorted[] = {
		"all-bytes.bin", "binary.bin", "config.json", "empty",
		"sub/dir/nested.txt", "unicode-\xc3\xa9\xe4\xb8\xad.txt",
	};
	tsl_archive *ar = open_fixture("good-extra-files.pt", NULL);
	const void *d;
	size_t n, i;
	tsl_error err;

	(void)state;
	assert_int_equal(tsl_archive_extra_count(ar), 6);
	for (i = 0; i < 6; i++) {
		assert_string_equal(tsl_archive_extra_name(ar, i), sorted[i]);
		assert_int_equal(tsl_archive_extra_read(ar, sorted[i], &d, &n,
			&err), TSL_OK);
	}
	assert_null(tsl_archive_extra_name(ar, 6));
	assert_int_equal(tsl_archive_extra_read(ar, "all-bytes.bin", &d, &n,
		&err), TSL_OK);
	assert_int_equal(n, 256);
	for (i = 0; i < 256; i++)
		assert_int_equal(((const uint8_t *)d)[i], i);
	assert_int_equal(tsl_archive_extra_read(ar, "empty", &d, &n, &err),
		TSL_OK);
	assert_int_equal(n, 0);
	assert_int_equal(tsl_archive_extra_read(ar, "sub/dir/nested.txt", &d,
		&n, &err), TSL_OK);
	assert_int_equal(n, 7);
	assert_memory_equal(d, "nested\n", 7);
	assert_int_equal(tsl_archive_extra_read(ar, "config.json", &d, &n,
		&err), TSL_OK);
	assert_memory_equal(d, "{\"name\"", 7);
	assert_tsl_fail(tsl_archive_extra_read(ar, "nope", &d, &n, &err), err,
		TSL_ENOTFOUND);
	assert_tsl_fail(tsl_archive_extra_read(ar, "", &d, &n, &err), err,
		TSL_ENOTFOUND);
	{
		char longname[5000];

		memset(longname, 'a', sizeof longname - 1);
		longname[sizeof longname - 1] = '\0';
		assert_tsl_fail(tsl_archive_extra_read(ar, longname, &d, &n,
			&err), err, TSL_ENOTFOUND);
	}
	tsl_archive_free(ar);

	ar = open_fixture(MLP, NULL);
	assert_int_equal(tsl_archive_extra_count(ar), 1);
	assert_string_equal(tsl_archive_extra_name(ar, 0), "meta.txt");
	tsl_archive_free(ar);
	ar = open_fixture("good-rezip-deflate.pt", NULL);   /* deflated extra */
	assert_int_equal(tsl_archive_extra_read(ar, "meta.txt", &d, &n, &err),
		TSL_OK);
	assert_int_equal(n, 5);
	assert_memory_equal(d, "hello", 5);
	tsl_archive_free(ar);
	ar = open_fixture("good-gelu.pt", NULL);
	assert_int_equal(tsl_archive_extra_count(ar), 0);
	assert_null(tsl_archive_extra_name(ar, 0));
	tsl_archive_free(ar);
}

struct thr {
	tsl_archive *ar;
	const void *ptr[MLP_RECORDS];
	int rc;
};

static void *thr_read(void *arg)
{
	struct thr *t = arg;

	for (size_t i = 0; i < MLP_RECORDS; i++) {
		size_t n;
		tsl_error err;
		int rc = tsl_archive_record_data(t->ar, i, &t->ptr[i], &n, &err);

		if (rc)
			t->rc = rc;
	}
	return NULL;
}

/* Many threads decoding the same records at once all get the same bytes. */
static void test_concurrent_decode(void **state)
{
	tsl_archive *ar = open_fixture("good-rezip-deflate.pt", NULL);
	struct thr t[8];
	pthread_t th[8];

	(void)state;
	for (int i = 0; i < 8; i++) {
		memset(&t[i], 0, sizeof t[i]);
		t[i].ar = ar;
		assert_int_equal(pthread_create(&th[i], NULL, thr_read, &t[i]), 0);
	}
	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(t[i].rc, TSL_OK);
		for (size_t k = 0; k < MLP_RECORDS; k++)
			assert_ptr_equal(t[i].ptr[k], t[0].ptr[k]);
	}
	tsl_archive_free(ar);
}

/* ------------------------------------------------------------------------ */
/* 2. file kinds                                                             */
/* ------------------------------------------------------------------------ */

static void test_kind_real_corpus(void **state)
{
	char *root = shared_corpus_path("real");
	char *legacy, *nts;
	tsl_archive *ar = NULL;
	tsl_file_kind kind;
	tsl_error err;
	DIR *d;
	struct dirent *de;
	size_t n = 0, counts[8] = { 0 };

	(void)state;
	if (!root) {
		print_message("     shared corpus not found at "
			"$TSL_SRCDIR/../shared/corpus: skipped\n");
		skip();
	}
	legacy = tu_join(root, "LaurentMazare__tch-rs__tests__foo.pt@43955603");
	if (access(legacy, R_OK) == 0) {
		assert_int_equal(tsl_archive_open_path(&ar, legacy, NULL, &err),
			TSL_OK);
		assert_int_equal(tsl_archive_kind(ar), TSL_KIND_TORCHSCRIPT_LEGACY);
		assert_string_equal(tsl_archive_prefix(ar), "foo");
		assert_int_equal(tsl_archive_format_version(ar), 1);
		assert_int_equal(tsl_archive_find(ar, "model.json", NULL), TSL_OK);
		tsl_archive_free(ar);
		assert_int_equal(tsl_detect_path(legacy, &kind, &err), TSL_OK);
		assert_int_equal(kind, TSL_KIND_TORCHSCRIPT_LEGACY);
	} else {
		print_message("     %s missing\n", legacy);
	}
	free(legacy);

	/* torch.save checkpoints (zip) */
	nts = tu_join(root, "not-torchscript");
	d = opendir(nts);
	if (d) {
		while ((de = readdir(d))) {
			char *p;

			if (de->d_name[0] == '.')
				continue;
			p = tu_join(nts, de->d_name);
			assert_int_equal(tsl_detect_path(p, &kind, &err), TSL_OK);
			assert_int_equal(kind, TSL_KIND_TORCH_SAVE);
			/* it opens as a zip, and says what it is */
			assert_int_equal(tsl_archive_open_path(&ar, p, NULL, &err),
				TSL_OK);
			assert_int_equal(tsl_archive_kind(ar), TSL_KIND_TORCH_SAVE);
			assert_int_equal(tsl_archive_find(ar, "data.pkl", NULL),
				TSL_OK);
			assert_int_equal(read_all(ar), TSL_OK);
			tsl_archive_free(ar);
			free(p);
			n++;
		}
		closedir(d);
	}
	free(nts);
	assert_true(n >= 1);

	/* everything else: detect, open, read every record */
	d = opendir(root);
	assert_non_null(d);
	n = 0;
	while ((de = readdir(d))) {
		char *p;
		struct stat st;
		int rc;

		if (de->d_name[0] == '.' || has_suffix(de->d_name, ".md") ||
			has_suffix(de->d_name, ".tsv"))
			continue;
		p = tu_join(root, de->d_name);
		if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) {
			free(p);
			continue;
		}
		assert_int_equal(tsl_detect_path(p, &kind, &err), TSL_OK);
		assert_in_range(kind, 0, 7);
		counts[kind]++;
		rc = tsl_archive_open_path(&ar, p, NULL, &err);
		if (kind == TSL_KIND_TORCHSCRIPT ||
			kind == TSL_KIND_TORCHSCRIPT_LEGACY) {
			if (rc != TSL_OK)
				fail_msg("%s: %s", de->d_name, err.message);
			if (read_all(ar) != TSL_OK)
				fail_msg("%s: a record does not read",
					de->d_name);
			tsl_archive_free(ar);
		} else if (rc == TSL_OK) {
			tsl_archive_free(ar);
		} else {
			assert_true(err.message[0]);
		}
		free(p);
		n++;
	}
	closedir(d);
	print_message("     %zu real files: %zu torchscript, %zu legacy, "
		"%zu flatbuffer, %zu other\n", n, counts[TSL_KIND_TORCHSCRIPT],
		counts[TSL_KIND_TORCHSCRIPT_LEGACY], counts[TSL_KIND_FLATBUFFER],
		n - counts[1] - counts[2] - counts[5]);
	free(root);
}

/* Open from a buffer and from a file: ENOTTORCHSCRIPT saying `what`, and
 * tsl_detect_path gives `kind`. */
static void expect_not_ts(const void *b, size_t n, const char *what,
	tsl_file_kind kind)
{
	tsl_archive *ar = NULL;
	tsl_error err;
	tsl_file_kind k;
	char *tmp;

	expect_open(b, n, NULL, TSL_ENOTTORCHSCRIPT, &err);
	assert_contains(err.message, what);
	assert_string_equal(err.record, "");
	tmp = write_temp_file(b, n);
	assert_tsl_fail(tsl_archive_open_path(&ar, tmp, NULL, &err), err,
		TSL_ENOTTORCHSCRIPT);
	assert_null(ar);
	if (n)   /* an empty file says so */
		assert_contains(err.message, what);
	assert_int_equal(tsl_detect_path(tmp, &k, &err), TSL_OK);
	assert_int_equal(k, kind);
	remove_temp_file(tmp);
}

static void test_kind_synthesized(void **state)
{
	uint8_t b[256];
	size_t size;
	uint8_t *zip;
	zb z;
	tsl_error err;
	tsl_archive *ar;
	uint8_t *copy;
	tsl_file_kind k;
	char *tmp;

	(void)state;
	memset(b, 0, sizeof b);
	memcpy(b, "PYTORCH1", 8);
	expect_not_ts(b, sizeof b, "preview", TSL_KIND_PREVIEW);
	memcpy(b, "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.",
		15);
	expect_not_ts(b, sizeof b, "torch.save", TSL_KIND_TORCH_SAVE_LEGACY);
	memcpy(b, "\x18\x00\x00\x00PTMF\x00\x00", 10);
	expect_not_ts(b, sizeof b, "FlatBuffer", TSL_KIND_FLATBUFFER);
	/* FlatBuffer wins over a zip signature */
	memcpy(b, "PK\x03\x04PTMF", 8);
	expect_not_ts(b, sizeof b, "FlatBuffer", TSL_KIND_FLATBUFFER);
	expect_not_ts("hello, this is not a model\n", 27, "not a zip",
		TSL_KIND_UNKNOWN);
	expect_not_ts("PK", 2, "not a zip", TSL_KIND_UNKNOWN);
	expect_not_ts("", 0, "not a zip", TSL_KIND_UNKNOWN);
	/* an empty file from a path says "empty" */
	tmp = write_temp_file("", 0);
	assert_tsl_fail(tsl_archive_open_path(&ar, tmp, NULL, &err), err,
		TSL_ENOTTORCHSCRIPT);
	assert_contains(err.message, "empty");
	remove_temp_file(tmp);
	/* random bytes */
	srand(7);
	for (size_t i = 0; i < sizeof b; i++)
		b[i] = (uint8_t)rand();
	b[0] = 'x';
	expect_not_ts(b, sizeof b, "not a zip", TSL_KIND_UNKNOWN);

	/* the inner message survives in the outer one */
	expect_open((const uint8_t *)"hello, this is not a model\n", 27, NULL,
		TSL_ENOTTORCHSCRIPT, &err);
	assert_contains(err.message, "no end of central directory record in "
		"the last 27 bytes");
	/* said once, not garbled by formatting the message into itself */
	assert_null(strstr(strstr(err.message, "not a TorchScript") + 1,
		"not a TorchScript"));

	/* a zip with none of the known records */
	zb_init(&z, 0, false);
	zb_add_str(&z, "a/readme.txt", "hello");
	zip = zb_finish(&z, &size);
	expect_not_ts(zip, size, "zip archive", TSL_KIND_ZIP);
	free(zip);
	zb_free(&z);
	/* an empty zip (just an end record) */
	zb_init(&z, 0, false);
	zip = zb_finish(&z, &size);
	expect_open(zip, size, NULL, TSL_ENOTTORCHSCRIPT, &err);
	free(zip);
	zb_free(&z);

	/* a zip with data.pkl but no constants.pkl: a torch.save checkpoint */
	zb_init(&z, 64, true);
	zb_add_str(&z, "ckpt/data.pkl", "\x80\x02}q\x00.");
	zb_add_str(&z, "ckpt/data/0", "abcd");
	zb_add_str(&z, "ckpt/version", "3\n");
	zip = zb_finish(&z, &size);
	ar = open_copy(zip, size, NULL, TSL_OK, &err, &copy);
	assert_int_equal(tsl_archive_kind(ar), TSL_KIND_TORCH_SAVE);
	tsl_archive_free(ar);
	free(copy);
	tmp = write_temp_file(zip, size);
	assert_int_equal(tsl_detect_path(tmp, &k, &err), TSL_OK);
	assert_int_equal(k, TSL_KIND_TORCH_SAVE);
	remove_temp_file(tmp);
	free(zip);
	zb_free(&z);

	/* model.json wins: legacy */
	zb_init(&z, 0, false);
	zb_add_str(&z, "old/version", "1\n");
	zb_add_str(&z, "old/model.json", "{}");
	zb_add_str(&z, "old/constants.pkl", "\x80\x02).");
	zip = zb_finish(&z, &size);
	ar = open_copy(zip, size, NULL, TSL_OK, &err, &copy);
	assert_int_equal(tsl_archive_kind(ar), TSL_KIND_TORCHSCRIPT_LEGACY);
	tsl_archive_free(ar);
	free(copy);
	free(zip);
	zb_free(&z);

	assert_int_equal(tsl_detect_path("/nonexistent/x", &k, &err),
		TSL_ENOTFOUND);
	assert_true(err.message[0]);
	assert_int_equal(tsl_detect_path("/nonexistent/x", NULL, &err),
		TSL_EINVAL);
	for (int i = 0; i <= 7; i++)
		assert_true(tsl_file_kind_name((tsl_file_kind)i)[0]);
}

/* Replace the content of record `rel` (same length) in a copy. */
static void patch_record(uint8_t *b, size_t size, const char *rel,
	const char *content)
{
	zv v;
	size_t e, lho;

	zv_parse(&v, b, size);
	e = zv_find(&v, rel);
	assert_int_equal(rd32(b + e + 24), strlen(content));
	lho = rd32(b + e + 42);
	memcpy(b + lho + 30 + rd16(b + lho + 26) + rd16(b + lho + 28), content,
		strlen(content));
}

static void test_bad_versions(void **state)
{
	size_t size, gsize;
	uint8_t *orig = load(MLP, &size), *b = dup_exact(orig, size);
	uint8_t *gelu = load("good-gelu.pt", &gsize);
	tsl_archive *ar;
	uint8_t *copy;
	tsl_error err;
	zv v;

	(void)state;
	zv_parse(&v, b, size);
	patch_record(b, size, "version", "0\n");
	expect_open(b, size, NULL, TSL_EVERSION, &err);
	assert_contains(err.message, "Attempted to read a PyTorch file with "
		"version 0, but the minimum supported version for reading is 1");
	assert_string_equal(err.record, "good-scripted-mlp/version");
	assert_int_equal(err.offset, rd32(b + zv_find(&v, "version") + 42));

	patch_record(b, size, "version", "11");
	expect_open(b, size, NULL, TSL_EVERSION, &err);
	assert_contains(err.message, "Attempted to read a PyTorch file with "
		"version 11, but the maximum supported version for reading is "
		"10");
	assert_string_equal(err.record, "good-scripted-mlp/version");

	patch_record(b, size, "version", "10");
	ar = open_copy(b, size, NULL, TSL_OK, &err, &copy);
	assert_int_equal(tsl_archive_format_version(ar), 10);
	tsl_archive_free(ar);
	free(copy);
	patch_record(b, size, "version", "1\n");
	ar = open_copy(b, size, NULL, TSL_OK, &err, &copy);
	assert_int_equal(tsl_archive_format_version(ar), 1);
	tsl_archive_free(ar);
	free(copy);

	patch_record(b, size, "version", "x\n");
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	assert_string_equal(err.record, "good-scripted-mlp/version");
	patch_record(b, size, "version", "3x");
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	assert_contains(err.message, "trailing");

	/* .data/version wins over version, and it too is checked */
	patch_record(gelu, gsize, ".data/version", "11\n");
	expect_open(gelu, gsize, NULL, TSL_EVERSION, &err);
	assert_contains(err.message, "version 11");
	assert_string_equal(err.record, "good-gelu/.data/version");
	patch_record(gelu, gsize, ".data/version", "999");
	expect_open(gelu, gsize, NULL, TSL_EVERSION, &err);

	/* no version at all: rename the record */
	memcpy(b, orig, size);
	b[zv_find(&v, "version") + 46 + strlen("good-scripted-mlp/")] = 'V';
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	assert_contains(err.message, "version");

	{
		zb z;
		size_t n;
		uint8_t *zip;

		/* a huge number, an empty record, a long record */
		static const char *const bad[] = { "123456789012345", "", "\n",
			"3                                                        "
			"          \n" };
		for (size_t i = 0; i < 4; i++) {
			zb_init(&z, 64, true);
			zb_minimal(&z, "m", bad[i]);
			zip = zb_finish(&z, &n);
			expect_open(zip, n, NULL, TSL_EFORMAT, &err);
			assert_string_equal(err.record, "m/version");
			free(zip);
			zb_free(&z);
		}
		/* a deflated version record */
		zb_init(&z, 64, true);
		zb_add_str(&z, "m/data.pkl", "x");
		zb_add_str(&z, "m/constants.pkl", "x");
		zb_add(&z, "m/version", "7\n", 2, 8);
		zip = zb_finish(&z, &n);
		ar = open_copy(zip, n, NULL, TSL_OK, &err, &copy);
		assert_int_equal(tsl_archive_format_version(ar), 7);
		tsl_archive_free(ar);
		free(copy);
		free(zip);
		zb_free(&z);
	}
	free(b);
	free(orig);
	free(gelu);
}

static void test_byteorder(void **state)
{
	static const struct {
		const char *text;
		int want;   /* 0/1 big_endian, -1 EFORMAT */
	} c[] = {
		{ "little", 0 }, { "big", 1 }, { "little\n", 0 }, { "big\n", 1 },
		{ "middle", -1 }, { "", -1 }, { "LITTLE", -1 }, { "bigger", -1 },
		{ "littlelittlelittle", -1 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		zb z;
		size_t n;
		uint8_t *zip, *copy;
		tsl_archive *ar;
		tsl_error err;

		zb_init(&z, 64, true);
		zb_minimal(&z, "m", "10\n");
		zb_add_str(&z, "m/byteorder", c[i].text);
		zip = zb_finish(&z, &n);
		if (c[i].want >= 0) {
			ar = open_copy(zip, n, NULL, TSL_OK, &err, &copy);
			assert_int_equal(tsl_archive_big_endian(ar), c[i].want);
			tsl_archive_free(ar);
			free(copy);
		} else {
			expect_open(zip, n, NULL, TSL_EFORMAT, &err);
			assert_string_equal(err.record, "m/byteorder");
			assert_contains(err.message, "byteorder");
		}
		free(zip);
		zb_free(&z);
	}
}

/* ------------------------------------------------------------------------ */
/* 3. malformed zips                                                         */
/* ------------------------------------------------------------------------ */

static void truncate_one(const uint8_t *b, size_t len)
{
	tsl_error err;
	tsl_archive *ar = NULL;
	uint8_t *c = dup_exact(b, len);
	int rc = tsl_archive_open_buffer(&ar, c, len, NULL, &err);

	if (rc == TSL_OK) {
		tsl_archive_free(ar);
		free(c);
		fail_msg("truncated to %zu bytes: opened", len);
	}
	if (rc != TSL_EFORMAT && rc != TSL_ENOTTORCHSCRIPT)
		fail_msg("truncated to %zu bytes: %s (%s)", len,
			tsl_status_name(rc), err.message);
	if (err.code != rc || !err.message[0])
		fail_msg("truncated to %zu bytes: no message", len);
	assert_null(ar);
	free(c);
}

static void test_truncated(void **state)
{
	static const char *const files[] = { MLP, "good-rezip-deflate.pt",
		"good-rezip-unaligned.pt", "good-buffer-prefix.pt" };
	size_t tried = 0;

	(void)state;
	for (size_t f = 0; f < 4; f++) {
		size_t size, len;
		uint8_t *b = load(files[f], &size);

		for (len = size > 200 ? size - 200 : 0; len < size; len++)
			truncate_one(b, len), tried++;
		for (len = 0; len + 200 < size; len += 37)
			truncate_one(b, len), tried++;
		free(b);
	}
	print_message("     %zu truncations, all refused\n", tried);
}

static void test_cd_bounds(void **state)
{
	size_t size;
	uint8_t *orig = load(MLP, &size), *b = dup_exact(orig, size);
	tsl_error err;
	zv v;

	(void)state;
	zv_parse(&v, b, size);
	assert_true(v.eocd64 != SIZE_MAX);   /* torch writes zip64 ends */

	zv_set_cd(&v, size, v.cd_size);
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	assert_contains(err.message, "central directory");
	assert_int_equal(err.offset, v.eocd);
	zv_set_cd(&v, v.cd_off, v.cd_size + 1);   /* runs into the end records */
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	assert_int_equal(err.offset, v.eocd);
	zv_set_cd(&v, 1, UINT64_MAX);               /* offset + size overflows */
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	zv_set_cd(&v, UINT64_MAX, 1);
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	zv_set_cd(&v, v.cd_off + 1, v.cd_size - 1); /* misaligned: bad signature */
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	assert_contains(err.message, "signature");
	assert_int_equal(err.offset, v.cd_off + 1);
	zv_set_cd(&v, v.cd_off, 10);                /* shorter than its entries */
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	zv_set_cd(&v, v.cd_off, v.cd_size - 1);     /* last entry runs past it */
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	assert_contains(err.message, "past the end of the central directory");
	assert_int_equal(err.offset, zv_entry(&v, MLP_RECORDS - 1));
	zv_set_cd(&v, v.cd_off, v.cd_size);
	{   /* unchanged: opens */
		uint8_t *copy;
		tsl_archive *ar = open_copy(b, size, NULL, TSL_OK, &err, &copy);

		tsl_archive_free(ar);
		free(copy);
	}
	free(b);
	free(orig);

	/* the same on a classic (no zip64) end record */
	orig = load("good-rezip-unaligned.pt", &size);
	b = dup_exact(orig, size);
	zv_parse(&v, b, size);
	assert_true(v.eocd64 == SIZE_MAX);
	zv_set_cd(&v, (uint32_t)size, (uint32_t)v.cd_size);
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	assert_int_equal(err.offset, v.eocd);
	zv_set_cd(&v, v.cd_off, v.cd_size + 1);
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	/* 0xFFFFFFFF without a zip64 locator */
	zv_set_cd(&v, 0xffffffffu, v.cd_size);
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	assert_contains(err.message, "zip64");
	memcpy(b, orig, size);
	zv_set_count(&v, 0xffff);
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	assert_contains(err.message, "zip64");
	/* multi-disk */
	memcpy(b, orig, size);
	put16(b + v.eocd + 4, 1);
	expect_open(b, size, NULL, TSL_EUNSUPPORTED, &err);
	assert_int_equal(err.offset, v.eocd);
	/* a comment that runs past the end hides the end record */
	memcpy(b, orig, size);
	put16(b + v.eocd + 20, 1);
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	/* a real comment is fine */
	{
		uint8_t *c = malloc(size + 5), *copy;
		tsl_archive *ar;

		assert_non_null(c);
		memcpy(c, orig, size);
		put16(c + v.eocd + 20, 5);
		memcpy(c + size, "hello", 5);
		ar = open_copy(c, size + 5, NULL, TSL_OK, &err, &copy);
		tsl_archive_free(ar);
		free(copy);
		free(c);
	}
	free(b);
	free(orig);
}

static void test_record_past_cd(void **state)
{
	size_t size;
	uint8_t *orig = load(MLP, &size), *b = dup_exact(orig, size);
	tsl_error err;
	zv v;
	size_t e;

	(void)state;
	zv_parse(&v, b, size);
	e = zv_find(&v, "data/3");
	put32(b + e + 20, 100000);
	put32(b + e + 24, 100000);
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	assert_contains(err.message, "extends past the start of the central "
		"directory");
	assert_string_equal(err.record, "good-scripted-mlp/data/3");
	assert_int_equal(err.offset, e);

	/* the last record, one byte too long */
	memcpy(b, orig, size);
	e = zv_entry(&v, MLP_RECORDS - 1);
	put32(b + e + 20, (uint32_t)(v.cd_off - rd32(b + e + 42) - 30 + 1));
	put32(b + e + 24, rd32(b + e + 20));
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	assert_string_equal(err.record, "good-scripted-mlp/version");
	assert_int_equal(err.offset, e);

	/* header offset beyond the file */
	memcpy(b, orig, size);
	e = zv_find(&v, "data/0");
	put32(b + e + 42, 0xfffffff0u);
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	assert_string_equal(err.record, "good-scripted-mlp/data/0");
	assert_int_equal(err.offset, e);

	/* stored record with different sizes */
	memcpy(b, orig, size);
	put32(b + e + 24, rd32(b + e + 24) - 1);
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	assert_contains(err.message, "stored");
	assert_string_equal(err.record, "good-scripted-mlp/data/0");

	/* encrypted */
	memcpy(b, orig, size);
	b[e + 8] |= 1;
	expect_open(b, size, NULL, TSL_EUNSUPPORTED, &err);
	assert_contains(err.message, "encrypted");
	assert_string_equal(err.record, "good-scripted-mlp/data/0");
	assert_int_equal(err.offset, e);

	/* an empty name, a NUL in a name */
	memcpy(b, orig, size);
	b[e + 46 + 3] = '\0';
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	assert_int_equal(err.offset, e);
	free(b);
	free(orig);

	{
		zb z;
		size_t n;
		uint8_t *zip;

		zb_init(&z, 0, false);
		zb_minimal(&z, "m", "3\n");
		zb_add_str(&z, "x", "");
		zip = zb_finish(&z, &n);
		zv_parse(&v, zip, n);
		e = zv_entry(&v, 3);
		put16(zip + e + 28, 0);      /* name length 0 ... */
		put16(zip + e + 32, 1);      /* ... the byte becomes a comment */
		expect_open(zip, n, NULL, TSL_EFORMAT, &err);
		assert_contains(err.message, "empty name");
		assert_int_equal(err.offset, e);
		free(zip);
		zb_free(&z);
	}
}

static void test_overlap(void **state)
{
	size_t size;
	uint8_t *orig = load(MLP, &size), *b = dup_exact(orig, size);
	tsl_error err;
	zv v;
	size_t e0, e1;

	(void)state;
	zv_parse(&v, b, size);
	e0 = zv_find(&v, "data/0");
	e1 = zv_find(&v, "data/1");
	put32(b + e1 + 42, rd32(b + e0 + 42) + 40);
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	assert_contains(err.message, "overlaps");
	assert_string_equal(err.record, "good-scripted-mlp/data/0");
	assert_int_equal(err.offset, rd32(b + e0 + 42));

	/* two entries for the same local header */
	put32(b + e1 + 42, rd32(b + e0 + 42));
	put32(b + e1 + 20, 0);
	put32(b + e1 + 24, 0);
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	assert_contains(err.message, "overlaps");

	/* a record that overlaps the next one by its data size */
	memcpy(b, orig, size);
	put32(b + e0 + 20, rd32(b + e1 + 42) - rd32(b + e0 + 42));
	put32(b + e0 + 24, rd32(b + e0 + 20));
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	assert_contains(err.message, "overlaps");
	assert_string_equal(err.record, "good-scripted-mlp/data/0");
	free(b);
	free(orig);
}

static void test_entry_count_lies(void **state)
{
	size_t size;
	uint8_t *orig = load(MLP, &size), *b = dup_exact(orig, size);
	tsl_error err;
	tsl_options o = TSL_OPTIONS_INIT;
	zv v;

	(void)state;
	zv_parse(&v, b, size);
	assert_int_equal(v.n, MLP_RECORDS);

	zv_set_count(&v, (uint64_t)1 << 40);       /* over max_records */
	expect_open(b, size, NULL, TSL_ELIMIT, &err);
	assert_contains(err.message, "max_records");
	zv_set_count(&v, UINT64_MAX);
	expect_open(b, size, NULL, TSL_ELIMIT, &err);
	o.max_records = UINT64_MAX;                  /* then the size check */
	expect_open(b, size, &o, TSL_EFORMAT, &err);
	zv_set_count(&v, v.cd_size / 46 + 1);        /* cannot fit */
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	assert_contains(err.message, "can hold at most");
	assert_int_equal(err.offset, v.eocd);

	zv_set_count(&v, MLP_RECORDS + 1);           /* one more */
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	assert_contains(err.message, "entry 21 of 21");
	assert_int_equal(err.offset, v.cd_off + v.cd_size);

	/* one less: the last record (version) is not seen */
	zv_set_count(&v, MLP_RECORDS - 1);
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	assert_contains(err.message, "version");

	zv_set_count(&v, 0);
	expect_open(b, size, NULL, TSL_ENOTTORCHSCRIPT, &err);

	/* the classic end record is ignored when the zip64 one is there, and
	 * is checked when it is not */
	memcpy(b, orig, size);
	put16(b + v.eocd + 10, 3);
	put16(b + v.eocd + 8, 3);
	{
		uint8_t *copy;
		tsl_archive *ar = open_copy(b, size, NULL, TSL_OK, &err, &copy);

		assert_int_equal(tsl_archive_record_count(ar), MLP_RECORDS);
		tsl_archive_free(ar);
		free(copy);
	}
	free(b);
	free(orig);
}

static void test_zip64_locator(void **state)
{
	size_t size;
	uint8_t *orig = load(MLP, &size), *b = dup_exact(orig, size);
	tsl_error err;
	zv v;

	(void)state;
	zv_parse(&v, b, size);
	put64(b + v.loc + 8, size + 100);
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	assert_contains(err.message, "zip64 locator");
	assert_int_equal(err.offset, v.loc);
	put64(b + v.loc + 8, UINT64_MAX);
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	assert_int_equal(err.offset, v.loc);
	put64(b + v.loc + 8, v.loc - 10);            /* overlaps the locator */
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	assert_int_equal(err.offset, v.loc);
	put64(b + v.loc + 8, 0);                     /* at a local header */
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	assert_contains(err.message, "no zip64 end of central directory");
	assert_int_equal(err.offset, 0);
	put64(b + v.loc + 8, v.cd_off);              /* at the directory */
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	assert_int_equal(err.offset, v.cd_off);

	/* garbage in the zip64 end record */
	memcpy(b, orig, size);
	b[v.eocd64] ^= 0xff;
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	assert_int_equal(err.offset, v.eocd64);
	memcpy(b, orig, size);
	memset(b + v.eocd64 + 24, 0xee, 32);            /* count, offset, size */
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	memcpy(b, orig, size);
	memset(b + v.eocd64 + 24, 0xee, 16);            /* count 0xeeee... */
	expect_open(b, size, NULL, TSL_ELIMIT, &err);
	assert_contains(err.message, "max_records");
	memcpy(b, orig, size);
	memset(b + v.eocd64 + 40, 0xee, 16);
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	free(b);
	free(orig);
}

/* A deflated record declaring 1 TiB: refused without allocating it. */
static void test_deflate_huge_declared(void **state)
{
	zb z;
	size_t n, idx;
	uint8_t *zip, *copy;
	tsl_archive *ar;
	tsl_error err;
	tsl_options o = TSL_OPTIONS_INIT;
	const void *d;
	size_t len;
	static const uint8_t payload[100];

	(void)state;
	zb_init(&z, 64, true);
	zb_minimal(&z, "m", "3\n");
	idx = zb_add(&z, "m/code/big.py", payload, sizeof payload, 8);
	z.recs[idx].usize = (uint64_t)1 << 40;
	zb_add(&z, "m/code/small.py", "small", 5, 8);
	zip = zb_finish(&z, &n);

	/* opening reads no record data, so it succeeds */
	ar = open_copy(zip, n, NULL, TSL_OK, &err, &copy);
	assert_tsl_fail(tsl_archive_read(ar, "code/big.py", &d, &len, &err),
		err, TSL_ELIMIT);
	assert_string_equal(err.record, "m/code/big.py");
	assert_int_equal(err.offset, z.recs[idx].data_off);
	assert_contains(err.message, "max_record_bytes");
	tsl_archive_free(ar);
	free(copy);

	/* with the limits raised: still no allocation (3 KB of deflate
	 * cannot make 1 TiB: EFORMAT) */
	o.max_record_bytes = (uint64_t)1 << 41;
	o.max_total_bytes = ((uint64_t)1 << 40) + 10;
	ar = open_copy(zip, n, &o, TSL_OK, &err, &copy);
	memset(&err, 0, sizeof err);
	if (tsl_archive_read(ar, "code/big.py", &d, &len, &err) == TSL_OK)
		fail_msg("1 TiB record decoded");
	if (err.code != TSL_ELIMIT && err.code != TSL_EUNSUPPORTED &&
		err.code != TSL_EFORMAT)
		fail_msg("1 TiB record: %s", tsl_status_name(err.code));
	assert_true(err.message[0]);
	assert_string_equal(err.record, "m/code/big.py");
	assert_int_equal(err.offset, z.recs[idx].data_off);
	/* the failed attempt was not counted against max_total_bytes */
	if (tsl_archive_read(ar, "code/small.py", &d, &len, &err) != TSL_OK)
		fail_msg("after the failed 1 TiB read: %s", err.message);
	assert_int_equal(len, 5);
	assert_memory_equal(d, "small", 5);
	tsl_archive_free(ar);
	free(copy);
	free(zip);
	zb_free(&z);
}

/* Sizes fit 46 bits in an entry: a compressed record that claims 64 TiB
 * or more is refused when the archive is opened, naming the record and its
 * directory entry; one byte less opens (and is refused when read). */
static void test_record_over_64tib(void **state)
{
	static const uint8_t payload[100];

	(void)state;
	for (int over = 0; over < 2; over++) {
		zb z;
		size_t n, idx;
		uint8_t *zip, *copy;
		tsl_archive *ar;
		tsl_error err;
		const void *d;
		size_t len;

		zb_init(&z, 64, true);
		zb_minimal(&z, "m", "3\n");
		idx = zb_add(&z, "m/code/big.py", payload, sizeof payload, 8);
		z.recs[idx].usize = ((uint64_t)1 << 46) - 1 + (uint64_t)over;
		zip = zb_finish(&z, &n);
		ar = open_copy(zip, n, NULL, over ? TSL_EUNSUPPORTED : TSL_OK,
			&err, &copy);
		if (over) {
			assert_null(ar);
			assert_string_equal(err.record, "m/code/big.py");
			assert_int_equal(err.offset, z.recs[idx].cd_pos);
			assert_contains(err.message, "64 TiB");
		} else {
			assert_tsl_fail(tsl_archive_read(ar, "code/big.py", &d,
				&len, &err), err, TSL_ELIMIT);
			tsl_archive_free(ar);
		}
		free(copy);
		free(zip);
		zb_free(&z);
	}
}

static void test_deflate_size_mismatch(void **state)
{
	uint8_t data[3000];
	(void)state;

	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (uint8_t)(i * 7 + (i >> 5));
	/* declared: fewer, more, right; then a broken stream, an unknown
	 * method, a stream that ends early */
	for (int c = 0; c < 8; c++) {
		zb z;
		size_t n, idx;
		uint8_t *zip, *copy;
		tsl_archive *ar;
		tsl_error err;
		const void *d;
		size_t len;
		int want;

		zb_init(&z, 64, true);
		zb_minimal(&z, "m", "3\n");
		switch (c) {
		case 0:   /* the stream gives more than declared */
			idx = zb_add(&z, "m/code/a.py", data, sizeof data, 8);
			z.recs[idx].usize = sizeof data - 1;
			want = TSL_EFORMAT;
			break;
		case 1:   /* the stream gives fewer than declared */
			idx = zb_add(&z, "m/code/a.py", data, sizeof data, 8);
			z.recs[idx].usize = sizeof data + 1;
			want = TSL_EFORMAT;
			break;
		case 2:   /* right */
			idx = zb_add(&z, "m/code/a.py", data, sizeof data, 8);
			want = TSL_OK;
			break;
		case 3: { /* invalid block type 3 */
			static const uint8_t bad[] = { 0x07, 0, 0, 0, 0, 0, 0 };

			idx = zb_add_raw(&z, "m/code/a.py", bad, sizeof bad, 8,
				100, 0);
			want = TSL_EFORMAT;
			break;
		}
		case 4:   /* a method nobody knows */
			idx = zb_add_raw(&z, "m/code/a.py", data, 100, 99, 100,
				crc32_calc(data, 100));
			want = TSL_EUNSUPPORTED;
			break;
		case 5: { /* a stored block cut short by the compressed size */
			size_t plen;
			uint8_t *p = deflate_stored(data, sizeof data, &plen);

			idx = zb_add_raw(&z, "m/code/a.py", p, plen - 100, 8,
				sizeof data, crc32_calc(data, sizeof data));
			free(p);
			want = TSL_EFORMAT;
			break;
		}
		case 6:   /* 0-byte deflated record */
			idx = zb_add(&z, "m/code/a.py", data, 0, 8);
			want = TSL_OK;
			break;
		default:  /* 3000 bytes claiming 256 MiB (under the limits) */
			idx = zb_add(&z, "m/code/a.py", data, sizeof data, 8);
			z.recs[idx].usize = (uint64_t)256 << 20;
			want = TSL_EFORMAT;
			break;
		}
		zip = zb_finish(&z, &n);
		ar = open_copy(zip, n, NULL, TSL_OK, &err, &copy);
		for (int again = 0; again < 2; again++) {
			memset(&err, 0, sizeof err);
			if (want == TSL_OK) {
				assert_int_equal(tsl_archive_read(ar, "code/a.py",
					&d, &len, &err), TSL_OK);
				assert_int_equal(len, z.recs[idx].usize);
				if (len)
					assert_memory_equal(d, data, len);
				continue;
			}
			if (tsl_archive_read(ar, "code/a.py", &d, &len, &err) !=
				want || err.code != want || !err.message[0])
				fail_msg("case %d: want %s, got %s: %s", c,
					tsl_status_name(want),
					tsl_status_name(err.code), err.message);
			assert_string_equal(err.record, "m/code/a.py");
			/* the offset is the compressed byte where decoding
			 * stopped: inside the record's data */
			assert_true(err.offset >= z.recs[idx].data_off);
			assert_true(err.offset <= z.recs[idx].data_off +
				z.recs[idx].csize);
			if (c != 4)   /* deflate: our decoder says why */
				assert_non_null(strstr(err.message,
					"deflated record"));
		}
		tsl_archive_free(ar);
		free(copy);
		free(zip);
		zb_free(&z);
	}
}

static void test_duplicate_names(void **state)
{
	size_t size;
	uint8_t *b = load(MLP, &size);
	tsl_error err;
	zv v;
	size_t e0, e1;

	(void)state;
	zv_parse(&v, b, size);
	e0 = zv_find(&v, "data/0");
	e1 = zv_find(&v, "data/1");
	b[e0 + 46 + rd16(b + e0 + 28) - 1] = '1';      /* data/0 -> data/1 */
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	assert_contains(err.message, "two records are named");
	assert_string_equal(err.record, "good-scripted-mlp/data/1");
	assert_true(err.offset == e0 || err.offset == e1);
	free(b);

	{   /* also for names built here, and a deflated duplicate */
		zb z;
		size_t n;
		uint8_t *zip;

		zb_init(&z, 64, true);
		zb_minimal(&z, "m", "3\n");
		zb_add(&z, "m/code/x.py", "abc", 3, 8);
		zb_add(&z, "m/code/x.py", "abc", 3, 0);
		zip = zb_finish(&z, &n);
		expect_open(zip, n, NULL, TSL_EFORMAT, &err);
		assert_string_equal(err.record, "m/code/x.py");
		assert_int_equal(err.offset, z.recs[4].cd_pos);
		{   /* both entries' offsets, found again by walking */
			char want[96];

			snprintf(want, sizeof want, "entries at %llu and %llu",
				(unsigned long long)z.recs[3].cd_pos,
				(unsigned long long)z.recs[4].cd_pos);
			assert_contains(err.message, want);
		}
		free(zip);
		zb_free(&z);
	}
}

static void test_local_header_broken(void **state)
{
	size_t size;
	uint8_t *orig = load(MLP, &size), *b = dup_exact(orig, size), *copy;
	tsl_archive *ar;
	tsl_error err;
	zv v;
	size_t e;
	uint64_t lho;
	const void *d;
	size_t n;

	(void)state;
	zv_parse(&v, b, size);
	e = zv_find(&v, "data/0");
	lho = rd32(b + e + 42);

	/* bad signature: opening is fine (no local header is read), reading
	 * that record fails, others still read */
	b[lho] = 'X';
	ar = open_copy(b, size, NULL, TSL_OK, &err, &copy);
	assert_tsl_fail(tsl_archive_read(ar, "data/0", &d, &n, &err), err,
		TSL_EFORMAT);
	assert_contains(err.message, "local");
	assert_string_equal(err.record, "good-scripted-mlp/data/0");
	assert_int_equal(err.offset, lho);
	assert_tsl_fail(tsl_archive_record_data_offset(ar, 1, &lho, &err), err,
		TSL_EFORMAT);
	lho = rd32(b + e + 42);
	assert_int_equal(tsl_archive_read(ar, "data/1", &d, &n, &err), TSL_OK);
	assert_int_equal(tsl_archive_read(ar, "data.pkl", &d, &n, &err), TSL_OK);
	tsl_archive_free(ar);
	free(copy);

	/* the local header names another record */
	memcpy(b, orig, size);
	b[lho + 30 + rd16(b + lho + 26) - 1] = '7';
	ar = open_copy(b, size, NULL, TSL_OK, &err, &copy);
	assert_tsl_fail(tsl_archive_read(ar, "data/0", &d, &n, &err), err,
		TSL_EFORMAT);
	assert_contains(err.message, "different record");
	assert_int_equal(err.offset, lho);
	tsl_archive_free(ar);
	free(copy);

	/* name length differs */
	memcpy(b, orig, size);
	put16(b + lho + 26, rd16(b + lho + 26) + 1);
	ar = open_copy(b, size, NULL, TSL_OK, &err, &copy);
	assert_tsl_fail(tsl_archive_read(ar, "data/0", &d, &n, &err), err,
		TSL_EFORMAT);
	assert_int_equal(err.offset, lho);
	tsl_archive_free(ar);
	free(copy);

	/* the local extra length pushes the data past the directory */
	memcpy(b, orig, size);
	put16(b + lho + 28, 0xffff);
	ar = open_copy(b, size, NULL, TSL_OK, &err, &copy);
	assert_tsl_fail(tsl_archive_read(ar, "data/0", &d, &n, &err), err,
		TSL_EFORMAT);
	assert_string_equal(err.record, "good-scripted-mlp/data/0");
	assert_int_equal(err.offset, lho);
	tsl_archive_free(ar);
	free(copy);

	/* a broken local header of the version record fails the open */
	memcpy(b, orig, size);
	e = zv_find(&v, "version");
	b[rd32(b + e + 42) + 1] = 'X';
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	assert_string_equal(err.record, "good-scripted-mlp/version");
	assert_int_equal(err.offset, rd32(b + e + 42));

	/* a deflated record's local header */
	free(b);
	free(orig);
	orig = load("good-rezip-deflate.pt", &size);
	b = dup_exact(orig, size);
	zv_parse(&v, b, size);
	e = zv_find(&v, "data.pkl");
	lho = rd32(b + e + 42);
	b[lho + 2] = 0;
	ar = open_copy(b, size, NULL, TSL_OK, &err, &copy);
	assert_tsl_fail(tsl_archive_read(ar, "data.pkl", &d, &n, &err), err,
		TSL_EFORMAT);
	assert_int_equal(err.offset, lho);
	tsl_archive_free(ar);
	free(copy);
	free(b);
	free(orig);
}

/* A local header whose extra field covers the next record's header: its
 * data would be the next record's bytes (two records, one extent: the
 * overlap of zip bombs).  The open checks only a lower bound of each
 * extent; reading the local header finds the exact one and refuses it,
 * whether the directory is in file order or not.  The next record and the
 * others still read. */
static void test_overlap_local_extra(void **state)
{
	(void)state;
	for (int reverse = 0; reverse < 2; reverse++) {
		static const char payload[] = "0123456789abcdef";
		zb z;
		size_t n, a, b, i;
		uint64_t ext;
		uint8_t *zip, *copy;
		tsl_archive *ar;
		tsl_error err;
		const void *d;
		size_t dn;

		zb_init(&z, 0, false);
		z.reverse_cd = reverse;
		zb_minimal(&z, "m", "3\n");
		a = zb_add_str(&z, "m/extra/a", payload);
		b = zb_add_str(&z, "m/extra/b", payload);
		zip = zb_finish(&z, &n);
		/* a's data moves to b's: its extra field spans b's header */
		ext = z.recs[b].data_off - (z.recs[a].lho + 30 +
			strlen(z.recs[a].name));
		assert_true(ext < 0xffff);
		put16(zip + z.recs[a].lho + 28, (uint16_t)ext);
		ar = open_copy(zip, n, NULL, TSL_OK, &err, &copy);
		assert_tsl_fail(tsl_archive_read(ar, "extra/a", &d, &dn, &err),
			err, TSL_EFORMAT);
		assert_contains(err.message, "overlaps the next record");
		assert_string_equal(err.record, "m/extra/a");
		assert_int_equal(err.offset, z.recs[a].lho);
		assert_int_equal(tsl_archive_read(ar, "extra/b", &d, &dn, &err),
			TSL_OK);
		assert_int_equal(dn, strlen(payload));
		assert_memory_equal(d, payload, dn);
		for (i = 0; i < 3; i++)   /* the records before it */
			assert_int_equal(tsl_archive_read(ar, (const char *[]){
				"data.pkl", "constants.pkl", "version" }[i],
				&d, &dn, &err), TSL_OK);
		tsl_archive_free(ar);
		free(copy);
		free(zip);
		zb_free(&z);
	}
}

static void test_first_entry_no_slash(void **state)
{
	size_t size;
	uint8_t *b = load(MLP, &size);
	tsl_error err;
	zv v;
	size_t e;
	char *slash;

	(void)state;
	zv_parse(&v, b, size);
	e = zv_entry(&v, 0);
	for (size_t i = 0; i < rd16(b + e + 28); i++)
		if (b[e + 46 + i] == '/')
			b[e + 46 + i] = '_';
	expect_open(b, size, NULL, TSL_EFORMAT, &err);
	assert_contains(err.message, "not in a subdirectory");
	assert_string_equal(err.record, "good-scripted-mlp_extra_meta.txt");
	assert_int_equal(err.offset, e);
	slash = strchr(err.message, '\'');
	assert_non_null(slash);
	free(b);
}

static void test_max_records(void **state)
{
	size_t size;
	uint8_t *b = load(MLP, &size), *copy;
	tsl_options o = TSL_OPTIONS_INIT;
	tsl_archive *ar;
	tsl_error err;

	(void)state;
	o.max_records = 5;
	expect_open(b, size, &o, TSL_ELIMIT, &err);
	assert_contains(err.message, "max_records");
	o.max_records = MLP_RECORDS - 1;
	expect_open(b, size, &o, TSL_ELIMIT, &err);
	o.max_records = MLP_RECORDS;
	ar = open_copy(b, size, &o, TSL_OK, &err, &copy);
	tsl_archive_free(ar);
	free(copy);
	free(b);
}

static void test_max_record_bytes(void **state)
{
	size_t size;
	uint8_t *b = load("good-rezip-deflate.pt", &size), *copy;
	tsl_options o = TSL_OPTIONS_INIT;
	tsl_archive *ar;
	tsl_error err;
	const void *d;
	size_t n;
	zv v;

	(void)state;
	zv_parse(&v, b, size);
	o.max_record_bytes = 100;
	ar = open_copy(b, size, &o, TSL_OK, &err, &copy);
	assert_tsl_fail(tsl_archive_read(ar, "data.pkl", &d, &n, &err), err,
		TSL_ELIMIT);
	assert_contains(err.message, "max_record_bytes");
	assert_string_equal(err.record, "good-scripted-mlp/data.pkl");
	assert_true(err.offset > rd32(b + zv_find(&v, "data.pkl") + 42));
	assert_int_equal(tsl_archive_read(ar, "constants.pkl", &d, &n, &err),
		TSL_OK);
	assert_int_equal(n, 4);
	tsl_archive_free(ar);
	free(copy);

	/* the limit is on the declared size: exactly at it is fine */
	o.max_record_bytes = 679;
	ar = open_copy(b, size, &o, TSL_OK, &err, &copy);
	assert_int_equal(tsl_archive_read(ar, "data.pkl", &d, &n, &err), TSL_OK);
	tsl_archive_free(ar);
	free(copy);

	/* max_total_bytes: the version (2) and data.pkl (679) fit in 1000,
	 * code/__torch__.py (367) does not; cached records still read */
	o.max_record_bytes = 0;
	o.max_total_bytes = 1000;
	ar = open_copy(b, size, &o, TSL_OK, &err, &copy);
	assert_int_equal(tsl_archive_read(ar, "data.pkl", &d, &n, &err), TSL_OK);
	assert_tsl_fail(tsl_archive_read(ar, "code/__torch__.py", &d, &n, &err),
		err, TSL_ELIMIT);
	assert_contains(err.message, "max_total_bytes");
	assert_string_equal(err.record, "good-scripted-mlp/code/__torch__.py");
	assert_int_equal(tsl_archive_read(ar, "data.pkl", &d, &n, &err), TSL_OK);
	assert_int_equal(tsl_archive_read(ar, "constants.pkl", &d, &n, &err),
		TSL_OK);
	tsl_archive_free(ar);
	free(copy);
	free(b);
}

static void test_crc(void **state)
{
	size_t size;
	uint8_t *orig = load("good-rezip-deflate.pt", &size);
	uint8_t *b = dup_exact(orig, size), *copy;
	tsl_options o = TSL_OPTIONS_INIT;
	tsl_archive *ar;
	tsl_error err;
	const void *d;
	size_t n;
	zv v;
	size_t e;

	(void)state;
	zv_parse(&v, b, size);
	e = zv_find(&v, "data.pkl");
	put32(b + e + 16, rd32(b + e + 16) ^ 1);
	/* PyTorch does not check CRCs: neither do we by default */
	ar = open_copy(b, size, NULL, TSL_OK, &err, &copy);
	assert_int_equal(tsl_archive_read(ar, "data.pkl", &d, &n, &err), TSL_OK);
	tsl_archive_free(ar);
	free(copy);
	o.flags = TSL_OPEN_VERIFY_CRC;
	ar = open_copy(b, size, &o, TSL_OK, &err, &copy);
	assert_tsl_fail(tsl_archive_read(ar, "data.pkl", &d, &n, &err), err,
		TSL_EFORMAT);
	assert_string_equal(err.record, "good-scripted-mlp/data.pkl");
	tsl_archive_free(ar);
	free(copy);
	free(b);
	free(orig);

	orig = load(MLP, &size);
	zv_parse(&v, orig, size);
	e = zv_find(&v, "data/2");
	put32(orig + e + 16, rd32(orig + e + 16) ^ 0x80000000u);
	ar = open_copy(orig, size, &o, TSL_OK, &err, &copy);
	assert_tsl_fail(tsl_archive_read(ar, "data/2", &d, &n, &err), err,
		TSL_EFORMAT);
	assert_contains(err.message, "CRC");
	assert_string_equal(err.record, "good-scripted-mlp/data/2");
	assert_int_equal(tsl_archive_read(ar, "data/1", &d, &n, &err), TSL_OK);
	tsl_archive_free(ar);
	free(copy);
	free(orig);
}

/* Every byte of the directory and end records, and a stride over the
 * records, changed in a few ways: each copy opens or fails cleanly, and
 * when it opens every record reads or fails cleanly. */
static void test_mutation_sweep(void **state)
{
	static const char *const files[] = { MLP, "good-rezip-deflate.pt" };
	static const uint8_t xors[] = { 0x01, 0x80, 0xff };
	size_t opened = 0, refused = 0, read_fail = 0;

	(void)state;
	for (size_t f = 0; f < 2; f++) {
		size_t size;
		uint8_t *orig = load(files[f], &size);
		uint8_t *b = dup_exact(orig, size);
		zv v;

		zv_parse(&v, orig, size);
		for (size_t pos = 0; pos < size; pos++) {
			if (pos < v.cd_off && pos % 11 != 0)
				continue;
			for (size_t k = 0; k < 4; k++) {
				tsl_archive *ar = NULL;
				tsl_error err;
				int rc;

				memcpy(b, orig, size);
				b[pos] = k < 3 ? b[pos] ^ xors[k] : 0;
				if (b[pos] == orig[pos])
					continue;
				rc = tsl_archive_open_buffer(&ar, b, size, NULL,
					&err);
				if (rc != TSL_OK) {
					if (err.code != rc || !err.message[0])
						fail_msg("%s byte %zu: %s "
							"without message",
							files[f], pos,
							tsl_status_name(rc));
					refused++;
					continue;
				}
				opened++;
				read_fail += read_all(ar) != TSL_OK;
				tsl_archive_free(ar);
			}
		}
		free(b);
		free(orig);
	}
	print_message("     mutations: %zu opened (%zu with a record failing "
		"to read), %zu refused\n", opened, read_fail, refused);
}

/* Seekable readers are read on demand; others are spooled. */
static void test_reader_sources(void **state)
{
	size_t size, i;
	uint8_t *buf = load(MLP, &size);
	tsl_archive *ar = NULL;
	tsl_error err;
	const void *d;
	size_t n;
	zv v;
	uint64_t at_open;

	(void)state;
	zv_parse(&v, buf, size);
	{   /* on demand: a read failure inside a record shows when it is
	     * read, not at open (a file of several 64 KiB chunks) */
		size_t rsize, e, lho = 0;
		uint8_t *rb = load("good-resnet-script.pt", &rsize);
		char rel[256] = "";
		zv rv;
		struct memreader m = { .b = rb, .size = rsize };
		tsl_reader r = { mr_read, mr_seek, mr_tell, &m };

		zv_parse(&rv, rb, rsize);
		e = (size_t)rv.cd_off;
		for (i = 0; i < rv.n; i++, e = zv_next(&rv, e)) {
			lho = rd32(rb + e + 42);
			if (lho >= 2 * 65536 && lho + rd32(rb + e + 20) +
				3 * 65536 < rsize && rd32(rb + e + 20) > 200)
				break;
		}
		assert_true(i < rv.n);
		snprintf(rel, sizeof rel, "%.*s", (int)rd16(rb + e + 28) -
			(int)strlen("good-resnet-script/"), (const char *)rb + e +
			46 + strlen("good-resnet-script/"));
		m.fail_lo = lho + 150;
		m.fail_hi = lho + 151;
		assert_int_equal(tsl_archive_open_reader(&ar, &r, NULL, &err),
			TSL_OK);
		at_open = m.bytes_read;
		assert_true(at_open < rsize);
		assert_int_equal(tsl_archive_read(ar, "data.pkl", &d, &n, &err),
			TSL_OK);
		assert_tsl_fail(tsl_archive_read(ar, rel, &d, &n, &err), err,
			TSL_EIO);
		/* the failed chunk is tried again, and fails again */
		assert_tsl_fail(tsl_archive_read(ar, rel, &d, &n, &err), err,
			TSL_EIO);
		m.fail_lo = m.fail_hi = 0;
		assert_int_equal(tsl_archive_read(ar, rel, &d, &n, &err), TSL_OK);
		assert_int_equal(read_all(ar), TSL_OK);
		tsl_archive_free(ar);
		print_message("     seekable reader: %llu of %zu bytes read at "
			"open; a read error inside %s shows when it is read\n",
			(unsigned long long)at_open, rsize, rel);
		free(rb);
	}
	{   /* a failure at the end fails the open */
		struct memreader m = { .b = buf, .size = size,
			.fail_lo = size - 30, .fail_hi = size };
		tsl_reader r = { mr_read, mr_seek, mr_tell, &m };

		assert_tsl_fail(tsl_archive_open_reader(&ar, &r, NULL, &err),
			err, TSL_EIO);
		assert_null(ar);
	}
	{   /* read() claiming more than asked */
		for (int seekable = 0; seekable < 2; seekable++) {
			struct memreader m = { .b = buf, .size = size,
				.overread = true };
			tsl_reader r = { mr_read, seekable ? mr_seek : NULL,
				mr_tell, &m };
			int rc = tsl_archive_open_reader(&ar, &r, NULL, &err);

			if (rc == TSL_OK)
				fail_msg("over-reading reader accepted");
			assert_true(err.code == rc && err.message[0]);
		}
	}
	{   /* seek fails: spooled from where it is */
		struct memreader m = { .b = buf, .size = size,
			.seek_fails = true };
		tsl_reader r = { mr_read, mr_seek, mr_tell, &m };

		assert_int_equal(tsl_archive_open_reader(&ar, &r, NULL, &err),
			TSL_OK);
		check_mlp(ar, size);
		tsl_archive_free(ar);
	}
	{   /* empty streams */
		for (int seekable = 0; seekable < 2; seekable++) {
			struct memreader m = { .b = buf, .size = 0 };
			tsl_reader r = { mr_read, seekable ? mr_seek : NULL,
				mr_tell, &m };

			assert_tsl_fail(tsl_archive_open_reader(&ar, &r, NULL,
				&err), err, TSL_ENOTTORCHSCRIPT);
		}
	}
	{   /* truncated and damaged, through the on-demand path */
		tsl_reader r;
		uint8_t *b = dup_exact(buf, size);

		for (i = 1; i < size; i += i < 64 ? 1 : 97) {
			struct memreader m = { .b = buf, .size = i };

			r = (tsl_reader){ mr_read, mr_seek, mr_tell, &m };
			if (tsl_archive_open_reader(&ar, &r, NULL, &err) ==
				TSL_OK)
				fail_msg("truncated to %zu: opened", i);
			assert_true(err.message[0]);
		}
		for (i = v.cd_off; i < size; i += 3) {
			struct memreader m = { .b = b, .size = size };

			memcpy(b, buf, size);
			b[i] ^= 0x5a;
			r = (tsl_reader){ mr_read, mr_seek, mr_tell, &m };
			if (tsl_archive_open_reader(&ar, &r, NULL, &err) ==
				TSL_OK) {
				(void)read_all(ar);
				tsl_archive_free(ar);
			} else {
				assert_true(err.message[0]);
			}
		}
		free(b);
	}
	assert_tsl_fail(tsl_archive_open_reader(&ar, NULL, NULL, &err), err,
		TSL_EINVAL);
	free(buf);
}

/* ------------------------------------------------------------------------ */
/* 4. lazy indexing                                                          */
/* ------------------------------------------------------------------------ */

#define LAZY_RECORDS 1500
#define LAZY_RECORD_BYTES 4096

/* Resident pages of [p, p+len); fills `where` (one byte per page). */
static size_t resident(void *p, size_t len, unsigned char *where)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t n = (len + (size_t)pg - 1) / (size_t)pg, r = 0;

	assert_int_equal(mincore(p, len, where), 0);
	for (size_t i = 0; i < n; i++)
		r += where[i] & 1;
	return r;
}

static int evict(const char *path, size_t size)
{
	int fd = open(path, O_RDONLY);
	int rc;

	if (fd < 0)
		return -1;
	(void)size;
	rc = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
	return rc;
}

/* Page-cache residency of the file, through a fresh mapping that touches
 * nothing. */
static size_t file_resident(const char *path, size_t size,
	unsigned char *where)
{
	int fd = open(path, O_RDONLY);
	void *m;
	size_t r;

	assert_true(fd >= 0);
	m = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(m != MAP_FAILED);
	close(fd);
	r = resident(m, size, where);
	munmap(m, size);
	return r;
}

/* Rss (KiB) of this process's mapping of `path`, -1 when not found. */
static long smaps_rss_kb(const char *path)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[4096];
	bool in = false;
	long rss = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof line, f)) {
		size_t n = strlen(line);

		if (n && line[n - 1] == '\n')
			line[--n] = '\0';
		if (strchr(line, '-') && strchr(line, ' ') &&
			!strchr(line, ':'))
			in = false;
		if (n >= strlen(path) && strcmp(line + n - strlen(path),
			path) == 0) {
			in = true;
			continue;
		}
		if (in && strncmp(line, "Rss:", 4) == 0) {
			rss = strtol(line + 4, NULL, 10);
			break;
		}
	}
	fclose(f);
	return rss;
}

/* Write path's pages out and evict them from the page cache (retried:
 * pages still on a per-CPU LRU list escape one eviction); where[] gets the
 * residency after.  Returns the pages left resident, or SIZE_MAX when the
 * test cannot run here (tmpfs, posix_fadvise refused, eviction
 * ineffective), with the reason printed. */
static size_t evict_all(const char *path, size_t size, size_t npages,
	unsigned char *where)
{
	struct statfs sfs;
	size_t r0 = 0;
	int fd;

	if (statfs(path, &sfs) == 0 && sfs.f_type == 0x01021994 /* tmpfs */) {
		print_message("     %s is on tmpfs: page cache cannot be "
			"evicted, skipped\n", path);
		return SIZE_MAX;
	}
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	(void)fdatasync(fd);
	close(fd);
	for (int tries = 0; tries < 5; tries++) {
		if (evict(path, size) != 0) {
			print_message("     posix_fadvise failed, skipped\n");
			return SIZE_MAX;
		}
		r0 = file_resident(path, size, where);
		if (r0 == 0)
			break;
		usleep(20000);
	}
	if (r0 > npages / 20) {
		print_message("     eviction ineffective (%zu of %zu pages "
			"still resident), skipped\n", r0, npages);
		return SIZE_MAX;
	}
	return r0;
}

static void test_lazy_index_pages(void **state)
{
	long pg = sysconf(_SC_PAGESIZE);
	static uint8_t rec[LAZY_RECORD_BYTES];
	zb z;
	size_t size, npages, r0 = 0, r1, r2, r3, tail_first, cd_pages, idx750;
	size_t brought = 0;
	size_t outside = 0, first_res = SIZE_MAX;
	long rss;
	uint8_t *zip;
	char *path;
	int fd;
	void *map;
	unsigned char *where, *before;
	tsl_archive *ar = NULL;
	tsl_error err;
	const void *d;
	size_t n;

	(void)state;
	zb_init(&z, 64, true);
	for (int i = 0; i < LAZY_RECORDS; i++) {
		char name[64];

		memset(rec, (uint8_t)i, sizeof rec);
		snprintf(name, sizeof name, "lazy/data/%d", i);
		zb_add(&z, name, rec, sizeof rec, 0);
	}
	zb_add_str(&z, "lazy/data.pkl", "\x80\x02K\x01.");
	zb_add_str(&z, "lazy/constants.pkl", "\x80\x02).");
	zb_add_str(&z, "lazy/version", "3\n");
	zip = zb_finish(&z, &size);
	npages = (size + (size_t)pg - 1) / (size_t)pg;
	/* everything open reads (besides the first bytes) lies here on */
	tail_first = (size_t)z.recs[LAZY_RECORDS + 2].lho / (size_t)pg;
	cd_pages = npages - (size_t)z.cd_off / (size_t)pg;
	idx750 = (size_t)z.recs[750].data_off / (size_t)pg;
	path = write_temp_file(zip, size);
	free(zip);
	where = malloc(npages);
	before = malloc(npages);
	assert_non_null(where);
	assert_non_null(before);

	r0 = evict_all(path, size, npages, where);
	if (r0 == SIZE_MAX)
		goto skip;

	/* (a) our own mapping, read-around off, opened as a buffer */
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(map != MAP_FAILED);
	close(fd);
	(void)madvise(map, size, MADV_RANDOM);
	(void)resident(map, size, before);
	assert_int_equal(tsl_archive_open_buffer(&ar, map, size, NULL, &err),
		TSL_OK);
	assert_int_equal(tsl_archive_record_count(ar), LAZY_RECORDS + 3);
	r1 = resident(map, size, where);
	for (size_t i = 0; i < npages; i++) {
		/* count the pages that came in while opening */
		if (!(where[i] & 1) || (before[i] & 1))
			continue;
		brought++;
		if (i != 0 && i < tail_first)
			outside++;
		if (i != 0 && first_res == SIZE_MAX)
			first_res = i;
	}
	print_message("     lazy index, %zu records, %zu bytes = %zu pages "
		"(central directory: %zu pages)\n", (size_t)LAZY_RECORDS + 3,
		size, npages, cd_pages);
	print_message("     resident before open: %zu; after open_buffer "
		"(MADV_RANDOM): %zu pages, the first one brought in beyond "
		"page 0 is page %zu; %zu brought in outside page 0 + the "
		"tail\n", r0, r1, first_res, outside);
	/* reading a record faults its pages in: the measure works */
	assert_int_equal(tsl_archive_read(ar, "data/750", &d, &n, &err), TSL_OK);
	assert_int_equal(((const uint8_t *)d)[0], (uint8_t)750);
	r2 = resident(map, size, where);
	assert_true(where[idx750] & 1);
	tsl_archive_free(ar);
	munmap(map, size);
	assert_int_equal(outside, 0);
	assert_true(brought <= cd_pages + 4);

	print_message("     reading data/750 afterwards: %zu resident with "
		"MADV_RANDOM\n", r2);
	{   /* (c) a seekable reader: bytes asked for while opening */
		size_t bsz;
		uint8_t *bytes = read_file_or_fail(path, &bsz);
		struct memreader m = { .b = bytes, .size = bsz };
		tsl_reader rd = { mr_read, mr_seek, mr_tell, &m };

		assert_int_equal(tsl_archive_open_reader(&ar, &rd, NULL, &err),
			TSL_OK);
		print_message("     open_reader (on demand): %llu of %zu bytes "
			"read at open (tail from the version record: %zu)\n",
			(unsigned long long)m.bytes_read, bsz,
			bsz - (size_t)z.recs[LAZY_RECORDS + 2].lho);
		/* the tail, in 64 KiB chunks, plus the chunk of the first
		 * bytes */
		assert_true(m.bytes_read <= bsz - z.recs[LAZY_RECORDS + 2].lho +
			3 * 65536);
		assert_int_equal(tsl_archive_read(ar, "data/750", &d, &n, &err),
			TSL_OK);
		assert_int_equal(((const uint8_t *)d)[4095], (uint8_t)750);
		tsl_archive_free(ar);
		free(bytes);
	}

	/* (b) open_path: the library's own mapping.  The kernel's read-around
	 * (read_ahead_kb of the device, often 128 KiB, 8 MiB here and there)
	 * decides how much enters the page cache, so that number is only
	 * printed; what the process maps (Rss of the mapping: touched pages
	 * plus fault-around of cached ones, 16 pages by default) is checked. */
	if (evict(path, size) != 0 ||
		file_resident(path, size, where) > npages / 20) {
		print_message("     second eviction ineffective, (b) skipped\n");
		goto skip;
	}
	assert_int_equal(tsl_archive_open_path(&ar, path, NULL, &err), TSL_OK);
	r3 = file_resident(path, size, where);
	rss = smaps_rss_kb(path);
	print_message("     after open_path: %zu of %zu pages in page cache "
		"(kernel read-around), Rss of the mapping %ld KiB\n", r3, npages,
		rss);
	if (rss >= 0)
		assert_true((size_t)rss * 1024 / (size_t)pg <= cd_pages + 4 + 64);
	tsl_archive_free(ar);
skip:
	free(before);
	free(where);
	remove_temp_file(path);
	zb_free(&z);
}

/*
 * Cold open of a file the library maps: the metadata records are asked
 * for at once.  Here a code/ record sits 10 MiB into a 16 MiB file, out of
 * reach of the kernel's read-around of the first page and of the end
 * record (read_ahead_kb: 128 KiB to 8 MiB on the machines seen), so only
 * the open's request can bring it in.  The requests are asynchronous:
 * the page cache is polled for up to 2 s (a bound on waiting, not a
 * timing assertion).  A storage page between the two is printed only:
 * how far the kernel reads around is its business.
 */
#define RA_RECORDS 4000
#define RA_CODE_AT 2500
static void test_open_readahead(void **state)
{
	long pg = sysconf(_SC_PAGESIZE);
	static uint8_t rec[LAZY_RECORD_BYTES], code[96 << 10];
	zb z;
	size_t size, npages, code_first, code_last, idx_mid, r0 = 0;
	uint8_t *zip;
	char *path;
	unsigned char *where;
	tsl_archive *ar = NULL;
	tsl_error err;
	bool meta = false;

	(void)state;
	zb_init(&z, 64, true);
	memset(code, 'c', sizeof code);
	zb_add_str(&z, "ra/data.pkl", "\x80\x02K\x01.");
	for (int i = 0; i < RA_RECORDS; i++) {
		char name[64];

		if (i == RA_CODE_AT)
			zb_add(&z, "ra/code/__torch__.py", code, sizeof code, 0);
		memset(rec, (uint8_t)i, sizeof rec);
		snprintf(name, sizeof name, "ra/data/%d", i);
		zb_add(&z, name, rec, sizeof rec, 0);
	}
	zb_add_str(&z, "ra/constants.pkl", "\x80\x02).");
	zb_add_str(&z, "ra/version", "3\n");
	zip = zb_finish(&z, &size);
	npages = (size + (size_t)pg - 1) / (size_t)pg;
	code_first = (size_t)z.recs[1 + RA_CODE_AT].data_off / (size_t)pg + 1;
	code_last = ((size_t)z.recs[1 + RA_CODE_AT].data_off + sizeof code) /
		(size_t)pg - 1;
	idx_mid = (size_t)z.recs[1 + RA_CODE_AT / 2 * 3 / 2].data_off /
		(size_t)pg;
	assert_true(code_last > code_first);
	path = write_temp_file(zip, size);
	free(zip);
	where = malloc(npages);
	assert_non_null(where);
	r0 = evict_all(path, size, npages, where);
	if (r0 == SIZE_MAX || (where[code_first] & 1)) {
		if (r0 != SIZE_MAX)
			print_message("     the code/ record stayed resident, "
				"skipped\n");
		goto skip;
	}
	assert_int_equal(tsl_archive_open_path(&ar, path, NULL, &err), TSL_OK);
	for (int i = 0; i < 200 && !meta; i++) {
		(void)file_resident(path, size, where);
		meta = (where[code_first] & 1) && (where[code_last] & 1);
		if (!meta)
			usleep(10000);
	}
	print_message("     cold open_path of %zu pages: code/ record pages "
		"%zu-%zu %s; storage page %zu %s\n", npages, code_first,
		code_last, meta ? "read ahead" : "NOT read", idx_mid,
		(where[idx_mid] & 1) ? "resident" : "not resident");
	assert_true(meta);   /* the metadata was asked for */
	tsl_archive_free(ar);
skip:
	free(where);
	remove_temp_file(path);
	zb_free(&z);
}

/* ------------------------------------------------------------------------ */
/* the inflater (lib/zip/inflate.c) against libarchive's gzip filter (zlib)  */
/* ------------------------------------------------------------------------ */

/* The reference's whole output (malloc'd, *outlen bytes): 0; or -1
 * (REF_ERROR), refused after what is in *out; or -2 (REF_NOTHING), nothing
 * came out (tests/ref_inflate.h). */
static int ref_inflate(const uint8_t *in, size_t n, uint8_t **out,
	size_t *outlen)
{
	for (size_t cap = 1 << 16;; cap *= 2) {
		int rc;

		*out = malloc(cap);
		assert_non_null(*out);
		rc = ref_inflate_into(in, n, *out, cap, outlen);
		assert_true(rc >= REF_NOTHING);
		if (rc != REF_MORE)
			return rc;
		free(*out);
	}
}

/* Ours must agree with the reference: same bytes when it decodes, a
 * refusal (with a reason and a position inside the input) when it does
 * not, and a refusal when the declared size is off by one. */
static void inflate_agrees(const uint8_t *in, size_t n, const char *what)
{
	uint8_t *ref = NULL, *mine;
	size_t rlen = 0;
	int r = ref_inflate(in, n, &ref, &rlen);
	tsl_inflate_error ie;

	mine = malloc(rlen + 2);
	assert_non_null(mine);
	memset(&ie, 0, sizeof ie);
	if (r == -2) {
		/* no output, or refused before any: either way not a byte */
		assert_int_equal(tsl__inflate(in, n, mine, 1, &ie),
			TSL_EFORMAT);
	} else if (r == 0) {
		if (tsl__inflate(in, n, mine, rlen, &ie) != TSL_OK)
			fail_msg("%s: reference decodes %zu bytes, we refuse: "
				"%s at %zu", what, rlen, ie.why, ie.at);
		if (rlen)
			assert_memory_equal(mine, ref, rlen);
		assert_int_equal(tsl__inflate(in, n, mine, rlen + 1, &ie),
			TSL_EFORMAT);
		assert_string_equal(ie.why,
			"decodes to fewer bytes than declared");
		if (rlen) {
			assert_int_equal(tsl__inflate(in, n, mine, rlen - 1,
				&ie), TSL_EFORMAT);
			assert_string_equal(ie.why,
				"decodes to more bytes than declared");
		}
	} else {
		/* refused whatever the declared size */
		if (tsl__inflate(in, n, mine, rlen, &ie) == TSL_OK)
			fail_msg("%s: the reference refuses after %zu bytes, "
				"we accept", what, rlen);
		assert_non_null(ie.why);
		assert_true(ie.at <= n);
	}
	free(mine);
	free(ref);
}

/* tests/data/deflate-streams.bin (tests/gen/gen_deflate_streams.py) */
static uint8_t **load_streams(size_t *count, size_t **clen, size_t **ulen,
	uint8_t **blob)
{
	size_t size, pos = 4, n;
	uint8_t **v;

	*blob = load("deflate-streams.bin", &size);
	assert_true(size >= 4);
	n = tsl__le32(*blob);
	v = calloc(n, sizeof *v);
	*clen = calloc(n, sizeof **clen);
	*ulen = calloc(n, sizeof **ulen);
	assert_true(v && *clen && *ulen);
	for (size_t i = 0; i < n; i++) {
		assert_true(size - pos >= 8);
		(*clen)[i] = tsl__le32(*blob + pos);
		(*ulen)[i] = tsl__le32(*blob + pos + 4);
		pos += 8;
		assert_true(size - pos >= (*clen)[i]);
		v[i] = *blob + pos;
		pos += (*clen)[i];
	}
	*count = n;
	return v;
}

static void test_inflate_streams(void **state)
{
	size_t n, *clen, *ulen;
	uint8_t *blob, **v = load_streams(&n, &clen, &ulen, &blob);
	size_t longest = 0;

	(void)state;
	assert_true(n >= 15);
	for (size_t i = 0; i < n; i++) {
		uint8_t *ref = NULL;
		size_t rlen;
		char what[32];

		assert_int_equal(ref_inflate(v[i], clen[i], &ref, &rlen),
			ulen[i] ? 0 : -2);
		assert_int_equal(rlen, ulen[i]);
		free(ref);
		if (!ulen[i]) {   /* the reference cannot say: we do */
			tsl_inflate_error ie;
			uint8_t one;

			assert_int_equal(tsl__inflate(v[i], clen[i], &one, 0,
				&ie), TSL_OK);
		}
		snprintf(what, sizeof what, "stream %zu", i);
		inflate_agrees(v[i], clen[i], what);
		if (ulen[i] > longest)
			longest = ulen[i];
		/* cut short: refused, and never read past the end */
		for (size_t cut = 1; cut <= 3 && cut <= clen[i]; cut++) {
			uint8_t *in = dup_exact(v[i], clen[i] - cut);
			uint8_t *out = malloc(ulen[i] + 1);
			tsl_inflate_error ie;

			assert_non_null(out);
			if (tsl__inflate(in, clen[i] - cut, out, ulen[i], &ie) ==
				TSL_OK) {
				/* only a stream whose last byte(s) are
				 * padding may lose them: the reference
				 * must agree */
				inflate_agrees(in, clen[i] - cut, what);
			} else {
				assert_true(ie.at <= clen[i] - cut);
			}
			free(in);
			free(out);
		}
	}
	assert_true(longest >= 30000);
	free(v);
	free(clen);
	free(ulen);
	free(blob);
}

/* Every deflated record of the fixtures (what PyTorch's writer makes). */
static void test_inflate_fixture_records(void **state)
{
	static const char *const names[] = { "good-resnet-script.pt",
		"good-resnet-trace.pt", "good-gru.pt", "good-gelu.pt",
		"good-class-objects.pt", "good-hooks.pt" };
	size_t records = 0;

	(void)state;
	for (size_t f = 0; f < sizeof names / sizeof names[0]; f++) {
		tsl_options opts = TSL_OPTIONS_INIT;
		tsl_limits lim;
		tsl_error err;
		tsl_zip *z = NULL;
		size_t size;
		uint8_t *b = load(names[f], &size);

		assert_int_equal(tsl__limits_from_options(&lim, &opts, &err),
			TSL_OK);
		assert_int_equal(tsl__zip_open(&z, b, size, &lim, NULL, &err),
			TSL_OK);
		for (size_t i = 0; i < z->n; i++) {
			tsl_zip_entry *e = &z->entries[i];
			uint64_t off;

			if (tsl__zip_method(e) != 8)
				continue;
			assert_int_equal(tsl__zip_data_offset(z, e, &off, &err),
				TSL_OK);
			inflate_agrees(b + off, (size_t)tsl__zip_csize(e),
				TSL_ZIP_ENAME(e));
			records++;
		}
		tsl__zip_free(z);
		free(b);
	}
	assert_true(records >= 100);
}

/* Damaged streams: ours refuses exactly what zlib refuses. */
static void test_inflate_mutations(void **state)
{
	size_t n, *clen, *ulen;
	uint8_t *blob, **v = load_streams(&n, &clen, &ulen, &blob);
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	size_t refused = 0, tried = 0;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		if (clen[i] < 2 || clen[i] > 12000)
			continue;   /* the small ones: quick, and every kind */
		for (int k = 0; k < 150; k++) {
			uint8_t *in = dup_exact(v[i], clen[i]);
			size_t len = clen[i];
			char what[48];
			tsl_inflate_error ie;
			uint8_t *out;

			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			/* mostly in the first bytes: block headers and code
			 * lengths, where the decoder's checks are */
			size_t at = (size_t)(seed >> 33) %
				(k % 2 ? len : (len < 64 ? len : 64));
			in[at] ^= (uint8_t)(1u << ((seed >> 20) & 7));
			if (k % 5 == 4)
				len = at + 1;   /* and cut there */
			snprintf(what, sizeof what, "stream %zu mutation %d",
				i, k);
			inflate_agrees(in, len, what);
			out = malloc(ulen[i] + 1);
			assert_non_null(out);
			if (tsl__inflate(in, len, out, ulen[i], &ie) != TSL_OK)
				refused++;
			tried++;
			free(out);
			free(in);
		}
	}
	/* the mutations reach the error paths */
	assert_true(refused > tried / 4);
	free(v);
	free(clen);
	free(ulen);
	free(blob);
}

/* Hand-made streams for the refusals mutations rarely hit. */
static void test_inflate_refusals(void **state)
{
	static const struct {
		const char *why;
		uint8_t in[8];
		size_t n, out;
	} cases[] = {
		{ "invalid block type", { 0x07 }, 1, 1 },
		/* stored, LEN 1, NLEN not its complement */
		{ "stored block length and its complement disagree",
			{ 0x01, 0x01, 0x00, 0x00, 0x00, 'x' }, 6, 1 },
		{ "truncated stream", { 0x01, 0x05, 0x00, 0xfa, 0xff, 'x' },
			6, 5 },
		/* fixed block: literal 'a', then length 3 at distance 2
		 * with one byte written */
		{ "distance too far back", { 0x4b, 0x04, 0x42, 0x00 }, 4, 4 },
		/* dynamic block: HLIT 287 */
		{ "too many length or distance symbols", { 0xf5, 0x00, 0x00 },
			3, 1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint8_t out[16];
		tsl_inflate_error ie;

		memset(&ie, 0, sizeof ie);
		if (tsl__inflate(cases[i].in, cases[i].n, out, cases[i].out,
			&ie) != TSL_EFORMAT)
			fail_msg("case %zu accepted", i);
		assert_string_equal(ie.why, cases[i].why);
		assert_true(ie.at <= cases[i].n);
		inflate_agrees(cases[i].in, cases[i].n, cases[i].why);
	}
}

/* ------------------------------------------------------------------------ */
/* the index's layout: compact entries, tagged slots, derived names          */
/* ------------------------------------------------------------------------ */

static void open_index(tsl_zip **z, const uint8_t *b, size_t size)
{
	tsl_options opts = TSL_OPTIONS_INIT;
	tsl_limits lim;
	tsl_error err;

	assert_int_equal(tsl__limits_from_options(&lim, &opts, &err), TSL_OK);
	if (tsl__zip_open(z, b, size, &lim, NULL, &err) != TSL_OK)
		fail_msg("tsl__zip_open: %s", err.message);
}

/* A record's entry is a pointer to its directory entry, its size and its
 * method: the compressed size, the offset and the CRC are read from the
 * directory (from the zip64 extra field for those that need it), and the
 * data offset is cached in an array made at the first lookup. */
static void test_index_csize_and_skip(void **state)
{
	static const char text[] = "a class source, deflated; a class source";
	zb z;
	size_t n, i, n_min;
	uint8_t *zip;
	tsl_zip *ix;
	tsl_error err;
	uint64_t off;

	(void)state;
	assert_int_equal(sizeof(tsl_zip_entry), 16);
	zb_init(&z, 64, true);
	zb_minimal(&z, "m", "3\n");
	n_min = z.n;   /* the first of ours: stored */
	for (i = 0; i < 12; i++) {
		char name[32];

		snprintf(name, sizeof name, "m/code/c%zu.py", i);
		/* stored and deflated in turns, of different sizes; every
		 * third with its sizes and offset in a zip64 extra field */
		zb_add(&z, name, text, sizeof text - 1 - i, i % 2 ? 8 : 0);
		z.recs[z.n - 1].zip64 = i % 3 == 0;
	}
	zip = zb_finish(&z, &n);
	open_index(&ix, zip, n);
	assert_int_equal(ix->n, z.n);
	/* a private read (a storage's) keeps no offset: no array yet */
	{
		const uint8_t *d;
		size_t len;
		bool owned;

		assert_int_equal(tsl__zip_read_private(ix, &ix->entries[n_min],
			&d, &len, &owned, &err), TSL_OK);
		assert_false(owned);
		assert_int_equal(len, z.recs[n_min].usize);
		assert_null(atomic_load(&ix->skips));
	}
	for (i = 0; i < ix->n; i++) {
		const tsl_zip_entry *e = &ix->entries[i];

		/* the entry is its directory entry: nothing is copied */
		assert_ptr_equal(e->cd, zip + z.recs[i].cd_pos);
		assert_int_equal(tsl__zip_method(e), z.recs[i].method);
		assert_int_equal(tsl__zip_csize(e), z.recs[i].csize);
		assert_int_equal(tsl__zip_usize(e), z.recs[i].usize);
		assert_int_equal(tsl__zip_lho(e), z.recs[i].lho);
		assert_int_equal(tsl__zip_crc32(e), z.recs[i].crc);
		assert_false(tsl__zip_stand_in(e));
		assert_int_equal(tsl__zip_cached_skip(ix, e), 0);
		assert_int_equal(tsl__zip_data_offset(ix, e, &off, &err),
			TSL_OK);
		assert_int_equal(off, z.recs[i].data_off);
		assert_int_equal(tsl__zip_cached_skip(ix, e),
			z.recs[i].data_off - z.recs[i].lho);
	}
	tsl__zip_free(ix);
	free(zip);
	zb_free(&z);
}

/* The storages' records data/0, data/1... stored in a run (as every writer
 * does) are found by number and kept out of the hash table, which then
 * holds only the others; any other layout puts them all in the table.
 * Either way every record is found by its name, and no other name is. */
static void check_found(const tsl_zip *ix)
{
	static const char *const absent[] = { "data/01", "data/", "data/-1",
		"data/4294967296", "data/99999999999", "dat/1", "data/1/" };

	for (size_t i = 0; i < ix->n; i++) {
		const tsl_zip_entry *e = &ix->entries[i];

		if (!tsl__zip_in_prefix(e))
			continue;
		assert_ptr_equal(tsl__zip_find(ix, tsl__zip_rel_bytes(ix, e),
			tsl__zip_rel_len(ix, e)), e);
	}
	for (size_t i = 0; i < sizeof absent / sizeof *absent; i++)
		assert_null(tsl__zip_find(ix, absent[i], strlen(absent[i])));
}

static void test_index_data_run(void **state)
{
	/* the layouts: the run of 0..99 in order, with stragglers that are
	 * not canonical numbers; then 1 before 0, a gap, a record inside
	 * the run, a repeated number */
	static const char *const layouts[] = { "run", "swap", "gap", "split",
		"again" };
	char name[64];

	(void)state;
	for (size_t l = 0; l < sizeof layouts / sizeof *layouts; l++) {
		const char *how = layouts[l];
		zb z;
		size_t n, first = 0;
		uint8_t *zip;
		tsl_zip *ix;

		zb_init(&z, 0, false);
		zb_minimal(&z, "p", "3\n");
		for (int k = 0; k < 100; k++) {
			int num = k;

			if (!strcmp(how, "swap") && k < 2)
				num = 1 - k;
			if (!strcmp(how, "gap") && k >= 50)
				num = k + 1;
			if (!strcmp(how, "again") && k == 99)
				num = 98;
			if (!strcmp(how, "split") && k == 50)
				zb_add_str(&z, "p/extra/x", "x");
			if (k == 0)
				first = z.n;
			snprintf(name, sizeof name, "p/data/%d", num);
			zb_add_str(&z, name, "d");
		}
		zb_add_str(&z, "p/data/007", "not a number's spelling");
		zb_add_str(&z, "p/data/x", "nor this");
		zip = zb_finish(&z, &n);
		if (!strcmp(how, "again")) {
			tsl_options opts = TSL_OPTIONS_INIT;
			tsl_limits lim;
			tsl_error err;

			/* found by the table: two records of one name */
			assert_int_equal(tsl__limits_from_options(&lim, &opts,
				&err), TSL_OK);
			assert_int_equal(tsl__zip_open(&ix, zip, n, &lim, NULL,
				&err), TSL_EFORMAT);
			assert_non_null(strstr(err.message, "two records"));
			free(zip);
			zb_free(&z);
			continue;
		}
		open_index(&ix, zip, n);
		if (!strcmp(how, "run")) {
			assert_int_equal(ix->ndata, 100);
			assert_int_equal(ix->data_base, first);
			/* 5 other records under the prefix: 16 slots */
			assert_int_equal(ix->mask + 1, 16);
			assert_null(tsl__zip_find(ix, "data/100", 8));
		} else {
			assert_int_equal(ix->ndata, 0);
			assert_true(ix->mask + 1 >= ix->n);
		}
		check_found(ix);
		if (!strcmp(how, "gap"))
			assert_null(tsl__zip_find(ix, "data/50", 7));
		tsl__zip_free(ix);
		free(zip);
		zb_free(&z);
	}
}

/* A zip64 extra field holds only the fields that are 0xFFFFFFFF, in the
 * order uncompressed size, compressed size, offset: an entry whose offset
 * alone needs it (a small record past 4 GiB, as PyTorch writes them) reads
 * its offset from the first 8 bytes, and its compressed size from the
 * fixed part; another extra field before it is skipped. */
static void test_entry_zip64_fields(void **state)
{
	uint8_t cd[46 + 3 + 4 + 2 + 4 + 8 + 8] = { 0 };
	const tsl_zip_entry e = { .cd = cd, .usize = 300, .method = 8 };
	uint8_t *x = cd + 46 + 3;

	(void)state;
	cd[0] = 0x50, cd[1] = 0x4b, cd[2] = 0x01, cd[3] = 0x02;
	cd[20] = 100;                     /* compressed 100 */
	cd[28] = 3;                       /* name "a/b" */
	cd[30] = 4 + 2 + 4 + 8 + 8;       /* extra area */
	memset(cd + 42, 0xff, 4);         /* offset: in the zip64 field */
	memcpy(cd + 46, "a/b", 3);
	x[0] = 0x55, x[2] = 2;            /* a field 0x5555 of 2 bytes */
	x += 6;
	x[0] = 1, x[2] = 16;              /* zip64: offset, then junk */
	x[4 + 4] = 1;                     /* offset 2^32 */
	memset(x + 12, 0xee, 8);
	assert_int_equal(tsl__zip_lho(&e), UINT64_C(1) << 32);
	assert_int_equal(tsl__zip_csize(&e), 100);
	assert_int_equal(tsl__zip_name_len(&e), 3);
	/* now the compressed size needs it too: it comes first */
	memset(cd + 20, 0xff, 4);
	assert_int_equal(tsl__zip_csize(&e), UINT64_C(1) << 32);
	assert_int_equal(tsl__zip_lho(&e), UINT64_C(0xeeeeeeeeeeeeeeee));
}

/* Names of every length from 1 to 80 bytes (the hash and the comparisons
 * read words, with a short path under 8 bytes and the last word
 * overlapping): each is found, as the very entry, and none of its near
 * misses is - one byte changed at each position, one byte more or less. */
static void test_index_lookup_lengths(void **state)
{
	zb z;
	size_t size;
	uint8_t *zip;
	tsl_zip *ix;
	char name[96], probe[128];

	(void)state;
	zb_init(&z, 0, false);
	zb_minimal(&z, "p", "3\n");
	for (int len = 1; len <= 80; len++) {
		memset(name, 0, sizeof name);
		for (int i = 0; i < len; i++)
			name[i] = (char)('a' + (i * 7 + len) % 26);
		snprintf(probe, sizeof probe, "p/%s", name);
		zb_add_str(&z, probe, name);
	}
	zip = zb_finish(&z, &size);
	open_index(&ix, zip, size);
	for (size_t k = 0; k < ix->n; k++) {
		const tsl_zip_entry *e = &ix->entries[k];
		const char *rel = tsl__zip_rel(ix, e);
		size_t len = strlen(rel);

		assert_true(tsl__zip_in_prefix(e));
		assert_string_equal(tsl__zip_cname(ix, e) + 2, rel);
		/* the entry's name is the directory's bytes, not a copy */
		assert_true(tsl__zip_name(e) >= (const char *)zip +
			ix->cd_offset + 46 && tsl__zip_name(e) +
			tsl__zip_name_len(e) <= (const char *)zip + ix->cd_end);
		assert_memory_equal(tsl__zip_name(e), "p/", 2);
		assert_int_equal(tsl__zip_name_len(e), len + 2);
		assert_memory_equal(tsl__zip_rel_bytes(ix, e), rel, len);
		assert_int_equal(tsl__zip_rel_len(ix, e), len);
		/* the copy is made once */
		assert_ptr_equal(tsl__zip_rel(ix, e), rel);
		assert_ptr_equal(tsl__zip_find(ix, rel, len), e);
		/* a longer buffer, only len bytes of it asked for */
		memcpy(probe, rel, len);
		probe[len] = 'x';
		assert_ptr_equal(tsl__zip_find(ix, probe, len), e);
		assert_null(tsl__zip_find(ix, probe, len + 1));
		if (len > 1)
			assert_null(tsl__zip_find(ix, rel, len - 1));
		for (size_t i = 0; i < len; i++) {
			memcpy(probe, rel, len);
			probe[i] ^= 0x20;
			assert_null(tsl__zip_find(ix, probe, len));
		}
	}
	/* the full name is not a relative name, nor is the empty one */
	assert_null(tsl__zip_find(ix, "p/version", 9));
	assert_null(tsl__zip_find(ix, "", 0));
	tsl__zip_free(ix);
	free(zip);
	zb_free(&z);
}

/* Records outside the prefix keep their full name as tsl__zip_rel and are
 * not in the table; a name of exactly the prefix is not under it. */
static void test_index_outside_prefix(void **state)
{
	zb z;
	size_t size;
	uint8_t *zip;
	tsl_zip *ix;
	size_t out, same, pfx;

	(void)state;
	zb_init(&z, 64, true);
	zb_minimal(&z, "model", "3\n");
	out = zb_add_str(&z, "other/data/0", "x");
	same = zb_add_str(&z, "modelx/data/0", "y");
	pfx = zb_add_str(&z, "model", "z");
	zip = zb_finish(&z, &size);
	open_index(&ix, zip, size);
	assert_string_equal(ix->prefix, "model");
	assert_false(tsl__zip_in_prefix(&ix->entries[out]));
	assert_false(tsl__zip_in_prefix(&ix->entries[same]));
	assert_false(tsl__zip_in_prefix(&ix->entries[pfx]));
	assert_string_equal(tsl__zip_rel(ix, &ix->entries[out]),
		"other/data/0");
	assert_string_equal(tsl__zip_rel(ix, &ix->entries[same]),
		"modelx/data/0");
	assert_null(tsl__zip_find(ix, "other/data/0", 12));
	assert_null(tsl__zip_find(ix, "data/0", 6));
	assert_non_null(tsl__zip_find(ix, "version", 7));
	assert_string_equal(tsl__zip_rel(ix, tsl__zip_find(ix, "version", 7)),
		"version");
	tsl__zip_free(ix);
	free(zip);
	zb_free(&z);
}

/* The data offset is cached as a distance from the local header: with the
 * largest local header (65,535-byte name and extra field, 131,100 bytes in
 * all) it still comes out right, the first time and from the cache. */
static void test_index_data_offset_cache(void **state)
{
	zb z;
	size_t size, big, small;
	uint8_t *zip;
	tsl_zip *ix;
	char *name = malloc(65536);
	uint64_t off;
	tsl_error err;
	const uint8_t *d;
	size_t n;

	(void)state;
	assert_non_null(name);
	memcpy(name, "q/", 2);
	memset(name + 2, 'n', 65533);
	name[65535] = '\0';
	zb_init(&z, 0, false);
	zb_minimal(&z, "q", "3\n");
	small = zb_add_str(&z, "q/data/0", "small");
	big = z.n;
	/* a local extra field of 65,535 bytes: an unknown id, then filler */
	{
		size_t at, i;

		zb_add_str(&z, name, "payload");
		at = (size_t)z.recs[big].lho;
		assert_int_equal(rd16(z.buf + at + 28), 0);
		/* rebuild this record by hand: header, name, extra, data */
		z.len = at;
		zb_u32(&z, SIG_LOCAL);
		zb_u16(&z, 0);
		zb_u16(&z, 0x0808);
		zb_u16(&z, 0);
		for (i = 0; i < 4; i++)
			zb_u32(&z, 0);
		zb_u16(&z, 65535);
		zb_u16(&z, 65535);
		zb_bytes(&z, name, 65535);
		zb_u16(&z, 0xcafe);
		zb_u16(&z, 65531);
		zb_reserve(&z, 65531);
		memset(z.buf + z.len, 0, 65531);
		z.len += 65531;
		z.recs[big].data_off = z.len;
		zb_bytes(&z, "payload", 7);
		zb_u32(&z, SIG_DESC);
		zb_u32(&z, z.recs[big].crc);
		zb_u32(&z, 7);
		zb_u32(&z, 7);
	}
	zip = zb_finish(&z, &size);
	open_index(&ix, zip, size);
	for (int pass = 0; pass < 2; pass++) {
		assert_int_equal(tsl__zip_data_offset(ix, &ix->entries[big],
			&off, &err), TSL_OK);
		assert_int_equal(off, z.recs[big].data_off);
		assert_int_equal(off - tsl__zip_lho(&ix->entries[big]),
			30 + 2 * 65535);
		assert_int_equal(tsl__zip_cached_skip(ix, &ix->entries[big]),
			30 + 2 * 65535);
		assert_true(tsl__zip_in_prefix(&ix->entries[big]));
		assert_int_equal(tsl__zip_data_offset(ix, &ix->entries[small],
			&off, &err), TSL_OK);
		assert_int_equal(off, z.recs[small].data_off);
	}
	assert_int_equal(tsl__zip_read(ix, &ix->entries[big], &d, &n, &err),
		TSL_OK);
	assert_int_equal(n, 7);
	assert_memory_equal(d, "payload", 7);
	tsl__zip_free(ix);
	free(zip);
	free(name);
	zb_free(&z);
}

/* Decoded copies live in an array the index makes on the first decode:
 * none for an archive whose compressed records are never read, and stored
 * records never need it. */
static void test_index_decoded_lazily(void **state)
{
	zb z;
	size_t size, st, df;
	uint8_t *zip;
	tsl_zip *ix;
	tsl_error err;
	const uint8_t *d, *d2;
	size_t n;

	(void)state;
	zb_init(&z, 64, true);
	zb_minimal(&z, "m", "3\n");
	st = zb_add(&z, "m/data/0", "stored bytes", 12, 0);
	df = zb_add(&z, "m/code/x.py", "deflated bytes", 14, 8);
	zip = zb_finish(&z, &size);
	open_index(&ix, zip, size);
	assert_null(ix->decoded);
	assert_int_equal(tsl__zip_read(ix, &ix->entries[st], &d, &n, &err),
		TSL_OK);
	assert_ptr_equal(d, zip + z.recs[st].data_off);
	assert_null(ix->decoded);
	assert_int_equal(tsl__zip_read(ix, &ix->entries[df], &d, &n, &err),
		TSL_OK);
	assert_int_equal(n, 14);
	assert_memory_equal(d, "deflated bytes", 14);
	assert_non_null(ix->decoded);
	assert_ptr_equal(ix->decoded[df], d);
	assert_null(ix->decoded[st]);
	assert_int_equal(tsl__zip_read(ix, &ix->entries[df], &d2, &n, &err),
		TSL_OK);
	assert_ptr_equal(d2, d);   /* decoded once */
	assert_int_equal(ix->decoded_total, 14);
	tsl__zip_free(ix);
	free(zip);
	zb_free(&z);

	/* 9,000 records: the array (72 KiB) is mapped, not calloc'd */
	zb_init(&z, 0, false);
	zb_minimal(&z, "m", "3\n");
	for (int i = 0; i < 9000; i++) {
		char name[32];

		snprintf(name, sizeof name, "m/data/%d", i);
		zb_add(&z, name, "v", 1, 0);
	}
	df = zb_add(&z, "m/code/y.py", "deflated bytes", 14, 8);
	zip = zb_finish(&z, &size);
	open_index(&ix, zip, size);
	assert_true(ix->n * sizeof(void *) >= 65536);
	for (int k = 0; k < 2; k++) {
		assert_int_equal(tsl__zip_read(ix, &ix->entries[df], &d, &n,
			&err), TSL_OK);
		assert_memory_equal(d, "deflated bytes", 14);
		assert_ptr_equal(ix->decoded[df], d);
	}
	assert_null(ix->decoded[0]);
	assert_null(ix->decoded[ix->n - 2]);
	tsl__zip_free(ix);
	free(zip);
	zb_free(&z);
}

/* A NUL byte anywhere in a name of any length (the copy checks 8 bytes at
 * a time) is refused with the entry's number and offset, as before. */
static void test_index_nul_in_name(void **state)
{
	(void)state;
	for (int len = 3; len <= 24; len++) {
		for (int at = 2; at < len; at++) {
			zb z;
			size_t size, e;
			uint8_t *zip;
			char name[32];
			tsl_error err;
			char want[64];

			memset(name, 'k', sizeof name);
			memcpy(name, "m/", 2);
			name[len] = '\0';
			zb_init(&z, 0, false);
			zb_minimal(&z, "m", "3\n");
			e = zb_add_str(&z, name, "v");
			zip = zb_finish(&z, &size);
			zip[z.recs[e].cd_pos + 46 + at] = '\0';
			expect_open(zip, size, NULL, TSL_EFORMAT, &err);
			snprintf(want, sizeof want, "central directory entry %zu "
				"has an empty name", e + 1);
			assert_contains(err.message, want);
			assert_int_equal(err.offset, z.recs[e].cd_pos);
			free(zip);
			zb_free(&z);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_path_fd_buffer_reader),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_all_fixtures_aligned),
		cmocka_unit_test(test_find_next),
		cmocka_unit_test(test_record_lookup),
		cmocka_unit_test(test_stored_zero_copy),
		cmocka_unit_test(test_repacks_match_source),
		cmocka_unit_test(test_zip64_directory_extra),
		cmocka_unit_test(test_extra_files),
		cmocka_unit_test(test_concurrent_decode),
		cmocka_unit_test(test_kind_real_corpus),
		cmocka_unit_test(test_kind_synthesized),
		cmocka_unit_test(test_bad_versions),
		cmocka_unit_test(test_byteorder),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_cd_bounds),
		cmocka_unit_test(test_record_past_cd),
		cmocka_unit_test(test_overlap),
		cmocka_unit_test(test_overlap_local_extra),
		cmocka_unit_test(test_entry_count_lies),
		cmocka_unit_test(test_zip64_locator),
		cmocka_unit_test(test_deflate_huge_declared),
		cmocka_unit_test(test_index_csize_and_skip),
		cmocka_unit_test(test_entry_zip64_fields),
		cmocka_unit_test(test_index_data_run),
		cmocka_unit_test(test_record_over_64tib),
		cmocka_unit_test(test_deflate_size_mismatch),
		cmocka_unit_test(test_inflate_streams),
		cmocka_unit_test(test_inflate_fixture_records),
		cmocka_unit_test(test_inflate_mutations),
		cmocka_unit_test(test_inflate_refusals),
		cmocka_unit_test(test_duplicate_names),
		cmocka_unit_test(test_local_header_broken),
		cmocka_unit_test(test_first_entry_no_slash),
		cmocka_unit_test(test_max_records),
		cmocka_unit_test(test_max_record_bytes),
		cmocka_unit_test(test_crc),
		cmocka_unit_test(test_mutation_sweep),
		cmocka_unit_test(test_reader_sources),
		cmocka_unit_test(test_lazy_index_pages),
		cmocka_unit_test(test_open_readahead),
		cmocka_unit_test(test_index_lookup_lengths),
		cmocka_unit_test(test_index_outside_prefix),
		cmocka_unit_test(test_index_data_offset_cache),
		cmocka_unit_test(test_index_decoded_lazily),
		cmocka_unit_test(test_index_nul_in_name),
	};

	int rc = tu_corpus_part("test_kind_real_corpus");

	if (rc)
		return rc;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
