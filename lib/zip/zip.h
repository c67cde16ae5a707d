/*
 * zip.h - the record index: a read-only view of a zip archive in memory.
 *
 * Built from the end-of-central-directory record (and the zip64 locator and
 * record) and the central directory only; no record's data pages are read
 * while indexing.  A record's data offset is resolved from its local header
 * on first use and cached.  Stored records are zero-copy slices; compressed
 * ones are decoded on first use (zip_decode.c: deflate by inflate.c,
 * other methods through libarchive).
 * Depends on common only.
 */
#ifndef TSL_ZIP_H
#define TSL_ZIP_H

#include "../common/common.h"

/*
 * One record.  48 bytes: the index writes one per record when an archive is
 * opened (20,000 for a model of many small tensors), and every 4 KiB page of
 * them costs a page fault, so what is set later or rarely lives elsewhere:
 * the data offset is a 32-bit distance from the local header (the header is
 * 30 bytes plus two 16-bit lengths), the decoded copy of a compressed record
 * is in a per-index array made on the first decode (tsl_zip.decoded), the
 * name relative to the prefix is derived (tsl__zip_rel), and the offset of
 * the central-directory entry, needed only for error messages, is found
 * again by walking the directory.
 */
/* Compression methods (tsl_zip_entry.method): stored records are read in
 * place, deflated ones by inflate.c, any other through libarchive. */
enum { TSL_ZIP_STORED = 0, TSL_ZIP_DEFLATED = 8 };

typedef struct tsl_zip_entry {
	const char *name;      /* full name, NUL-terminated (owned by the index) */
	uint64_t csize;        /* compressed size */
	uint64_t usize;        /* uncompressed size */
	uint64_t lho;          /* local header offset */
	uint32_t crc32;
	uint32_t data_skip;    /* data offset - lho; 0 until resolved (atomic) */
	uint16_t name_len;     /* u16 in the zip format */
	uint16_t method;
	bool in_prefix;        /* the name starts with "<prefix>/" */
} tsl_zip_entry;

_Static_assert(sizeof(tsl_zip_entry) <= 48, "tsl_zip_entry grew");

/*
 * The index: entries, hash table and names in one block (entries first, so
 * that pages are touched in the order they are written).  The table holds
 * only the records under the prefix, keyed by their name relative to it; a
 * slot is 32 bits, 0 when empty, else (index + 1) in its low `tbits` bits and
 * the top bits of the hash's upper word above them (z->tag), so that most
 * probes that would land on another record are told apart without reading
 * its entry.
 */
typedef struct tsl_zip {
	const uint8_t *base;
	uint64_t size;
	tsl_zip_entry *entries;
	size_t n;
	uint32_t *table;       /* see above */
	size_t mask;           /* table slots - 1 */
	uint32_t tag;          /* slot bits that hold hash bits (may be 0) */
	/* NULL, or n decoded copies (made lazily, slots set once) */
	_Atomic(_Atomic(void *) *) decoded;
	char *names;           /* storage for all names */
	uint64_t cd_offset;
	uint64_t cd_size;
	uint64_t cd_end;       /* first byte after the central directory */
	bool zip64;
	char *prefix;          /* first entry's top folder */
	size_t prefix_len;
	_Atomic uint64_t decoded_total; /* bytes decoded so far */
	tsl_limits limits;
	bool verify_crc;
	uint8_t huge;          /* big arrays in huge pages: TSL_PAGES_* */
	const struct tsl_zip_fetch *fetch; /* NULL: all bytes are present */
} tsl_zip;

/* The name after "<prefix>/" for a record under the prefix, else the full
 * name; NUL-terminated, lives as long as the index. */
static inline const char *tsl__zip_rel(const tsl_zip *z,
	const tsl_zip_entry *e)
{
	return e->in_prefix ? e->name + z->prefix_len + 1 : e->name;
}

/* For sources read on demand (a seekable reader): make base[off, off+len)
 * present before it is read.  Called from any thread; must be safe. */
typedef struct tsl_zip_fetch {
	int (*fn)(void *payload, uint64_t off, uint64_t len, tsl_error *err);
	void *payload;
} tsl_zip_fetch;

static inline int tsl__zip_ensure(const tsl_zip_fetch *f, uint64_t off,
	uint64_t len, tsl_error *err)
{
	return f && len ? f->fn(f->payload, off, len, err) : TSL_OK;
}

/* Index the zip in base[0..size).  The memory must outlive the index. */
TSL_INTERNAL int tsl__zip_open(tsl_zip **out, const uint8_t *base,
	uint64_t size, const tsl_limits *limits, const tsl_zip_fetch *fetch,
	tsl_error *err);
TSL_INTERNAL void tsl__zip_free(tsl_zip *z);
/* Ask the kernel to read base[off, off + len) ahead (madvise WILLNEED),
 * clipped to the archive: one call, no wait, no error (a hint). */
TSL_INTERNAL void tsl__zip_willneed(const tsl_zip *z, uint64_t off,
	uint64_t len);
/* The same for base[off, off + len) of a mapping of size bytes, before
 * there is an index. */
TSL_INTERNAL void tsl__zip_willneed_range(const uint8_t *base,
	uint64_t size, uint64_t off, uint64_t len);

/* Find an entry by its name relative to the prefix; NULL if absent. */
TSL_INTERNAL const tsl_zip_entry *tsl__zip_find(const tsl_zip *z,
	const char *rel, size_t len);

/* tsl__zip_find for lookups that tend to go in record order (a pickle's
 * storages: writers store data/0, data/1... in the order the pickle names
 * them): the entry at *hint is tried first, then the table; *hint becomes
 * the index after the entry found.  Start with *hint = 0. */
TSL_INTERNAL const tsl_zip_entry *tsl__zip_find_next(const tsl_zip *z,
	const char *rel, size_t len, size_t *hint);

/* Resolve the data offset from the local header (cached in the entry's
 * atomic data_skip: the one field of an entry written after indexing, so
 * entries are handed out const). */
TSL_INTERNAL int tsl__zip_data_offset(tsl_zip *z, const tsl_zip_entry *e,
	uint64_t *out, tsl_error *err);

/* The record's bytes: a slice of the mapping for a stored record, or its
 * decoded copy (cached in z->decoded, freed with the index).  */
TSL_INTERNAL int tsl__zip_read(tsl_zip *z, const tsl_zip_entry *e,
	const uint8_t **data, size_t *len, tsl_error *err);

/* tsl__zip_read without the cache, for a reader that gives the memory back
 * early (a storage: tsl_storage_release): a stored record is the same slice
 * of the file (*owned false); a compressed one is decoded into a new buffer
 * (*owned true), counted against max_total_bytes until the reader frees it
 * with tsl__zip_private_free (NULL: no-op). */
TSL_INTERNAL int tsl__zip_read_private(tsl_zip *z, const tsl_zip_entry *e,
	const uint8_t **data, size_t *len, bool *owned, tsl_error *err);
TSL_INTERNAL void tsl__zip_private_free(tsl_zip *z, const tsl_zip_entry *e,
	void *data);
/* For bytes read once and dropped (a class header parsed at load): the
 * cached copy when the record was decoded before (*owned false), else as
 * tsl__zip_read_private.  The cache is left as it was. */
TSL_INTERNAL int tsl__zip_read_transient(tsl_zip *z, const tsl_zip_entry *e,
	const uint8_t **data, size_t *len, bool *owned, tsl_error *err);

/* zip_decode.c: decode a compressed record (deflate: inflate.c; other
 * methods: libarchive) into a new buffer of exactly e->usize bytes (plus a
 * NUL), freed with tsl__big_free. */
TSL_INTERNAL int tsl__zip_decode(const tsl_zip *z, const tsl_zip_entry *e,
	uint64_t data_off, uint8_t **out, tsl_error *err);

/* CRC-32 (zip polynomial). */
TSL_INTERNAL uint32_t tsl__crc32(uint32_t crc, const uint8_t *p, size_t n);

#endif
