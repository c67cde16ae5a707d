/*
 * storage_table.c - the storages of one model: made as the pickles name
 * them (a lazy view of a record; the same record gives the same storage
 * where the dialect asks for it), their places (saved location and target
 * device), and the thread pool that materializes them all.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "storage.h"

static int st_grow(tsl_storages *st)
{
	size_t cap = st->st_table ? (st->st_mask + 1) * 2 : 64, i;
	struct tsl_storage **t = calloc(cap, sizeof *t);

	if (!t)
		return TSL_ENOMEM;
	for (i = 0; st->st_table && i <= st->st_mask; i++) {
		struct tsl_storage *s = st->st_table[i];
		size_t h;

		if (!s)
			continue;
		h = (size_t)XXH3_64bits(tsl__zip_rel_bytes(st->sync.ar->zip,
			s->entry), tsl__zip_rel_len(st->sync.ar->zip,
			s->entry)) & (cap - 1);
		while (t[h])
			h = (h + 1) & (cap - 1);
		t[h] = s;
	}
	free(st->st_table);
	st->st_table = t;
	st->st_mask = cap - 1;
	return TSL_OK;
}

static const char *remap(const char *const *r, const char *loc)
{
	for (; r && r[0] && r[1]; r += 2)
		if (strcmp(r[0], loc) == 0)
			return r[1];
	return loc;
}

/* The place of a saved location: the location and its target device
 * (map_location, else the remapped location, checked - as torch does, at
 * load time, although copies happen on first access - once per distinct
 * location).  NULL with err set. */
static const struct tsl_storage_place *place_for(tsl_storages *st,
	const char *location, const tsl_zip_entry *e, tsl_error *err)
{
	const tsl_zip *z = st->sync.ar->zip;
	struct tsl_storage_place *pl;
	char norm[64];
	const char *dev;
	size_t i;

	for (i = 0; i < st->nplaces; i++)
		if (st->places[i].location == location ||
			strcmp(st->places[i].location, location) == 0)
			return &st->places[i];
	if (st->map_location) {
		dev = st->map_location;
		goto found;
	}
	if (tsl__device_check(remap(st->remap, location), norm, sizeof norm,
		err)) {
		if (err) {   /* the message is the device's; name the record */
			size_t n = tsl__zip_rel_len(z, e);

			if (n >= sizeof err->record)
				n = sizeof err->record - 1;
			memcpy(err->record, tsl__zip_rel_bytes(z, e), n);
			err->record[n] = '\0';
		}
		return NULL;
	}
	dev = tsl__arena_strndup(st->arena, norm, strlen(norm));
	if (!dev) {
		tsl__arena_error(st->arena, err, TSL_ZIP_ENAME(e),
			TSL_NO_OFFSET);
		return NULL;
	}
found:
	/* the first 8 distinct locations are kept; past that (a contrived
	 * archive), each storage gets a place of its own */
	if (st->nplaces < sizeof st->places / sizeof st->places[0])
		pl = &st->places[st->nplaces++];
	else if (!(pl = tsl__arena_alloc(st->arena, sizeof *pl))) {
		tsl__arena_error(st->arena, err, TSL_ZIP_ENAME(e),
			TSL_NO_OFFSET);
		return NULL;
	}
	pl->location = location;
	pl->device = dev;
	pl->sync = &st->sync;
	return pl;
}

/* Room for storage st_count: a new chunk when the last one is full.  The
 * chunk size is the record count rounded up to a power of two, at most
 * 1024 (TorchScript archives have at most one storage per record). */
static int st_reserve(tsl_storages *st)
{
	size_t k = st->st_count >> st->st_shift, per;

	if (st->st_count && k < st->st_nchunks)
		return TSL_OK;
	if (!st->st_count) {
		for (st->st_shift = 0; st->st_shift < 10 &&
			((size_t)1 << st->st_shift) < st->sync.ar->zip->n;
			st->st_shift++)
			;
		k = 0;
	}
	if (k == st->st_chunks_cap) {
		size_t cap = st->st_chunks_cap ? 2 * st->st_chunks_cap : 8;
		struct tsl_storage **t = realloc(st->st_chunks,
			cap * sizeof *t);

		if (!t)
			return TSL_ENOMEM;
		st->st_chunks = t;
		st->st_chunks_cap = cap;
	}
	per = (size_t)1 << st->st_shift;
	st->st_chunks[k] = tsl__arena_calloc(st->arena, per,
		sizeof **st->st_chunks);
	if (!st->st_chunks[k])
		return TSL_ENOMEM;
	st->st_nchunks = k + 1;
	return TSL_OK;
}

/* The stand-in entry of a storage whose record the archive lacks (it has
 * no elements): a directory entry of its own in the arena, all fields 0
 * (stored, size 0: it is never read) but the name, the relative one (cut
 * to 65,535 bytes), NUL-terminated (zip.h). */
static tsl_zip_entry *absent_record(tsl_storages *st, const char *rel,
	size_t len)
{
	tsl_zip_entry *e = tsl__arena_alloc(st->arena, sizeof *e);
	uint8_t *cd;

	if (len > UINT16_MAX)
		len = UINT16_MAX;
	if (!e || !(cd = tsl__arena_alloc(st->arena,
		TSL_ZIP_CENTRAL_LEN + len + 1)))
		return NULL;
	memset(cd, 0, TSL_ZIP_CENTRAL_LEN);
	tsl__put_le16(cd + 28, (uint16_t)len);   /* the name's length */
	memcpy(cd + TSL_ZIP_CENTRAL_LEN, rel, len);
	cd[TSL_ZIP_CENTRAL_LEN + len] = '\0';
	e->cd = cd;
	e->usize = 0;
	e->method = TSL_ZIP_STORED;
	e->stand_in = 1;
	e->in_prefix = 0;   /* its name is the relative one */
	return e;
}

struct tsl_storage *tsl__storages_get(tsl_storages *st, const char *rel,
	size_t len, bool dedupe, int dtype,
	const char *location, uint64_t numel, const char *pickle,
	tsl_error *err)
{
	const struct tsl_storage_place *pl;
	struct tsl_storage *s;
	const tsl_zip_entry *e;
	size_t h = 0, isz;

	/* Python pickles (and legacy tables) name a storage again at every
	 * use: the same record must give the same storage object.  In the
	 * TorchScript dialect the memo shares it, so each call is new. */
	if (dedupe) {
		if (st->st_count * 2 >=
			(st->st_table ? st->st_mask + 1 : 0) && st_grow(st)) {
			tsl__error(err, TSL_ENOMEM, pickle, TSL_NO_OFFSET,
				"out of memory");
			return NULL;
		}
		h = (size_t)XXH3_64bits(rel, len) & st->st_mask;
		while (st->st_table[h]) {
			const tsl_zip_entry *o = st->st_table[h]->entry;

			if (tsl__zip_rel_len(st->sync.ar->zip, o) == len &&
				memcmp(tsl__zip_rel_bytes(st->sync.ar->zip, o),
				rel, len) == 0)
				return st->st_table[h];
			h = (h + 1) & st->st_mask;
		}
	}
	/* the storage names its record by its zip entry (the index's copy
	 * of the name, and the size) */
	e = tsl__zip_find_next(st->sync.ar->zip, rel, len,
		&st->st_next);
	if (!e && numel != 0) {
		tsl__error(err, TSL_EFORMAT, pickle, TSL_NO_OFFSET,
			"persistent id names storage record '%s/%s', which the "
			"archive does not have", st->sync.ar->zip->prefix, rel);
		return NULL;
	}
	if (!e && !(e = absent_record(st, rel, len))) {
		tsl__arena_error(st->arena, err, pickle, TSL_NO_OFFSET);
		return NULL;
	}
	if (!(pl = place_for(st, location, e, err)))
		return NULL;
	if (st_reserve(st)) {   /* TSL_ELIMIT or TSL_ENOMEM */
		tsl__arena_error(st->arena, err, pickle, TSL_NO_OFFSET);
		return NULL;
	}
	s = tsl__storages_at(st, st->st_count++);
	s->entry = e;
	s->place = pl;
	s->dtype = (uint8_t)dtype;   /* < TSL_DTYPE_COUNT: it has a size */
	isz = tsl_dtype_size((tsl_dtype)dtype);
	if (!isz || numel != tsl__storage_nbytes(s) / isz ||
		tsl__storage_nbytes(s) % isz != 0) {
		/* not what the record's size says (torch writes that): kept
		 * apart (only the loading thread sees the table yet) */
		struct tsl_storage_side *x = tsl__storage_side(s, true);

		if (!x) {
			st->st_count--;
			tsl__error(err, TSL_ENOMEM, pickle, TSL_NO_OFFSET,
				"out of memory");
			return NULL;
		}
		x->numel = numel;
		s->side_numel = true;
	}
	if (dedupe)
		st->st_table[h] = s;
	return s;
}

void tsl__storages_init(tsl_storages *st, tsl_archive *ar, tsl_arena *arena)
{
	memset(st, 0, sizeof *st);
	st->arena = arena;
	st->sync.ar = ar;
	pthread_mutex_init(&st->sync.mu, NULL);
	pthread_cond_init(&st->sync.cv, NULL);
}

void tsl__storages_free(tsl_storages *st)
{
	/* what storages hold beyond the arena; nothing when none has any
	 * (no pass over every storage then) */
	if (atomic_load(&st->sync.holders))
		for (size_t i = 0; i < st->st_count; i++)
			tsl__storage_free(tsl__storages_at(st, i));
	tsl__storage_side_free(&st->sync);
	free(st->st_chunks);
	free(st->st_table);
	pthread_mutex_destroy(&st->sync.mu);
	pthread_cond_destroy(&st->sync.cv);
}

struct mat_job {
	tsl_storages *st;
	_Atomic size_t next;
	_Atomic int rc;
	tsl_error err;
	pthread_mutex_t mu;
};

static void *mat_worker(void *arg)
{
	struct mat_job *j = arg;
	size_t i;

	while ((i = atomic_fetch_add(&j->next, 1)) < j->st->st_count &&
		atomic_load(&j->rc) == TSL_OK) {
		tsl_error e;
		int rc = tsl__storage_touch(tsl__storages_at(j->st, i), true,
			&e);

		if (rc) {
			int expected = TSL_OK;

			pthread_mutex_lock(&j->mu);
			if (atomic_compare_exchange_strong(&j->rc, &expected, rc))
				j->err = e;
			pthread_mutex_unlock(&j->mu);
		}
	}
	return NULL;
}

int tsl__storages_materialize(tsl_storages *st, unsigned nthreads,
	tsl_error *err)
{
	tsl_archive *ar = st->sync.ar;
	int rc;
	struct mat_job j;
	pthread_t th[64];
	unsigned n = 0, i;

	/* one check that the file still holds everything, for all storages */
	rc = tsl__archive_check_size(ar, NULL, err);
	if (rc)
		return rc;
	memset(&j, 0, sizeof j);
	j.st = st;
	pthread_mutex_init(&j.mu, NULL);
	if (nthreads > 64)
		nthreads = 64;
	for (i = 1; i < nthreads; i++)
		if (pthread_create(&th[n], NULL, mat_worker, &j) == 0)
			n++;
	mat_worker(&j);
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&j.mu);
	if (j.rc && err)
		*err = j.err;
	return j.rc;
}
