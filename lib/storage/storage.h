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

/* Shared by the storages of one model: waiters sleep on it. */
typedef struct tsl_storage_sync {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int holders;              /* atomic: storages holding owned or device
	                             memory (so freeing can skip a full pass) */
} tsl_storage_sync;

struct tsl_storage {
	int dtype;                /* tsl_dtype */
	int state;                /* atomic TSL__ST_* */
	int fail_code;
	const char *key;          /* as pickled */
	const char *location;     /* saved device string */
	const char *device;       /* target device (map_location applied) */
	const char *record;       /* relative record name, e.g. "data/0" */
	uint64_t numel;           /* as pickled */
	uint64_t nbytes;          /* the record's size (0: no data) */
	tsl_zip_entry *entry;     /* NULL when there is no record */
	tsl_archive *ar;
	tsl_storage_sync *sync;
	const void *data;         /* READY: the bytes (nbytes) */
	void *owned;              /* READY: our copy, freed with the storage */
	/* the copy on a non-CPU target device (same state machine); the
	 * rest of it lives apart, made at the first copy (storages are many) */
	int dev_state;            /* atomic TSL__ST_* */
	int dev_fail;
	struct tsl_dev_copy *dev; /* READY: the copy, freed with the storage */
};

struct tsl_dev_copy {
	tsl_backend backend;      /* snapshot taken at the copy */
	int index;
	void *ptr;
};

TSL_INTERNAL int tsl__storage_cpu(struct tsl_storage *s, const void **data,
	size_t *size, tsl_error *err);
/* Materialize and touch every page (one read per page).  size_checked:
 * the caller has just checked that the file has not shrunk (one fstat for
 * a whole model instead of one per storage). */
TSL_INTERNAL int tsl__storage_touch(struct tsl_storage *s, bool size_checked,
	tsl_error *err);
TSL_INTERNAL void tsl__storage_release_all(struct tsl_storage **v, size_t n,
	tsl_storage_sync *sync);

#endif
