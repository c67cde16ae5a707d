/*
 * storage.h - storages: the bytes behind tensors, materialized lazily.
 *
 * A storage names a record (data/<key>, constants/<key>...) of the archive.
 * Nothing is read until its data is first asked for; then, once (even when
 * many threads ask at the same moment), it becomes either a zero-copy
 * pointer into the mapping (stored, aligned for its dtype, host byte order)
 * or an owned copy.  State machine (atomic): NEW -> BUSY -> READY | FAILED.
 * Depends on archive (records) and common.
 */
#ifndef TSL_STORAGE_H
#define TSL_STORAGE_H

#include <pthread.h>

#include "../archive/archive.h"
#include "../backend/backend.h"

enum { TSL__ST_NEW = 0, TSL__ST_BUSY, TSL__ST_READY, TSL__ST_FAILED };

/* Shared by the storages of one model (it lives in the model): the archive
 * they read, and the lock and condition variable waiters sleep on. */
typedef struct tsl_storage_sync {
	tsl_archive *ar;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	_Atomic int holders;      /* storages holding owned memory (so
	                             freeing can skip a full pass) */
	/* what few storages have (a device copy, a numel that is not the
	 * record's size over the dtype's), by storage address, kept apart so
	 * that a storage is 32 bytes: tsl__storage_side, under mu */
	tsl_pmap side_ix;         /* storage -> index in side */
	struct tsl_storage_side *side;
	size_t side_count, side_cap;
} tsl_storage_sync;

/* A saved location and the device it maps to, shared by the storages of
 * that location (model.c keeps one per distinct location, up to 8; past
 * that, one per storage).  Lives in the model. */
struct tsl_storage_place {
	const char *location;     /* saved device string */
	const char *device;       /* target device (map_location applied) */
	tsl_storage_sync *sync;
};

/*
 * One per storage, so kept small (32 bytes): what can be derived is not
 * stored.  The record's name and size come from its zip entry; the archive
 * and the lock from the place; the element count from the size (the rare
 * storage whose pickled count differs keeps it in the side table, as does
 * the rare storage with a device copy, whose state lives with the copy).
 */
struct tsl_storage {
	const tsl_zip_entry *entry; /* the record: name (rel), size (usize).
	                             Never NULL: a record the archive lacks (a
	                             storage of 0 elements) gets a stand-in
	                             entry of size 0 in the model's arena, never
	                             passed to the zip layer */
	const struct tsl_storage_place *place;
	const void *data;         /* READY: the bytes (tsl__storage_nbytes) */
	_Atomic int state;        /* TSL__ST_* */
	int8_t fail_code;         /* FAILED: the error (TSL_E*, -1..-12) */
	uint8_t dtype;            /* tsl_dtype */
	bool owned;               /* READY: data is our copy, freed with the
	                             storage */
	bool side_numel;          /* the pickled numel is in the side table
	                             (else it is the size over the dtype's);
	                             set at the load, read-only after (a
	                             byte apart from owned, which the thread
	                             that materializes writes) */
};

/* A storage's entry in its sync's side table (tsl__storage_side). */
struct tsl_storage_side {
	uint64_t numel;               /* as pickled, when s->side_numel */
	struct tsl_dev_copy *dev;     /* the copy on a non-CPU target, made
	                                 at the first request (with its own
	                                 state machine), freed with the
	                                 storages; or NULL */
};

/* s's side entry; with make, added when missing (NULL: out of memory),
 * else NULL when missing.  The caller holds s->place->sync->mu: entries
 * move when the table grows. */
TSL_INTERNAL struct tsl_storage_side *tsl__storage_side(
	const struct tsl_storage *s, bool make);

/* The copy of a storage on a non-CPU device: apart from the storage, as
 * few storages ever have one.  state/fail: the same state machine as the
 * storage's, for the copy. */
struct tsl_dev_copy {
	_Atomic int state;        /* TSL__ST_* */
	int fail;                 /* FAILED: the error */
	tsl_backend backend;      /* snapshot taken at the copy */
	int index;
	void *ptr;                /* READY: the device memory */
};

/*
 * The storages of one model (embedded in it): made by tsl__storages_get as
 * the pickles name them, found again by record name, and kept, first met
 * first, in arena chunks (they never move: tensors point at them).
 * Written during the load only (one thread); read-only afterwards.
 */
typedef struct tsl_storages {
	tsl_arena *arena;              /* the model's */
	const char *map_location;      /* in the arena, or NULL */
	const char *const *remap;      /* opts->remap, during the load only */
	/* storages by record name (only those made with dedupe) */
	struct tsl_storage **st_table;
	size_t st_mask, st_count;
	/* the storages, st_count, first met first: in chunks of
	 * 1 << st_shift in the arena, under a malloc'd table of
	 * st_nchunks */
	struct tsl_storage **st_chunks;
	size_t st_nchunks, st_chunks_cap;
	unsigned st_shift;
	size_t st_next;                /* the record entry tried first for
	                                  the next storage */
	/* saved locations and their target devices, checked once per
	 * distinct location (the storages point here) */
	struct tsl_storage_place places[8];
	size_t nplaces;
	tsl_storage_sync sync;         /* the storages' archive and lock */
} tsl_storages;

/* Storage i (i < st_count). */
static inline struct tsl_storage *tsl__storages_at(const tsl_storages *st,
	size_t i)
{
	return &st->st_chunks[i >> st->st_shift][i &
		(((size_t)1 << st->st_shift) - 1)];
}

/* An empty table for the records of ar; arena: where storages, places and
 * long names go (the model's).  Free with tsl__storages_free. */
TSL_INTERNAL void tsl__storages_init(tsl_storages *st, tsl_archive *ar,
	tsl_arena *arena);
/* Free what the storages hold beyond the arena, the table, the lock. */
TSL_INTERNAL void tsl__storages_free(tsl_storages *st);
/*
 * The storage of record rel[0..len) (relative to the archive's prefix,
 * NUL-terminated; not kept: a stand-in copies it), made lazily:
 * nothing is read.  With dedupe the same record always yields the same
 * storage.  A record the archive lacks is allowed for 0 elements only.
 * location: the saved device string, in the arena; its target device is
 * checked once per distinct location.  dtype: known (the caller checked
 * its size).  pickle names the record errors are reported against.
 * NULL with err set.  Load time only (not thread-safe).
 */
TSL_INTERNAL struct tsl_storage *tsl__storages_get(tsl_storages *st,
	const char *rel, size_t len, bool dedupe, int dtype,
	const char *location, uint64_t numel, const char *pickle,
	tsl_error *err);
/* Make every storage's bytes ready, with up to nthreads threads (64 at
 * most); the first failure is returned.  Thread-safe. */
TSL_INTERNAL int tsl__storages_materialize(tsl_storages *st,
	unsigned nthreads, tsl_error *err);

/* The record's name relative to the archive's prefix ("data/0"), NUL-
 * terminated, copied on first demand and kept with the index; NULL when out
 * of memory.  A stand-in entry's own name is already relative. */
static inline const char *tsl__storage_record(const struct tsl_storage *s)
{
	return tsl__zip_rel(s->place->sync->ar->zip, s->entry);
}

/* For messages: the relative name copied into a buffer of the enclosing
 * block (cut to TSL_ZIP_NAME_BUF - 1 bytes; "#17", the record's place in the
 * index, when the file shrank past its name: tsl__archive_ename). */
#define TSL_STORAGE_ENAME(s) tsl__archive_ename((s)->place->sync->ar, \
	(s)->entry, true, (char[TSL_ZIP_NAME_BUF]){ 0 })
/* The same for the full name */
#define TSL_STORAGE_FULLNAME(s) tsl__archive_ename((s)->place->sync->ar, \
	(s)->entry, false, (char[TSL_ZIP_NAME_BUF]){ 0 })

/* The record's size in bytes (0: no data). */
static inline uint64_t tsl__storage_nbytes(const struct tsl_storage *s)
{
	return tsl__zip_usize(s->entry);
}

TSL_INTERNAL int tsl__storage_cpu(struct tsl_storage *s, const void **data,
	size_t *size, tsl_error *err);
/* The bytes to stage for a device copy (storage_upload.c), without the
 * whole copy that tsl__storage_cpu makes of a stored record that is
 * misaligned or in a big-endian archive: that record's bytes in the
 * mapping, as they lie, with *swap the byte-swap width to apply while
 * staging them (0: none).  Anything else is tsl__storage_cpu's answer
 * (*swap 0). */
TSL_INTERNAL int tsl__storage_stage_source(struct tsl_storage *s,
	const void **src, size_t *n, unsigned *swap, tsl_error *err);
/* Copy n bytes, reversing each w-byte element (big-endian records). */
TSL_INTERNAL void tsl__swap_copy(uint8_t *dst, const uint8_t *src, size_t n,
	size_t w);
/* Materialize and touch every page (one read per page).  size_checked:
 * the caller has just checked that the file has not shrunk (one fstat for
 * a whole model instead of one per storage). */
TSL_INTERNAL int tsl__storage_touch(struct tsl_storage *s, bool size_checked,
	tsl_error *err);
/* The page-aligned part of the archive mapping that holds [p, p+n); -1
 * when [p, p+n) is not inside the mapping (a decoded copy, a buffer). */
TSL_INTERNAL int tsl__storage_page_range(const struct tsl_storage *s,
	const void *p, size_t n, void **start, size_t *len);

/*
 * The device copy's state machine (storage.c), driven by the upload
 * pipeline (storage_upload.c): tsl__dev_copy makes or finds s's (NULL
 * with err set); tsl__dev_claim moves it NEW -> BUSY (true: the caller now
 * owes a tsl__dev_publish); tsl__dev_publish records rc (0: READY with
 * c->ptr, else FAILED with no device memory held) and wakes the waiters;
 * tsl__dev_wait waits while another thread holds it and returns the state.
 */
TSL_INTERNAL struct tsl_dev_copy *tsl__dev_copy(struct tsl_storage *s,
	tsl_error *err);
/* s's device copy record, or NULL when none was made. */
TSL_INTERNAL struct tsl_dev_copy *tsl__dev_find(struct tsl_storage *s);
TSL_INTERNAL bool tsl__dev_claim(struct tsl_dev_copy *c);
TSL_INTERNAL void tsl__dev_publish(struct tsl_storage *s,
	struct tsl_dev_copy *c, int rc);
TSL_INTERNAL int tsl__dev_wait(struct tsl_storage *s,
	struct tsl_dev_copy *c);

/* Copy one claimed storage to its device through the chunked pipeline
 * with the default staging (storage_upload.c); publishes the outcome.
 * Returns its error, with err set. */
TSL_INTERNAL int tsl__upload_storage(struct tsl_storage *s,
	struct tsl_dev_copy *c, tsl_error *err);
/* tsl_model_upload over a model's storages (storage_upload.c). */
TSL_INTERNAL int tsl__storages_upload(tsl_storages *st,
	const tsl_upload_options *opt, tsl_upload_stats *stats,
	tsl_error *err);

/* Free what a storage holds beyond the arena (its owned copy, its device
 * copy), when its model is freed.  Only storages counted in
 * sync->holders hold anything. */
TSL_INTERNAL void tsl__storage_free(struct tsl_storage *s);
/* Free the side table and the device copies in it (tsl__storages_free). */
TSL_INTERNAL void tsl__storage_side_free(tsl_storage_sync *sync);

#endif
