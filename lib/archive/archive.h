/*
 * archive.h - an opened archive: the bytes (mapping, copy, borrowed buffer
 * or spooled stream), its record index, what kind of file it is, its
 * version and byte order, and the extra files.  Depends on zip and common.
 */
#ifndef TSL_ARCHIVE_H
#define TSL_ARCHIVE_H

#include <pthread.h>

#include "../zip/zip.h"

struct tsl_archive {
	_Atomic int refs;         /* the caller's ref + one per model */
	const uint8_t *base;
	uint64_t size;
	void *map;                /* our mapping (munmap), or NULL */
	size_t map_len;
	void *copy;               /* our malloc'd copy (free), or NULL */
	int fd;                   /* the mapped file (for size checks), or -1 */
	tsl_zip *zip;
	tsl_file_kind kind;
	uint64_t version;
	int big_endian;
	const char **extra;       /* sorted names under extra/ (without it) */
	size_t nextra;
	tsl_limits limits;
	uint32_t flags;
	/* a seekable reader, read on demand into a sparse memfd */
	struct tsl_ondemand {
		tsl_reader reader;
		int fd;
		pthread_mutex_t mu;
		uint8_t *have;        /* one byte per chunk: 1 once read */
		uint64_t nchunks;
		tsl_zip_fetch fetch;
	} *od;
};

/* Take / drop a reference (the last one frees). */
TSL_INTERNAL void tsl__archive_ref(tsl_archive *ar);
TSL_INTERNAL void tsl__archive_unref(tsl_archive *ar);

/* Before reading a mapped file's records (or anything of entry e but its
 * size and method): check that the file has not shrunk since it was
 * mapped (touching pages past the new end raises SIGBUS).  TSL_EIO when
 * it did, naming the record of entry e (may be NULL) and its offset.  Both
 * are in the central directory, at the end of the file: when the shrink
 * took them, the record is named by its place in the index ("#17"), at the
 * offset of its directory entry, instead of reading them. */
TSL_INTERNAL int tsl__archive_check_size(const tsl_archive *ar,
	const tsl_zip_entry *e, tsl_error *err);

/* For messages after the load (a storage's errors): entry e's name (rel:
 * relative to the prefix) copied into buf (TSL_ZIP_NAME_BUF bytes), or
 * "#17", its place in the index, when the file shrank past the name (it is
 * read from the mapped central directory).  Returns buf. */
TSL_INTERNAL const char *tsl__archive_ename(const tsl_archive *ar,
	const tsl_zip_entry *e, bool rel, char *buf);

/* A record's bytes and where they are, for the readers of lib/module. */
typedef struct tsl_record {
	const uint8_t *data;      /* the bytes (a slice of the mapping, or the
	                             decoded copy); valid as long as the
	                             archive */
	size_t len;
	const char *name;         /* full name, for messages (the index's) */
	uint64_t file_offset;     /* where a stored record's bytes start in
	                             the file (messages give offsets in the
	                             file); TSL_NO_OFFSET for a compressed one
	                             or when its local header is unreadable */
} tsl_record;

/* Record rel[0..len) (relative to the prefix): TSL_OK with *out filled;
 * TSL_ENOTFOUND, err untouched, when the archive has no such record (the
 * caller says why it wanted it); else the read's error.  Thread-safe. */
TSL_INTERNAL int tsl__archive_record(tsl_archive *ar, const char *rel,
	size_t len, tsl_record *out, tsl_error *err);
/* tsl__archive_record for bytes the caller drops soon: a compressed
 * record not decoded before is decoded into a buffer of the caller's
 * (*owned, else NULL), not into the archive's cache; give it back with
 * tsl__archive_record_drop. */
TSL_INTERNAL int tsl__archive_record_transient(tsl_archive *ar,
	const char *rel, size_t len, tsl_record *out, void **owned,
	tsl_error *err);
TSL_INTERNAL void tsl__archive_record_drop(tsl_archive *ar, const char *rel,
	size_t len, void *owned);
/* Whether record rel[0..len) exists, and its size (uncompressed), without
 * reading it. */
TSL_INTERNAL bool tsl__archive_record_size(const tsl_archive *ar,
	const char *rel, size_t len, uint64_t *size);
/* How many records the archive has (0 for one without a zip index). */
TSL_INTERNAL size_t tsl__archive_nrecords(const tsl_archive *ar);

/* Read a record by relative name; TSL_ENOTFOUND names it. */
TSL_INTERNAL int tsl__archive_read(tsl_archive *ar, const char *rel,
	const uint8_t **data, size_t *len, tsl_error *err);

#endif
