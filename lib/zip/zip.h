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

#include <stdatomic.h>

#include "../common/common.h"

/*
 * One record: 16 bytes, a pointer to its central-directory entry and what
 * must stay readable if the file shrinks under its mapping (then the
 * directory's pages are gone, and reading them is SIGBUS): the size a
 * storage reports and the method its copy is freed by; and whether the
 * name is under the prefix, which every pass over the records asks (the
 * directory is 1.5 MB for 20,000 records: a pass that reads it misses the
 * cache at every entry).  The index writes
 * one per record when an archive is opened (20,000 for a model of many
 * small tensors), and every 4 KiB page of them is a page fault and a page
 * kept, so the entry holds nothing else: the name, the compressed size, the
 * offset and the CRC-32 are read from the directory (mapped for as long as
 * the index lives) by the accessors below, each a load or two (the zip64
 * extra field only for a field that needs it), after the file's size was
 * checked where it matters (reading data: tsl__archive_check_size; naming
 * a record in an error: tsl__archive_ename).  The open checks every entry
 * before it makes the index, so an accessor never fails: what it reads is
 * what was checked.  A NUL-terminated copy of a name is made on demand
 * (tsl__zip_cname, for names handed out); the data offset, found in the
 * local header on first use, is cached in a per-index array made then
 * (tsl_zip.skips); the decoded copy of a compressed record is in a
 * per-index array made on the first decode (tsl_zip.decoded).
 *
 * A stand-in (a record the pickle names but the archive lacks, made by
 * the storage table) points at a directory entry of its own: all fields 0
 * (stored, size 0, offset 0, CRC 0) but the name.
 *
 * Offsets fit 48 bits and sizes 46 (256 and 64 TiB): the index refuses an
 * archive that claims more, so that sums of them never overflow.
 */
/* Compression methods (tsl__zip_method): stored records are read in place,
 * deflated ones by inflate.c, any other through libarchive. */
enum { TSL_ZIP_STORED = 0, TSL_ZIP_DEFLATED = 8 };

#define TSL_ZIP_LHO_MAX   ((UINT64_C(1) << 48) - 1)
#define TSL_ZIP_USIZE_MAX ((UINT64_C(1) << 46) - 1)
#define TSL_ZIP_CENTRAL_LEN 46         /* fixed part of a directory entry */

typedef struct tsl_zip_entry {
	const uint8_t *cd;     /* its central-directory entry (owned by the
	                          mapping; a stand-in's by the storage
	                          table's arena) */
	uint64_t usize : 46;   /* uncompressed size */
	uint64_t method : 16;  /* u16 in the zip format */
	uint64_t stand_in : 1; /* not in the index (see above) */
	uint64_t in_prefix : 1;   /* the name starts with "<prefix>/" (every
	                             pass over the records asks) */
} tsl_zip_entry;   /* written once, before it is shared; read-only then */

_Static_assert(sizeof(tsl_zip_entry) == 16, "tsl_zip_entry grew");

/* The name: tsl__zip_name_len bytes, NOT NUL-terminated. */
static inline const char *tsl__zip_name(const tsl_zip_entry *e)
{
	return (const char *)e->cd + TSL_ZIP_CENTRAL_LEN;
}

static inline size_t tsl__zip_name_len(const tsl_zip_entry *e)
{
	return tsl__le16(e->cd + 28);
}

static inline unsigned tsl__zip_method(const tsl_zip_entry *e)
{
	return (unsigned)e->method;
}

/* A stand-in: not in the index, no data (see above). */
static inline bool tsl__zip_stand_in(const tsl_zip_entry *e)
{
	return e->stand_in != 0;
}

/* The record's CRC-32 (0 for a stand-in). */
static inline uint32_t tsl__zip_crc32(const tsl_zip_entry *e)
{
	return tsl__le32(e->cd + 16);
}

/* A 64-bit field that is 0xFFFFFFFF in the entry's fixed part, from its
 * zip64 extra field (zip_index.c): which is 0 for the uncompressed size, 1
 * for the compressed size, 2 for the local header offset. */
TSL_INTERNAL uint64_t tsl__zip_field64(const tsl_zip_entry *e, int which);

static inline uint64_t tsl__zip_field(const tsl_zip_entry *e, int which,
	size_t at)
{
	uint32_t v = tsl__le32(e->cd + at);

	return v != 0xffffffffu ? v : tsl__zip_field64(e, which);
}

/* Uncompressed size, compressed size (a stored record's is its usize) and
 * local header offset. */
static inline uint64_t tsl__zip_usize(const tsl_zip_entry *e)
{
	return e->usize;
}

static inline uint64_t tsl__zip_csize(const tsl_zip_entry *e)
{
	return e->method == TSL_ZIP_STORED ? e->usize :
		tsl__zip_field(e, 1, 20);
}

static inline uint64_t tsl__zip_lho(const tsl_zip_entry *e)
{
	return tsl__zip_field(e, 2, 42);
}

/* For messages: a name (p, n bytes) or the entry's full name copied into buf
 * (TSL_ZIP_NAME_BUF bytes, cut to fit, NUL-terminated); returns buf.  No
 * allocation.  TSL_ZIP_ENAME(e) gives such a copy in a buffer of the
 * enclosing block. */
#define TSL_ZIP_NAME_BUF 128
static inline const char *tsl__zip_name_buf(const char *p, size_t n,
	char *buf)
{
	if (n > TSL_ZIP_NAME_BUF - 1)
		n = TSL_ZIP_NAME_BUF - 1;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return buf;
}

static inline const char *tsl__zip_ename(const tsl_zip_entry *e, char *buf)
{
	return tsl__zip_name_buf(tsl__zip_name(e), tsl__zip_name_len(e), buf);
}
#define TSL_ZIP_ENAME(e) tsl__zip_ename((e), (char[TSL_ZIP_NAME_BUF]){ 0 })

/*
 * The index: entries and hash table in one block (entries first, so
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
	/* the storages' records "<prefix>/data/0".."data/<ndata - 1>", at
	 * entries[data_base + k] for data/k, as every writer stores them:
	 * found by their number, not in the table (ndata 0: no such run, or
	 * one out of order: all are in the table) */
	size_t data_base, ndata;
	/* NULL, or n decoded copies (made lazily, slots set once) */
	_Atomic(_Atomic(void *) *) decoded;
	/* NULL, or n NUL-terminated copies of the names (made on demand,
	 * slots set once: tsl__zip_cname) */
	_Atomic(_Atomic(void *) *) cnames;
	/* NULL, or n data offsets less the local header's as integers, 0
	 * until found (made on the first: tsl__zip_data_offset; slots set
	 * once; an array like decoded) */
	_Atomic(_Atomic(void *) *) skips;
	/* NULL when the directory lists the records in file order (every
	 * writer's, PyTorch's): a record's successor in the file is then the
	 * next entry.  Else, per entry, where the next record in the file
	 * starts (or the directory's offset): made by the open's overlap
	 * check, which sorts them anyway */
	uint64_t *next_lho;
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

/* Is the entry's name "<prefix>/..."?  (A stand-in's never is.) */
static inline bool tsl__zip_in_prefix(const tsl_zip_entry *e)
{
	return e->in_prefix != 0;
}

/* For a pass over the records that has nothing to do with storages (the
 * extra files, the metadata to read ahead): the index after the run of
 * data/<k> records when i starts it, else i.  Use as
 * for (i = 0; (i = tsl__zip_past_run(z, i)) < z->n; i++). */
static inline size_t tsl__zip_past_run(const tsl_zip *z, size_t i)
{
	return z->ndata && i == z->data_base ? i + z->ndata : i;
}

/* The name after "<prefix>/" for a record under the prefix, else the full
 * name: rel_len(z, e) bytes at rel_bytes(z, e), not NUL-terminated. */
static inline const char *tsl__zip_rel_bytes(const tsl_zip *z,
	const tsl_zip_entry *e)
{
	return tsl__zip_in_prefix(e) ?
		tsl__zip_name(e) + z->prefix_len + 1 : tsl__zip_name(e);
}

static inline size_t tsl__zip_rel_len(const tsl_zip *z,
	const tsl_zip_entry *e)
{
	return tsl__zip_in_prefix(e) ?
		tsl__zip_name_len(e) - z->prefix_len - 1 :
		tsl__zip_name_len(e);
}

/* The entry's full name NUL-terminated, copied on first demand and kept
 * until tsl__zip_free (thread-safe; a stand-in entry's own name as it is).
 * NULL when out of memory. */
TSL_INTERNAL const char *tsl__zip_cname(const tsl_zip *z,
	const tsl_zip_entry *e);

/* The same for the relative name (tsl__zip_rel_bytes); NULL when out of
 * memory. */
static inline const char *tsl__zip_rel(const tsl_zip *z,
	const tsl_zip_entry *e)
{
	const char *c = tsl__zip_cname(z, e);

	return c && tsl__zip_in_prefix(e) ? c + z->prefix_len + 1 : c;
}

/* The data offset less the local header offset, if it was found before;
 * else 0 (for tests). */
TSL_INTERNAL uint32_t tsl__zip_cached_skip(const tsl_zip *z,
	const tsl_zip_entry *e);

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

/* Resolve the data offset from the local header (cached in the index's
 * skips array, so that entries stay read-only once made). */
TSL_INTERNAL int tsl__zip_data_offset(tsl_zip *z, const tsl_zip_entry *e,
	uint64_t *out, tsl_error *err);
/* The same, not kept in the cache (it is read if there): for a caller that
 * keeps what it needs itself (a storage, prefetched then materialized). */
TSL_INTERNAL int tsl__zip_data_offset_once(tsl_zip *z,
	const tsl_zip_entry *e, uint64_t *out, tsl_error *err);

/* The record's bytes: a slice of the mapping for a stored record, or its
 * decoded copy (cached in z->decoded, freed with the index).  */
TSL_INTERNAL int tsl__zip_read(tsl_zip *z, const tsl_zip_entry *e,
	const uint8_t **data, size_t *len, tsl_error *err);

/* tsl__zip_read without the caches, for a reader that gives the memory
 * back early and keeps its own pointer (a storage: tsl_storage_release;
 * neither the decoded copy nor the data offset is kept in the index): a
 * stored record is the same slice
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
 * methods: libarchive) of csize bytes (tsl__zip_csize) at data_off into a
 * new buffer of exactly tsl__zip_usize(e) bytes (plus a NUL), freed with
 * tsl__big_free. */
TSL_INTERNAL int tsl__zip_decode(const tsl_zip *z, const tsl_zip_entry *e,
	uint64_t data_off, uint64_t csize, uint8_t **out, tsl_error *err);

/* CRC-32 (zip polynomial). */
TSL_INTERNAL uint32_t tsl__crc32(uint32_t crc, const uint8_t *p, size_t n);

#endif
