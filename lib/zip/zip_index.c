/*
 * zip_index.c - parse the end of a zip archive into an index of records.
 *
 * Reads the EOCD (and zip64 locator/record) and the central directory, and
 * nothing else: a record's local header is read only when its data is first
 * asked for (tsl__zip_data_offset).  Every offset and size from the file is
 * checked against the mapping with overflow-safe arithmetic.
 */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <xxhash.h>

#include "zip.h"

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_LOC64 0x07064b50u

#define EOCD_LEN 22
#define EOCD64_LEN 56
#define LOC64_LEN 20
#define CENTRAL_LEN TSL_ZIP_CENTRAL_LEN
#define LOCAL_LEN 30

static int fmt_error(tsl_error *err, const char *record, uint64_t off,
	const char *fmt, ...) TSL_PRINTF(4, 5);

static int fmt_error(tsl_error *err, const char *record, uint64_t off,
	const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tsl__error_va(err, TSL_EFORMAT, record, off, NULL, fmt, ap);
	va_end(ap);
	return TSL_EFORMAT;
}

/* Find the classic EOCD: scan back from the end over at most 64 KiB of
 * comment, as miniz and every zip reader do. */
static int find_eocd(const uint8_t *b, uint64_t size, uint64_t *pos,
	const tsl_zip_fetch *fetch, tsl_error *err)
{
	uint64_t lo, p;
	int rc;

	if (size < EOCD_LEN)
		return fmt_error(err, NULL, 0,
			"not a zip archive: %llu bytes is too short for the end of "
			"central directory (failed finding central directory)",
			(unsigned long long)size);
	lo = size > EOCD_LEN + 0xffff ? size - EOCD_LEN - 0xffff : 0;
	/* The record is almost always in the last few bytes (no comment):
	 * look there first, so a source read on demand fetches little. */
	for (int phase = 0; phase < 2; phase++) {
		uint64_t from = phase == 0 && size > lo + 4096 ? size - 4096 : lo;
		uint64_t top = phase == 0 ? size - EOCD_LEN + 1 :
			(size > lo + 4096 ? size - 4096 : lo);

		rc = tsl__zip_ensure(fetch, from, size - from, err);
		if (rc)
			return rc;
		for (p = top; p-- > from;) {
			if (tsl__le32(b + p) == SIG_EOCD &&
				p + EOCD_LEN + tsl__le16(b + p + 20) <= size) {
				*pos = p;
				return TSL_OK;
			}
		}
	}
	return fmt_error(err, NULL, size,
		"no end of central directory record in the last %llu bytes: the "
		"file is truncated or not a zip archive (failed finding central "
		"directory)", (unsigned long long)(size - lo));
}


#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

static inline uint64_t word(const void *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof w);
	return w;
}

/* a == b for n bytes, a word at a time (the last word overlapping the one
 * before it), never reading outside [0, n): names are a dozen bytes, and
 * memcmp's call costs more than the comparing. */
static inline bool same_bytes(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;
	size_t i;

	if (n < 8) {
		uint8_t d = 0;

		for (i = 0; i < n; i++)
			d |= x[i] ^ y[i];
		return d == 0;
	}
	for (i = 0; i + 8 < n; i += 8)
		if (word(x + i) != word(y + i))
			return false;
	return word(x + n - 8) == word(y + n - 8);
}

#ifdef __SIZEOF_INT128__
/* 64 x 64 -> 128-bit product, halves folded (wyhash's "mum") */
static inline uint64_t mum(uint64_t a, uint64_t b)
{
	unsigned __int128 r = (unsigned __int128)a * b;

	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/* The table's hash of a relative name, in the manner of wyhash: up to 16
 * bytes are two (overlapping) words folded by one 128-bit multiply, longer
 * names 16 bytes per multiply.  Inlined, it is about 12 instructions for
 * the dozen-byte names of tensor records (XXH3 took 25, plus its call):
 * the hash runs twice per record at load, index and lookup.  Both the low
 * bits (the slot) and the high ones (the tag) depend on every byte. */
static inline uint64_t hash_name(const char *s, size_t n)
{
	const uint8_t *p = (const uint8_t *)s;
	uint64_t a, b, h = UINT64_C(0x2d358dccaa6c78a5) ^ n;

	if (n > 16) {
		/* 16 bytes at a time, then the last 16 (overlapping) */
		size_t i;

		for (i = 0; i + 16 < n; i += 16)
			h = mum(word(p + i) ^ UINT64_C(0x8bb84b93962eacc9) ^ h,
				word(p + i + 8) ^ UINT64_C(0x4b33a62ed433d4a3));
		a = word(p + n - 16);
		b = word(p + n - 8);
	} else if (n >= 8) {
		a = word(p);
		b = word(p + n - 8);
	} else if (n >= 4) {
		uint32_t lo, hi;

		memcpy(&lo, p, 4);
		memcpy(&hi, p + n - 4, 4);
		a = lo;
		b = hi;
	} else {
		a = n ? (uint64_t)p[0] << 16 | (uint64_t)p[n >> 1] << 8 |
			p[n - 1] : 0;
		b = 0;
	}
	return mum(UINT64_C(0x8bb84b93962eacc9) ^ n,
		mum(a ^ UINT64_C(0x8bb84b93962eacc9) ^ h,
			b ^ UINT64_C(0x4b33a62ed433d4a3)));
}
#else
static inline uint64_t hash_name(const char *s, size_t n)
{
	return XXH3_64bits(s, n);
}
#endif

/* Does src[0..n) hold a NUL byte?  A word at a time (a word has a zero
 * byte iff (w - ONES) & ~w & HIGHS is not 0), instead of memchr's call. */
static inline bool has_nul(const uint8_t *src, size_t n)
{
	uint64_t w, zero = 0;
	size_t i;

	if (n < 8) {
		for (i = 0; i < n; i++)
			zero |= src[i] == 0;
		return zero != 0;
	}
	for (i = 0; i + 8 < n; i += 8) {
		w = word(src + i);
		zero |= (w - ONES) & ~w & HIGHS;
	}
	w = word(src + n - 8);
	zero |= (w - ONES) & ~w & HIGHS;
	return zero != 0;
}

static int overlap_error(tsl_error *err, const tsl_zip_entry *a,
	uint64_t lho, uint64_t csize, const tsl_zip_entry *b, uint64_t next)
{
	return fmt_error(err, TSL_ZIP_ENAME(a), lho,
		"record at offset %llu (%llu bytes) overlaps record '%s' at "
		"offset %llu", (unsigned long long)lho,
		(unsigned long long)csize, TSL_ZIP_ENAME(b),
		(unsigned long long)next);
}

static int cmp_lho(const void *a, const void *b)
{
	const tsl_zip_entry *x = *(tsl_zip_entry *const *)a;
	const tsl_zip_entry *y = *(tsl_zip_entry *const *)b;

	uint64_t u = tsl__zip_lho(x), v = tsl__zip_lho(y);

	return u < v ? -1 : u > v;
}

/* Records must not overlap each other or the central directory.  The exact
 * extent needs the local header; the lower bound (30 bytes of header and
 * the compressed data) catches overlap without touching data pages, and
 * data_offset checks the exact extent against the next record when it
 * reads the local header (z->next_lho).  PyTorch writes the directory in
 * file order, and fill_entries checked such a directory as it went
 * (sorted; first_overlap: see there); the others are sorted by offset
 * here, and keep each record's successor's offset. */
static int check_overlaps(tsl_zip *z, bool sorted, size_t first_overlap,
	tsl_error *err)
{
	const tsl_zip_entry **v;
	size_t i;
	int rc = TSL_OK;

	if (sorted) {
		const tsl_zip_entry *a;

		if (first_overlap == SIZE_MAX)
			return TSL_OK;
		a = &z->entries[first_overlap - 1];
		return overlap_error(err, a, tsl__zip_lho(a), tsl__zip_csize(a),
			a + 1, tsl__zip_lho(a + 1));
	}
	v = malloc(z->n * sizeof *v);
	if (!v)
		return tsl__error(err, TSL_ENOMEM, NULL, TSL_NO_OFFSET,
			"out of memory sorting %zu records", z->n);
	for (i = 0; i < z->n; i++)
		v[i] = &z->entries[i];
	qsort(v, z->n, sizeof *v, cmp_lho);
	for (i = 0; i + 1 < z->n; i++) {
		uint64_t c = tsl__zip_csize(v[i]), lho = tsl__zip_lho(v[i]);
		uint64_t next = tsl__zip_lho(v[i + 1]);

		if (lho + LOCAL_LEN + c > next) {
			rc = overlap_error(err, v[i], lho, c, v[i + 1], next);
			break;
		}
	}
	if (!rc && !(z->next_lho = malloc(z->n * sizeof *z->next_lho)))
		rc = tsl__error(err, TSL_ENOMEM, NULL, TSL_NO_OFFSET,
			"out of memory sorting %zu records", z->n);
	for (i = 0; !rc && i < z->n; i++)
		z->next_lho[v[i] - z->entries] = i + 1 < z->n ?
			tsl__zip_lho(v[i + 1]) : z->cd_offset;
	free(v);
	return rc;
}

/* Offset of entry e's central-directory header: its name follows the
 * fixed part (only error messages need it). */
static uint64_t cd_pos_of(const tsl_zip *z, const tsl_zip_entry *e)
{
	return (uint64_t)(e->cd - z->base);
}

/* Does entry e (under the prefix) have the relative name rel[0..len)?  The
 * length is compared first, from the entry: no string is read on a miss. */
static inline bool rel_equal(const tsl_zip *z, const tsl_zip_entry *e,
	const char *rel, size_t len)
{
	return tsl__zip_name_len(e) == z->prefix_len + 1 + len &&
		same_bytes(tsl__zip_name(e) + z->prefix_len + 1, rel, len);
}

/* Is rel[0..len) "data/<k>", k in canonical decimal (no sign, no leading
 * zero but for "0") under 2^32?  Only such a name is found by number. */
static bool data_number(const char *rel, size_t len, size_t *k)
{
	uint64_t v = 0;

	if (len < 6 || len > 15 || memcmp(rel, "data/", 5) != 0 ||
		(rel[5] == '0' && len > 6))
		return false;
	for (size_t i = 5; i < len; i++) {
		if (rel[i] < '0' || rel[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(rel[i] - '0');
	}
	if (v > UINT32_MAX)
		return false;
	*k = (size_t)v;
	return true;
}

/* The run of data/0, data/1... at consecutive entries, found while the
 * directory is walked (fill_entries calls this for each record under the
 * prefix, rel[0..len) its name after it): every record named data/<k>
 * must be the k-th of one run, else there is none (broken). */
struct data_run {
	size_t base, count;
	bool broken;
};

static void data_run_step(size_t i, const char *rel, size_t len,
	struct data_run *r)
{
	size_t k;

	if (r->broken || !data_number(rel, len, &k))
		return;
	if (r->base == SIZE_MAX)
		r->base = i;
	if (i != r->base + r->count || k != r->count) {
		r->broken = true;   /* out of order: all in the table */
		r->count = 0;
		return;
	}
	r->count++;
}

/* Size the table for the records not in the run (z->ndata, set by
 * fill_entries) and populate what it will use (alloc_index made room for
 * all of them). */
static void size_table(tsl_zip *z)
{
	size_t rest = z->n - z->ndata, cap = 16;

	while (cap < rest + rest / 2)
		cap <<= 1;
	if (cap < z->mask + 1)
		z->mask = cap - 1;
	tsl__populate(z->table, (z->mask + 1) * sizeof *z->table);
}

static int build_table(tsl_zip *z, tsl_error *err)
{
	uint32_t idx = ~z->tag;
	size_t i;

	/* z->table, z->mask and z->tag were set with the entries (one
	 * block); every record under the prefix goes in, keyed by its
	 * relative name */
	size_table(z);
	/* the run of data/<k> is found by number */
	for (i = 0; (i = tsl__zip_past_run(z, i)) < z->n; i++) {
		const tsl_zip_entry *e = &z->entries[i];
		const char *rel = tsl__zip_name(e) + z->prefix_len + 1;
		size_t len, h;
		uint64_t hv;
		uint32_t tag, s;

		if (!tsl__zip_in_prefix(e))
			continue;
		len = tsl__zip_name_len(e) - z->prefix_len - 1;
		hv = hash_name(rel, len);
		tag = (uint32_t)(hv >> 32) & z->tag;
		h = (size_t)hv & z->mask;
		while ((s = z->table[h]) != 0) {
			const tsl_zip_entry *o = &z->entries[(s & idx) - 1];

			if ((s & z->tag) == tag && rel_equal(z, o, rel, len))
				return fmt_error(err, TSL_ZIP_ENAME(e),
					cd_pos_of(z, e),
					"two records are named '%s' (central "
					"directory entries at %llu and %llu)",
					TSL_ZIP_ENAME(e),
					(unsigned long long)cd_pos_of(z, o),
					(unsigned long long)cd_pos_of(z, e));
			h = (h + 1) & z->mask;
		}
		z->table[h] = tag | (uint32_t)(i + 1);
	}
	return TSL_OK;
}

const tsl_zip_entry *tsl__zip_find(const tsl_zip *z, const char *rel,
	size_t len)
{
	uint32_t idx = ~z->tag, tag, s;
	uint64_t hv;
	size_t h, k;

	if (!z->table)
		return NULL;
	/* data/<k>: the k-th of the run (its name is that, by construction)
	 * or no record at all */
	if (z->ndata && data_number(rel, len, &k))
		return k < z->ndata ? &z->entries[z->data_base + k] : NULL;
	hv = hash_name(rel, len);
	tag = (uint32_t)(hv >> 32) & z->tag;
	h = (size_t)hv & z->mask;
	while ((s = z->table[h]) != 0) {
		if ((s & z->tag) == tag) {
			const tsl_zip_entry *e = &z->entries[(s & idx) - 1];

			if (rel_equal(z, e, rel, len))
				return e;
		}
		h = (h + 1) & z->mask;
	}
	return NULL;
}

const tsl_zip_entry *tsl__zip_find_next(const tsl_zip *z, const char *rel,
	size_t len, size_t *hint)
{
	const tsl_zip_entry *e;

	/* only entries under the prefix are found by name, and their names
	 * are unique (checked at open): a match at the hint is the answer */
	if (z->table && *hint < z->n) {
		e = &z->entries[*hint];
		if (tsl__zip_in_prefix(e) && rel_equal(z, e, rel, len)) {
			(*hint)++;
			return e;
		}
	}
	e = tsl__zip_find(z, rel, len);
	if (e)
		*hint = (size_t)(e - z->entries) + 1;
	return e;
}

/* The zip64 extra field (id 1) replaces the 32-bit fields that are
 * 0xFFFFFFFF, in the order usize, csize, lho. */
static int read_zip64_extra(const uint8_t *x, size_t xlen,
	const tsl_zip_entry *e, uint64_t *usize, uint64_t *csize, uint64_t *lho,
	bool need_u, bool need_c, bool need_o, uint64_t pos, tsl_error *err)
{
	size_t i = 0;

	while (i + 4 <= xlen) {
		uint16_t id = tsl__le16(x + i), n = tsl__le16(x + i + 2);
		size_t j = i + 4;

		if (n > xlen - j)
			return fmt_error(err, TSL_ZIP_ENAME(e), pos,
				"extra field %#x of %u bytes runs past its "
				"%zu-byte extra area", id, n, xlen);
		if (id == 1) {
			size_t k = 0;

			if (need_u) {
				if (k + 8 > n)
					goto short64;
				*usize = tsl__le64(x + j + k);
				k += 8;
			}
			if (need_c) {
				if (k + 8 > n)
					goto short64;
				*csize = tsl__le64(x + j + k);
				k += 8;
			}
			if (need_o) {
				if (k + 8 > n)
					goto short64;
				*lho = tsl__le64(x + j + k);
			}
			return TSL_OK;
		}
		i = j + n;
	}
	if (need_u || need_c || need_o)
		return fmt_error(err, TSL_ZIP_ENAME(e), pos,
			"central directory entry has 0xFFFFFFFF sizes or offset "
			"but no zip64 extra field");
	return TSL_OK;
short64:
	return fmt_error(err, TSL_ZIP_ENAME(e), pos,
		"zip64 extra field is too short for the fields it must hold");
}

uint64_t tsl__zip_field64(const tsl_zip_entry *e, int which)
{
	const uint8_t *c = e->cd;
	uint64_t v[3] = { UINT64_MAX, UINT64_MAX, UINT64_MAX };
	uint16_t nl = tsl__le16(c + 28);

	/* checked when the index was made: this cannot fail, and if it did
	 * (the file changed under its mapping), every bounds check refuses
	 * UINT64_MAX */
	(void)read_zip64_extra(c + CENTRAL_LEN + nl, tsl__le16(c + 30), e,
		&v[0], &v[1], &v[2], tsl__le32(c + 24) == 0xffffffffu,
		tsl__le32(c + 20) == 0xffffffffu,
		tsl__le32(c + 42) == 0xffffffffu, 0, NULL);
	return v[which];
}

/* Where the central directory is, from the end record (and the zip64
 * record its locator points to). */
struct cd_end {
	uint64_t eocd;            /* offset of the classic end record */
	uint64_t count;           /* entries */
	uint64_t offset, size;    /* the central directory */
	bool zip64;
};

/* One central-directory entry, decoded from its fixed 46 bytes. */
struct cd_entry {
	uint32_t sig;
	uint16_t flags, method;
	uint32_t crc32, csize, usize, lho;   /* 0xFFFFFFFF: in the zip64 extra */
	uint16_t name_len, extra_len, comment_len;
};

static void cd_entry_decode(const uint8_t *c, struct cd_entry *ce)
{
	ce->sig = tsl__le32(c);
	ce->flags = tsl__le16(c + 8);
	ce->method = tsl__le16(c + 10);
	ce->crc32 = tsl__le32(c + 16);
	ce->csize = tsl__le32(c + 20);
	ce->usize = tsl__le32(c + 24);
	ce->name_len = tsl__le16(c + 28);
	ce->extra_len = tsl__le16(c + 30);
	ce->comment_len = tsl__le16(c + 32);
	ce->lho = tsl__le32(c + 42);
}

/* The entry's whole size: fixed part, name, extra field, comment. */
static inline uint64_t cd_entry_len(const struct cd_entry *ce)
{
	return (uint64_t)CENTRAL_LEN + ce->name_len + ce->extra_len +
		ce->comment_len;
}

/* Find and check the end records; the directory's bytes are made
 * present.  Limits: the entry count against max_records and against what
 * the directory's size can hold, before anything is allocated for it. */
static int read_end(const uint8_t *b, uint64_t size, const tsl_limits *limits,
	const tsl_zip_fetch *fetch, struct cd_end *end, tsl_error *err)
{
	uint64_t eocd = 0, cd_limit;
	int rc;

	rc = find_eocd(b, size, &eocd, fetch, err);
	if (rc)
		return rc;
	end->eocd = eocd;
	end->count = tsl__le16(b + eocd + 10);
	end->size = tsl__le32(b + eocd + 12);
	end->offset = tsl__le32(b + eocd + 16);
	end->zip64 = false;
	cd_limit = eocd;
	if (tsl__le16(b + eocd + 4) != 0 || tsl__le16(b + eocd + 6) != 0 ||
		tsl__le16(b + eocd + 8) != end->count)
		return tsl__error(err, TSL_EUNSUPPORTED, NULL, eocd,
			"multi-disk zip archives are not supported");

	/* zip64: PyTorch always writes the locator; use it when present.
	 * Its bytes are fetched before they are looked at: the end record's
	 * search fetched only from the chunk the end record starts in. */
	if (eocd >= LOC64_LEN &&
		(rc = tsl__zip_ensure(fetch, eocd - LOC64_LEN, LOC64_LEN, err)))
		return rc;
	if (eocd >= LOC64_LEN && tsl__le32(b + eocd - LOC64_LEN) == SIG_LOC64) {
		uint64_t loc = eocd - LOC64_LEN;
		uint64_t r = tsl__le64(b + loc + 8);

		if (tsl__out_of_bounds(r, EOCD64_LEN, loc))
			return fmt_error(err, NULL, loc,
				"zip64 locator points to offset %llu, outside the "
				"file before it (%llu bytes)",
				(unsigned long long)r, (unsigned long long)loc);
		rc = tsl__zip_ensure(fetch, r, EOCD64_LEN, err);
		if (rc)
			return rc;
		if (tsl__le32(b + r) != SIG_EOCD64)
			return fmt_error(err, NULL, r,
				"zip64 locator points to offset %llu, which holds "
				"no zip64 end of central directory record",
				(unsigned long long)r);
		end->count = tsl__le64(b + r + 32);
		end->size = tsl__le64(b + r + 40);
		end->offset = tsl__le64(b + r + 48);
		cd_limit = r;
		end->zip64 = true;
	} else if (end->count == 0xffff || end->size == 0xffffffffu ||
		end->offset == 0xffffffffu) {
		return fmt_error(err, NULL, eocd,
			"end of central directory needs zip64 but there is no "
			"zip64 locator");
	}
	if (tsl__out_of_bounds(end->offset, end->size, cd_limit))
		return fmt_error(err, NULL, eocd,
			"central directory (offset %llu, %llu bytes) lies outside "
			"the %llu bytes before its end record",
			(unsigned long long)end->offset,
			(unsigned long long)end->size,
			(unsigned long long)cd_limit);
	if (end->count > limits->max_records)
		return tsl__error(err, TSL_ELIMIT, NULL, eocd,
			"archive declares %llu records, more than max_records "
			"(%llu)", (unsigned long long)end->count,
			(unsigned long long)limits->max_records);
	/* every entry takes at least 46 bytes: a lying count is caught here
	 * before anything is allocated for it */
	if (end->count > end->size / CENTRAL_LEN)
		return fmt_error(err, NULL, eocd,
			"end record declares %llu records but the %llu-byte "
			"central directory can hold at most %llu",
			(unsigned long long)end->count,
			(unsigned long long)end->size,
			(unsigned long long)(end->size / CENTRAL_LEN));
	return tsl__zip_ensure(fetch, end->offset, end->size, err);
}

/* Entries and hash table in one block: one allocation, and for a big
 * archive one run of huge pages rather than two.  The table has a
 * power of two of slots, at least 1.5 per entry (load at most 2/3: a hit
 * takes 1.3 probes on average with linear probing, the tag bits make the
 * extra ones cheap); twice the entries took twice the pages for no
 * measurable gain in lookups. */
static int alloc_index(tsl_zip *z, int huge, tsl_error *err)
{
	size_t cap = 16, ent_bytes = 0, tab_bytes = 0, block;

	while (cap < z->n + z->n / 2)
		cap <<= 1;
	if (z->n >= UINT32_MAX ||
		__builtin_mul_overflow(z->n ? z->n : 1, sizeof *z->entries,
		&ent_bytes) ||
		__builtin_mul_overflow(cap, sizeof *z->table, &tab_bytes) ||
		__builtin_add_overflow(ent_bytes, tab_bytes, &block))
		block = SIZE_MAX;   /* fails to allocate below */
	z->entries = tsl__big_calloc(block, 1, huge);
	if (!z->entries)
		return tsl__error(err, TSL_ENOMEM, NULL, TSL_NO_OFFSET,
			"out of memory for %zu records", z->n);
	/* written whole, at once: populated in one call (the table once its
	 * size is known: size_table) */
	tsl__populate(z->entries, ent_bytes);
	z->table = (uint32_t *)(void *)((char *)z->entries + ent_bytes);
	z->mask = cap - 1;
	/* slot bits above those index + 1 needs carry hash bits */
	z->tag = z->n ? (uint32_t)(UINT64_C(0xffffffff) <<
		(64 - __builtin_clzll((unsigned long long)z->n))) : 0;
	return TSL_OK;
}

/* Walk the central directory, check every entry and fill the entries
 * (each a pointer to its directory entry, written once, in order), and
 * find the prefix: the first entry's name up to its first '/' (*pfx: NULL
 * when it has none), which records are under it, and the run of data/<k>
 * (z->data_base, z->ndata).  Nothing is copied.  A directory in file
 * order (what PyTorch writes) is checked for overlapping records on the
 * way:
 * *sorted says whether it was, *first_overlap is then SIZE_MAX or the
 * first i whose record the record of i - 1 overlaps (check_overlaps
 * reports it, after the other checks of the open, as before). */
static int fill_entries(tsl_zip *z, const char **pfx, bool *sorted,
	size_t *first_overlap, tsl_error *err)
{
	uint64_t p = z->cd_offset;
	uint64_t prev_lho = 0, prev_end = 0;   /* header + data of i - 1 */
	size_t overlap = SIZE_MAX;             /* i: i - 1 overlaps it */
	struct data_run run = { SIZE_MAX, 0, false };
	int rc;

	*pfx = NULL;
	*sorted = true;
	for (size_t i = 0; i < z->n; i++) {
		tsl_zip_entry *e = &z->entries[i];
		const uint8_t *c = z->base + p;
		struct cd_entry ce;
		uint64_t end, usize, csize, lho;

		if (tsl__out_of_bounds(p, CENTRAL_LEN, z->cd_end) ||
			tsl__le32(c) != SIG_CENTRAL)
			return fmt_error(err, NULL, p,
				"central directory entry %zu of %zu is missing or "
				"has a bad signature at offset %llu (the entry "
				"count says %zu)", i + 1, z->n,
				(unsigned long long)p, z->n);
		cd_entry_decode(c, &ce);
		if (tsl__out_of_bounds(p, cd_entry_len(&ce), z->cd_end))
			return fmt_error(err, NULL, p,
				"central directory entry %zu runs past the end of "
				"the central directory", i + 1);
		if (ce.name_len == 0 || has_nul(c + CENTRAL_LEN, ce.name_len))
			return fmt_error(err, NULL, p,
				"central directory entry %zu has an empty name or "
				"a NUL byte in its name", i + 1);
		e->cd = c;
		usize = ce.usize;
		csize = ce.csize;
		lho = ce.lho;
		rc = read_zip64_extra(c + CENTRAL_LEN + ce.name_len,
			ce.extra_len, e, &usize, &csize, &lho,
			ce.usize == 0xffffffffu, ce.csize == 0xffffffffu,
			ce.lho == 0xffffffffu, p, err);
		if (rc)
			return rc;
		if (ce.flags & 1)
			return tsl__error(err, TSL_EUNSUPPORTED, TSL_ZIP_ENAME(e),
				p, "record is encrypted");
		/* the record (header + data) must end before the directory */
		if (tsl__add_u64(lho, LOCAL_LEN, &end) ||
			tsl__add_u64(end, csize, &end) || end > z->cd_offset)
			return fmt_error(err, TSL_ZIP_ENAME(e), p,
				"record at offset %llu with %llu compressed bytes "
				"extends past the start of the central directory "
				"(offset %llu)", (unsigned long long)lho,
				(unsigned long long)csize,
				(unsigned long long)z->cd_offset);
		if (ce.method == TSL_ZIP_STORED && csize != usize)
			return fmt_error(err, TSL_ZIP_ENAME(e), p,
				"stored record declares %llu compressed but %llu "
				"uncompressed bytes", (unsigned long long)csize,
				(unsigned long long)usize);
		/* what the index promises its readers (the record ends before
		 * the directory, so only a compressed size claim can be this
		 * big) */
		if (lho > TSL_ZIP_LHO_MAX || usize > TSL_ZIP_USIZE_MAX)
			return tsl__error(err, TSL_EUNSUPPORTED,
				TSL_ZIP_ENAME(e), p,
				"record declares %llu uncompressed bytes at offset "
				"%llu: tsload reads records of up to 64 TiB at "
				"offsets up to 256 TiB", (unsigned long long)usize,
				(unsigned long long)lho);
		if (i > 0 && *sorted) {
			if (lho < prev_lho)
				*sorted = false;
			else if (prev_end > lho && overlap == SIZE_MAX)
				overlap = i;
		}
		e->usize = usize;
		e->method = ce.method;
		prev_lho = lho;
		prev_end = end;
		/* a first entry without a '/' is refused by the caller, after
		 * every entry was checked (as before: the order of the
		 * errors) */
		if (i == 0) {
			const char *name = (const char *)c + CENTRAL_LEN;
			const char *slash = memchr(name, '/', ce.name_len);

			if (slash) {
				*pfx = name;
				z->prefix_len = (size_t)(slash - name);
			}
		}
		if (*pfx && ce.name_len > z->prefix_len &&
			c[CENTRAL_LEN + z->prefix_len] == '/' &&
			same_bytes(c + CENTRAL_LEN, *pfx, z->prefix_len)) {
			e->in_prefix = 1;
			data_run_step(i, (const char *)c + CENTRAL_LEN +
				z->prefix_len + 1, ce.name_len - z->prefix_len - 1,
				&run);
		}
		p += cd_entry_len(&ce);
	}
	z->data_base = run.count ? run.base : 0;
	z->ndata = run.count;
	*first_overlap = overlap;
	return TSL_OK;
}

static void willneed(const uint8_t *base, uint64_t size, uint64_t off,
	uint64_t len);

int tsl__zip_open(tsl_zip **out, const uint8_t *b, uint64_t size,
	const tsl_limits *limits, const tsl_zip_fetch *fetch, tsl_error *err)
{
	struct cd_end end;
	const char *pfx = NULL;   /* the first name, when it has a '/' */
	bool sorted = true;
	size_t first_overlap = SIZE_MAX;
	tsl_zip *z;
	int rc;

	*out = NULL;
	rc = read_end(b, size, limits, fetch, &end, err);
	if (rc)
		return rc;
	z = calloc(1, sizeof *z);
	if (!z)
		return tsl__error(err, TSL_ENOMEM, NULL, TSL_NO_OFFSET,
			"out of memory");
	z->base = b;
	z->size = size;
	z->limits = *limits;
	z->fetch = fetch;
	z->zip64 = end.zip64;
	z->cd_offset = end.offset;
	z->cd_size = end.size;
	z->cd_end = end.offset + end.size;
	z->n = (size_t)end.count;
	/* the central directory is read next, from one end to the other: on
	 * a cold page cache, one read request for all of it */
	if (!fetch)
		tsl__zip_willneed(z, z->cd_offset, z->cd_size);

	if ((rc = alloc_index(z, limits->huge_pages, err)) ||
		(rc = fill_entries(z, &pfx, &sorted, &first_overlap, err)))
		goto fail;
	if (z->n && !pfx) {
		rc = fmt_error(err, TSL_ZIP_ENAME(&z->entries[0]), z->cd_offset,
			"file in archive is not in a subdirectory: '%s'",
			TSL_ZIP_ENAME(&z->entries[0]));
		goto fail;
	}
	z->prefix = malloc(z->prefix_len + 1);
	if (!z->prefix) {
		rc = tsl__error(err, TSL_ENOMEM, NULL, TSL_NO_OFFSET,
			"out of memory");
		goto fail;
	}
	if (z->prefix_len)
		memcpy(z->prefix, pfx, z->prefix_len);
	z->prefix[z->prefix_len] = '\0';
	rc = check_overlaps(z, sorted, first_overlap, err);
	if (rc)
		goto fail;
	rc = build_table(z, err);
	if (rc)
		goto fail;
	*out = z;
	return TSL_OK;
fail:
	tsl__zip_free(z);
	return rc;
}

static void willneed(const uint8_t *base, uint64_t size, uint64_t off,
	uint64_t len)
{
	uintptr_t from, to;

	if (off >= size || len == 0)
		return;
	if (len > size - off)
		len = size - off;
	from = (uintptr_t)(base + off) & ~(uintptr_t)4095;
	to = (uintptr_t)(base + off + len);
	/* on a warm cache (the common case) WILLNEED still walks the page
	 * cache, which cost a many_small load 5 ms: ask only from the first
	 * page that is not resident (mincore: a bit per page, 256 at a time) */
	while (from < to) {
		unsigned char vec[256];
		size_t n = (size_t)((to - from + 4095) >> 12), i;

		if (n > sizeof vec)
			n = sizeof vec;
		if (mincore((void *)from, n << 12, vec) != 0)
			break;   /* not a mapping mincore knows: ask anyway */
		for (i = 0; i < n && (vec[i] & 1); i++)
			;
		if (i < n) {
			from += (uintptr_t)i << 12;
			break;
		}
		from += (uintptr_t)n << 12;
	}
	if (from < to)
		(void)madvise((void *)from, (size_t)(to - from), MADV_WILLNEED);
}

void tsl__zip_willneed(const tsl_zip *z, uint64_t off, uint64_t len)
{
	willneed(z->base, z->size, off, len);
}

void tsl__zip_willneed_range(const uint8_t *base, uint64_t size,
	uint64_t off, uint64_t len)
{
	willneed(base, size, off, len);
}

/* The decoded-copies array: mapped when it is 64 KiB or more, so that only
 * the pages of the slots written are ever touched (calloc clears a heap
 * block page by page, and glibc serves even big blocks from the heap once
 * its mmap threshold has grown). */
#define DECODED_MAP_MIN 65536

static size_t decoded_bytes(const tsl_zip *z)
{
	return z->n * sizeof *z->decoded;   /* n < UINT32_MAX: no overflow */
}

static _Atomic(void *) *decoded_new(const tsl_zip *z)
{
	size_t bytes = decoded_bytes(z);
	void *p;

	if (bytes < DECODED_MAP_MIN)
		return calloc(z->n ? z->n : 1, sizeof *z->decoded);
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void decoded_free(const tsl_zip *z, _Atomic(void *) *v)
{
	if (decoded_bytes(z) < DECODED_MAP_MIN)
		free((void *)v);
	else
		munmap((void *)v, decoded_bytes(z));
}

/* The slot for e of a per-entry array of pointers (z->decoded, z->skips,
 * z->cnames), the array made on the first call (most archives decode few
 * records or none, and name few: an array in every index, or a pointer in
 * every entry, would be pages written for nothing).  Two threads that race
 * both make one, one wins the compare-and-swap.  NULL: out of memory. */
static _Atomic(void *) *lazy_slot(tsl_zip *z,
	_Atomic(_Atomic(void *) *) *array, const tsl_zip_entry *e)
{
	_Atomic(void *) *v = atomic_load_explicit(array, memory_order_acquire);

	if (!v) {
		_Atomic(void *) *fresh = decoded_new(z);

		if (!fresh)
			return NULL;
		if (atomic_compare_exchange_strong(array, &v, fresh))
			v = fresh;
		else
			decoded_free(z, fresh);   /* v: the winner's */
	}
	return &v[e - z->entries];
}

/* NUL-terminated names: a lazy_slot array like the decoded copies, each
 * copy malloc'd when first asked for.  Loading a model asks for a few
 * (data.pkl, the class sources); listing every record or storage asks for
 * all. */
const char *tsl__zip_cname(const tsl_zip *zc, const tsl_zip_entry *e)
{
	tsl_zip *z = (tsl_zip *)(uintptr_t)zc;   /* the cache only */
	_Atomic(void *) *v;
	void *cur, *expected = NULL;
	char *fresh;
	size_t nl;

	if (tsl__zip_stand_in(e))   /* its name is NUL-terminated */
		return tsl__zip_name(e);
	if (!(v = lazy_slot(z, &z->cnames, e)))
		return NULL;
	cur = atomic_load_explicit(v, memory_order_acquire);
	if (cur)
		return cur;
	nl = tsl__zip_name_len(e);
	fresh = malloc(nl + 1);
	if (!fresh)
		return NULL;
	memcpy(fresh, tsl__zip_name(e), nl);
	fresh[nl] = '\0';
	if (!atomic_compare_exchange_strong(v, &expected, fresh)) {
		free(fresh);   /* another thread's copy won */
		return expected;
	}
	return fresh;
}

void tsl__zip_free(tsl_zip *z)
{
	size_t i;

	if (!z)
		return;
	if (z->cnames) {
		_Atomic(void *) *v = z->cnames;

		for (i = 0; i < z->n; i++)
			free(v[i]);
		decoded_free(z, v);
	}
	if (z->decoded) {
		_Atomic(void *) *v = z->decoded;

		for (i = 0; i < z->n; i++)
			tsl__big_free(v[i]);
		decoded_free(z, v);
	}
	if (z->skips)
		decoded_free(z, z->skips);
	tsl__big_free(z->entries);   /* with the table */
	free(z->prefix);
	free(z->next_lho);
	free(z);
}

/* e's cached data offset less its local header offset (a lazy_slot
 * array holding integers), 0 when not found yet; no array is made. */
static uint32_t cached_skip(const tsl_zip *z, const tsl_zip_entry *e)
{
	_Atomic(void *) *v = atomic_load_explicit(
		&((tsl_zip *)(uintptr_t)z)->skips, memory_order_acquire);

	return v && !tsl__zip_stand_in(e) ? (uint32_t)(uintptr_t)atomic_load_explicit(
		&v[e - z->entries], memory_order_acquire) : 0;
}

uint32_t tsl__zip_cached_skip(const tsl_zip *z, const tsl_zip_entry *e)
{
	return cached_skip(z, e);
}

/* tsl__zip_ensure for a record's bytes: a failure of the source (a
 * reader's read or seek, a range past its end) names the record. */
static int ensure_rec(const tsl_zip *z, const tsl_zip_entry *e, uint64_t off,
	uint64_t len, tsl_error *err)
{
	int rc = tsl__zip_ensure(z->fetch, off, len, err);

	if (rc)
		tsl__error_name_record(err, TSL_ZIP_ENAME(e));
	return rc;
}

/* e's data offset: from the cache when it was found before, else from
 * the local header, kept in the cache when `keep` (a storage keeps its
 * own data pointer: materializing 20,000 of them would otherwise write an
 * 80 KB array of offsets never read again). */
static int data_offset(tsl_zip *z, const tsl_zip_entry *e, uint64_t *out,
	bool keep, tsl_error *err)
{
	uint32_t skip = cached_skip(z, e);
	_Atomic(void *) *slot;
	uint64_t lho = tsl__zip_lho(e), off, end, csize, next;
	size_t nl = tsl__zip_name_len(e);
	const uint8_t *h;
	int rc;

	if (skip) {
		*out = lho + skip;
		return TSL_OK;
	}
	if (tsl__zip_stand_in(e))
		return fmt_error(err, TSL_ZIP_ENAME(e), TSL_NO_OFFSET,
			"the archive has no such record");
	if (tsl__out_of_bounds(lho, LOCAL_LEN, z->cd_offset))
		return fmt_error(err, TSL_ZIP_ENAME(e), lho,
			"local header at offset %llu lies outside the records "
			"area", (unsigned long long)lho);
	rc = ensure_rec(z, e, lho, LOCAL_LEN, err);
	if (rc)
		return rc;
	h = z->base + lho;
	if (tsl__le32(h) != SIG_LOCAL)
		return fmt_error(err, TSL_ZIP_ENAME(e), lho,
			"no local file header at offset %llu (bad signature)",
			(unsigned long long)lho);
	/* at most 30 + 2 * 65535, never 0; checked against the records
	 * area before the name and extra field are read */
	skip = LOCAL_LEN + (uint32_t)tsl__le16(h + 26) + tsl__le16(h + 28);
	off = lho + skip;
	csize = tsl__zip_csize(e);
	if (tsl__add_u64(off, csize, &end) || end > z->cd_offset)
		return fmt_error(err, TSL_ZIP_ENAME(e), lho,
			"record data (offset %llu, %llu bytes) extends past the "
			"start of the central directory at %llu",
			(unsigned long long)off, (unsigned long long)csize,
			(unsigned long long)z->cd_offset);
	/* the exact extent against the next record (the open checked a
	 * lower bound): a local extra field that covers the next record's
	 * header would make two records of the same bytes */
	next = z->next_lho ? z->next_lho[e - z->entries] :
		e + 1 < z->entries + z->n ? tsl__zip_lho(e + 1) : z->cd_offset;
	if (end > next)
		return fmt_error(err, TSL_ZIP_ENAME(e), lho,
			"record data (offset %llu, %llu bytes) overlaps the "
			"next record, whose local header is at offset %llu",
			(unsigned long long)off, (unsigned long long)csize,
			(unsigned long long)next);
	rc = ensure_rec(z, e, lho + LOCAL_LEN, skip - LOCAL_LEN, err);
	if (rc)
		return rc;
	if (tsl__le16(h + 26) != nl ||
		memcmp(h + LOCAL_LEN, tsl__zip_name(e), nl) != 0)
		return fmt_error(err, TSL_ZIP_ENAME(e), lho,
			"local header at offset %llu names a different record "
			"than the central directory", (unsigned long long)lho);
	/* out of memory: found again next time */
	if (keep && (slot = lazy_slot(z, &z->skips, e)))
		atomic_store_explicit(slot, (void *)(uintptr_t)skip,
			memory_order_release);
	*out = off;
	return TSL_OK;
}

int tsl__zip_data_offset(tsl_zip *z, const tsl_zip_entry *e, uint64_t *out,
	tsl_error *err)
{
	return data_offset(z, e, out, true, err);
}

int tsl__zip_data_offset_once(tsl_zip *z, const tsl_zip_entry *e,
	uint64_t *out, tsl_error *err)
{
	return data_offset(z, e, out, false, err);
}

/* Decode compressed record e (data at off) into a new buffer (*out,
 * tsl__big_free), its size counted in z->decoded_total; every limit is
 * checked before anything is allocated. */
static int decode_counted(tsl_zip *z, const tsl_zip_entry *e, uint64_t off,
	uint8_t **out, tsl_error *err)
{
	_Atomic uint64_t *total = &z->decoded_total;
	uint64_t sum;
	uint8_t *buf;
	uint64_t csize = tsl__zip_csize(e);
	uint64_t usize = tsl__zip_usize(e);
	int rc;

	if (usize > z->limits.max_record_bytes)
		return tsl__error(err, TSL_ELIMIT, TSL_ZIP_ENAME(e), off,
			"compressed record declares %llu bytes, more than "
			"max_record_bytes (%llu)", (unsigned long long)usize,
			(unsigned long long)z->limits.max_record_bytes);
	/* deflate expands at most 1032:1: a bigger claim is a lie, refused
	 * before anything is allocated for it */
	if (tsl__zip_method(e) == TSL_ZIP_DEFLATED &&
		usize / 1032 > csize + 1)
		return fmt_error(err, TSL_ZIP_ENAME(e), off,
			"deflated record declares %llu bytes, more than its %llu "
			"compressed bytes can hold (zip bomb?)",
			(unsigned long long)usize,
			(unsigned long long)csize);
	sum = atomic_fetch_add(total, usize) + usize;
	if (sum > z->limits.max_total_bytes || sum < usize) {
		atomic_fetch_sub(total, usize);
		return tsl__error(err, TSL_ELIMIT, TSL_ZIP_ENAME(e), off,
			"decoding %llu more bytes exceeds max_total_bytes (%llu)",
			(unsigned long long)usize,
			(unsigned long long)z->limits.max_total_bytes);
	}
	rc = tsl__zip_decode(z, e, off, csize, &buf, err);
	if (rc) {
		atomic_fetch_sub(total, usize);
		return rc;
	}
	if (z->verify_crc &&
		tsl__crc32(0, buf, (size_t)usize) != tsl__zip_crc32(e)) {
		tsl__big_free(buf);
		atomic_fetch_sub(total, usize);
		return fmt_error(err, TSL_ZIP_ENAME(e), off,
			"CRC-32 mismatch (central directory says %08x)",
			tsl__zip_crc32(e));
	}
	*out = buf;
	return TSL_OK;
}

/* The checks and the stored case shared by the two readers: 1 when e is
 * compressed (*off set), else TSL_OK with *data set, or an error. */
static int read_start(tsl_zip *z, const tsl_zip_entry *e, uint64_t *off,
	const uint8_t **data, size_t *len, bool keep, tsl_error *err)
{
	int rc = data_offset(z, e, off, keep, err);
	uint64_t usize = tsl__zip_usize(e);   /* SIZE_MAX may be smaller */

	if (rc)
		return rc;
	if (z->fetch &&
		(rc = ensure_rec(z, e, *off, tsl__zip_csize(e), err)))
		return rc;
	if (usize > SIZE_MAX)
		return tsl__error(err, TSL_ELIMIT, TSL_ZIP_ENAME(e), *off,
			"record of %llu bytes does not fit in memory",
			(unsigned long long)usize);
	if (tsl__zip_method(e) != TSL_ZIP_STORED)
		return 1;
	if (z->verify_crc &&
		tsl__crc32(0, z->base + *off, (size_t)usize) != tsl__zip_crc32(e))
		return fmt_error(err, TSL_ZIP_ENAME(e), *off,
			"CRC-32 mismatch (central directory says %08x)",
			tsl__zip_crc32(e));
	*data = z->base + *off;
	*len = (size_t)usize;
	return TSL_OK;
}

int tsl__zip_read(tsl_zip *z, const tsl_zip_entry *e, const uint8_t **data,
	size_t *len, tsl_error *err)
{
	_Atomic(void *) *slot;
	_Atomic uint64_t *total = &z->decoded_total;
	uint64_t off;
	void *cur, *expected = NULL;
	uint8_t *buf;
	uint64_t usize = tsl__zip_usize(e);
	int rc;

	rc = read_start(z, e, &off, data, len, true, err);
	if (rc <= 0)
		return rc;
	slot = lazy_slot(z, &z->decoded, e);
	if (!slot)
		return tsl__error(err, TSL_ENOMEM, TSL_ZIP_ENAME(e), off,
			"out of memory");
	cur = atomic_load_explicit(slot, memory_order_acquire);
	if (cur) {
		*data = cur;
		*len = (size_t)usize;
		return TSL_OK;
	}
	rc = decode_counted(z, e, off, &buf, err);
	if (rc)
		return rc;
	if (!atomic_compare_exchange_strong(slot, &expected, buf)) {
		/* another thread decoded it first: use theirs */
		tsl__big_free(buf);
		atomic_fetch_sub(total, usize);
		buf = expected;
	}
	*data = buf;
	*len = (size_t)usize;
	return TSL_OK;
}

int tsl__zip_read_private(tsl_zip *z, const tsl_zip_entry *e, const uint8_t **data,
	size_t *len, bool *owned, tsl_error *err)
{
	uint64_t off;
	uint8_t *buf;
	uint64_t usize = tsl__zip_usize(e);
	int rc;

	*owned = false;
	rc = read_start(z, e, &off, data, len, false, err);
	if (rc <= 0)
		return rc;
	rc = decode_counted(z, e, off, &buf, err);
	if (rc)
		return rc;
	*data = buf;
	*len = (size_t)usize;
	*owned = true;
	return TSL_OK;
}

int tsl__zip_read_transient(tsl_zip *z, const tsl_zip_entry *e,
	const uint8_t **data, size_t *len, bool *owned, tsl_error *err)
{
	_Atomic(void *) *v = atomic_load_explicit(&z->decoded,
		memory_order_acquire);
	void *cur = v ? atomic_load_explicit(&v[e - z->entries],
		memory_order_acquire) : NULL;

	if (cur) {   /* decoded before: the cached copy */
		*owned = false;
		*data = cur;
		*len = (size_t)tsl__zip_usize(e);
		return TSL_OK;
	}
	return tsl__zip_read_private(z, e, data, len, owned, err);
}

void tsl__zip_private_free(tsl_zip *z, const tsl_zip_entry *e, void *data)
{
	if (!data)
		return;
	tsl__big_free(data);
	atomic_fetch_sub(&z->decoded_total, tsl__zip_usize(e));
}

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t k = 0; k < 256; k++) {
		uint32_t c = k;

		for (int j = 0; j < 8; j++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[k] = c;
	}
}

uint32_t tsl__crc32(uint32_t crc, const uint8_t *p, size_t n)
{
	size_t i;

	pthread_once(&crc_once, crc_init);
	crc = ~crc;
	for (i = 0; i < n; i++)
		crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}
