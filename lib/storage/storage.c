/* storage.c - a storage's bytes: lazy, once-only materialization on the CPU,
 * device copies, prefetch and release, and every public tsl_storage_* call
 * (the table that makes storages is storage_table.c). */
#include "config.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <xxhash.h>

#include "storage.h"

void tsl__swap_copy(uint8_t *dst, const uint8_t *src, size_t n, size_t w)
{
	size_t i, j;

	for (i = 0; i + w <= n; i += w)
		for (j = 0; j < w; j++)
			dst[i + j] = src[i + w - 1 - j];
}

static void swap_in_place(uint8_t *p, size_t n, size_t w)
{
	size_t i, j;
	uint8_t t;

	for (i = 0; i + w <= n; i += w)
		for (j = 0; j < w / 2; j++) {
			t = p[i + j];
			p[i + j] = p[i + w - 1 - j];
			p[i + w - 1 - j] = t;
		}
}

/* The storage's copy of its record, 64-byte aligned; NULL with err set. */
static uint8_t *own_copy(struct tsl_storage *s, size_t len, tsl_error *err)
{
	uint8_t *p = aligned_alloc(64, (len + 63) & ~(size_t)63);

	if (!p) {
		tsl__error(err, TSL_ENOMEM, TSL_STORAGE_FULLNAME(s), TSL_NO_OFFSET,
			"out of memory copying %zu bytes", len);
		return NULL;
	}
	s->data = p;
	s->owned = true;
	atomic_fetch_add(&s->place->sync->holders, 1);
	return p;
}

static int materialize(struct tsl_storage *s, bool size_checked,
	tsl_error *err)
{
	tsl_archive *ar = s->place->sync->ar;
	const uint8_t *src;
	uint8_t *p;
	size_t len, align;
	bool decoded;
	int rc;

	if (tsl__storage_nbytes(s) == 0) {
		s->data = NULL;   /* no data (or no record at all) */
		return TSL_OK;
	}
	/* the file must still hold what we map: SIGBUS otherwise */
	rc = size_checked ? TSL_OK : tsl__archive_check_size(ar, s->entry,
		err);
	if (rc)
		return rc;
	/* a compressed record is decoded into memory of our own (the
	 * archive's cache is shared and lives until the archive is freed;
	 * ours goes at tsl_storage_release), 16-byte aligned */
	rc = tsl__zip_read_private(ar->zip, s->entry, &src, &len, &decoded,
		err);
	if (rc)
		return rc;
	align = tsl_dtype_size((tsl_dtype)s->dtype);
	if (align == 0 || align > 16)
		align = 1;
	if (decoded) {
		p = (uint8_t *)(uintptr_t)src;
		if (ar->big_endian && tsl__dtype_swap_width(s->dtype) > 1)
			swap_in_place(p, len, tsl__dtype_swap_width(s->dtype));
		s->data = p;
		s->owned = true;
		atomic_fetch_add(&s->place->sync->holders, 1);
	} else if (ar->big_endian && tsl__dtype_swap_width(s->dtype) > 1) {
		if (!(p = own_copy(s, len, err)))
			return TSL_ENOMEM;
		tsl__swap_copy(p, src, len, tsl__dtype_swap_width(s->dtype));
	} else if ((uintptr_t)src % align != 0) {
		/* misaligned (re-zipped by another tool): copy once */
		if (!(p = own_copy(s, len, err)))
			return TSL_ENOMEM;
		memcpy(p, src, len);
	} else {
		s->data = src;  /* zero-copy */
	}
	return TSL_OK;
}

/* Publish a state machine's outcome (READY for rc 0, else FAILED) and wake
 * the waiters. */
static void publish(struct tsl_storage *s, _Atomic int *state, int rc)
{
	tsl_storage_sync *sync = s->place->sync;

	pthread_mutex_lock(&sync->mu);
	atomic_store_explicit(state, rc ? TSL__ST_FAILED : TSL__ST_READY,
		memory_order_release);
	pthread_cond_broadcast(&sync->cv);
	pthread_mutex_unlock(&sync->mu);
}

/* Wait while another thread holds the state machine BUSY; the state
 * then (NEW, READY or FAILED). */
static int wait_state(struct tsl_storage *s, _Atomic int *state)
{
	tsl_storage_sync *sync = s->place->sync;
	int st = atomic_load_explicit(state, memory_order_acquire);

	if (st == TSL__ST_BUSY) {
		pthread_mutex_lock(&sync->mu);
		while ((st = atomic_load_explicit(state, memory_order_acquire)) ==
			TSL__ST_BUSY)
			pthread_cond_wait(&sync->cv, &sync->mu);
		pthread_mutex_unlock(&sync->mu);
	}
	return st;
}

static bool claim(_Atomic int *state)
{
	int expected = TSL__ST_NEW;

	return atomic_load_explicit(state, memory_order_acquire) ==
		TSL__ST_NEW && atomic_compare_exchange_strong(state, &expected,
		TSL__ST_BUSY);
}

/*
 * The once-guard of the CPU state machine: the first caller moves NEW ->
 * BUSY and runs `step` (which records its failure code itself, before the
 * state is published), then publishes READY or FAILED and wakes the
 * others, who wait on the model's condition variable.  Returns the final
 * state, or the step's error code (< 0) to the caller that ran it.  (The
 * device copy's machine uses claim / publish / wait_state directly: the
 * upload pipeline publishes a copy when its last chunk has landed.)
 */
static int run_once(struct tsl_storage *s, _Atomic int *state,
	int (*step)(struct tsl_storage *, void *, tsl_error *), void *arg,
	tsl_error *err)
{
	int rc;

	if (claim(state)) {
		rc = step(s, arg, err);
		publish(s, state, rc);
		return rc ? rc : TSL__ST_READY;
	}
	return wait_state(s, state);
}

bool tsl__dev_claim(struct tsl_dev_copy *c)
{
	return claim(&c->state);
}

void tsl__dev_publish(struct tsl_storage *s, struct tsl_dev_copy *c, int rc)
{
	c->fail = rc;
	publish(s, &c->state, rc);
}

int tsl__dev_wait(struct tsl_storage *s, struct tsl_dev_copy *c)
{
	return wait_state(s, &c->state);
}

static int step_cpu(struct tsl_storage *s, void *size_checked,
	tsl_error *err)
{
	int rc = materialize(s, *(bool *)size_checked, err);

	/* the codes are small negative numbers; anything else reads EIO */
	s->fail_code = (int8_t)(rc >= INT8_MIN && rc < 0 ? rc : 0);
	return rc;
}

static int storage_cpu(struct tsl_storage *s, const void **data,
	size_t *size, bool size_checked, tsl_error *err)
{
	int st = run_once(s, &s->state, step_cpu, &size_checked, err);

	if (st < 0)
		return st;
	if (st == TSL__ST_FAILED)
		return tsl__error(err, s->fail_code ? s->fail_code : TSL_EIO,
			TSL_STORAGE_FULLNAME(s), TSL_NO_OFFSET,
			"storage '%s' failed to materialize earlier",
			TSL_STORAGE_ENAME(s));
	*data = s->data;
	*size = s->data ? (size_t)tsl__storage_nbytes(s) : 0;
	return TSL_OK;
}

/* Free an owned copy: a decoded record goes back to the zip layer (which
 * counts decoded bytes), a copy of a stored one to free(). */
static void drop_owned(struct tsl_storage *s)
{
	void *p = (void *)(uintptr_t)s->data;

	if (tsl__zip_method(s->entry) != TSL_ZIP_STORED)
		tsl__zip_private_free(s->place->sync->ar->zip, s->entry, p);
	else
		free(p);
	s->data = NULL;
	s->owned = false;
}

void tsl__storage_free(struct tsl_storage *s)
{
	if (s->owned)
		drop_owned(s);
}

/* The device copies, when the storages are freed. */
void tsl__storage_side_free(tsl_storage_sync *sync)
{
	for (size_t i = 0; i < sync->side_count; i++) {
		struct tsl_dev_copy *c = sync->side[i].dev;

		/* the copy made it (READY) or not (no memory held) */
		if (c && c->ptr)
			c->backend.free(c->backend.payload, c->index, c->ptr);
		free(c);
	}
	free(sync->side);
	sync->side = NULL;
	sync->side_count = sync->side_cap = 0;
	tsl__pmap_free(&sync->side_ix);
}

struct tsl_storage_side *tsl__storage_side(const struct tsl_storage *s,
	bool make)
{
	tsl_storage_sync *sync = s->place->sync;
	size_t i = tsl__pmap_get(&sync->side_ix, s);

	if (i != SIZE_MAX)
		return &sync->side[i];
	if (!make)
		return NULL;
	if (sync->side_count == sync->side_cap) {
		size_t cap = sync->side_cap ? 2 * sync->side_cap : 16;
		struct tsl_storage_side *t = cap > SIZE_MAX / sizeof *t ?
			NULL : realloc(sync->side, cap * sizeof *t);

		if (!t)
			return NULL;
		sync->side = t;
		sync->side_cap = cap;
	}
	if (tsl__pmap_put(&sync->side_ix, s, sync->side_count) < 0)
		return NULL;
	i = sync->side_count++;
	memset(&sync->side[i], 0, sizeof sync->side[i]);
	return &sync->side[i];
}

/* The storage's device copy record, made by the first caller; NULL with
 * err set. */
struct tsl_dev_copy *tsl__dev_copy(struct tsl_storage *s, tsl_error *err)
{
	tsl_storage_sync *sync = s->place->sync;
	struct tsl_storage_side *e;
	struct tsl_dev_copy *c = NULL;

	pthread_mutex_lock(&sync->mu);
	e = tsl__storage_side(s, true);
	if (e && !e->dev)
		e->dev = calloc(1, sizeof *e->dev);
	if (e)
		c = e->dev;
	pthread_mutex_unlock(&sync->mu);
	if (!c)
		tsl__error(err, TSL_ENOMEM, TSL_STORAGE_ENAME(s),
			TSL_NO_OFFSET, "out of memory");
	return c;
}

struct tsl_dev_copy *tsl__dev_find(struct tsl_storage *s)
{
	tsl_storage_sync *sync = s->place->sync;
	struct tsl_storage_side *e;
	struct tsl_dev_copy *c;

	pthread_mutex_lock(&sync->mu);
	e = tsl__storage_side(s, false);
	c = e ? e->dev : NULL;
	pthread_mutex_unlock(&sync->mu);
	return c;
}

TSL_API const char *tsl_storage_device(const tsl_storage *s)
{
	return s ? s->place->device : NULL;
}

TSL_API int tsl_storage_device_data(tsl_storage *s, void **dptr,
	size_t *size, tsl_error *err)
{
	struct tsl_dev_copy *c;
	int st, rc;

	if (!s || !dptr || !size)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"NULL argument");
	if (strcmp(s->place->device, "cpu") == 0) {
		const void *p;

		rc = tsl__storage_cpu(s, &p, size, err);
		if (rc == TSL_OK)
			*dptr = (void *)(uintptr_t)p;
		return rc;
	}
	if (!(c = tsl__dev_copy(s, err)))
		return TSL_ENOMEM;
	/* the first caller copies it (through the chunked pipeline of
	 * storage_upload.c, which publishes the outcome); the others wait */
	if (tsl__dev_claim(c)) {
		rc = tsl__upload_storage(s, c, err);
		if (rc)
			return rc;
	}
	st = tsl__dev_wait(s, c);
	if (st == TSL__ST_FAILED)
		return tsl__error(err, c->fail ? c->fail : TSL_EDEVICE,
			TSL_STORAGE_ENAME(s), TSL_NO_OFFSET,
			"storage '%s' failed to reach %s earlier",
			TSL_STORAGE_ENAME(s), s->place->device);
	*dptr = c->ptr;
	*size = (size_t)tsl__storage_nbytes(s);
	return TSL_OK;
}

int tsl__storage_cpu(struct tsl_storage *s, const void **data, size_t *size,
	tsl_error *err)
{
	return storage_cpu(s, data, size, false, err);
}

int tsl__storage_stage_source(struct tsl_storage *s, const void **src,
	size_t *n, unsigned *swap, tsl_error *err)
{
	tsl_archive *ar = s->place->sync->ar;
	unsigned w = (unsigned)tsl__dtype_swap_width(s->dtype);
	size_t align = tsl_dtype_size((tsl_dtype)s->dtype), len;
	const uint8_t *p;
	bool owned;
	int rc;

	*swap = 0;
	if (align == 0 || align > 16)
		align = 1;
	/* materialized already, nothing to copy, or decoded anyway */
	if (atomic_load_explicit(&s->state, memory_order_acquire) ==
		TSL__ST_READY || tsl__storage_nbytes(s) == 0 ||
		tsl__zip_method(s->entry) != TSL_ZIP_STORED)
		return tsl__storage_cpu(s, src, n, err);
	rc = tsl__archive_check_size(ar, s->entry, err);
	if (rc)
		return rc;
	rc = tsl__zip_read_private(ar->zip, s->entry, &p, &len, &owned, err);
	if (rc)
		return rc;
	if (owned) {   /* not a stored record after all */
		tsl__zip_private_free(ar->zip, s->entry, (void *)(uintptr_t)p);
		return tsl__storage_cpu(s, src, n, err);
	}
	if (!(ar->big_endian && w > 1) && (uintptr_t)p % align == 0)
		return tsl__storage_cpu(s, src, n, err);   /* zero-copy */
	/* what materializing would copy whole: staged from the mapping */
	*src = p;
	*n = len;
	*swap = ar->big_endian && w > 1 ? w : 0;
	return TSL_OK;
}

int tsl__storage_touch(struct tsl_storage *s, bool size_checked,
	tsl_error *err)
{
	const void *p;
	size_t n, i;
	volatile unsigned char sink = 0;
	int rc = storage_cpu(s, &p, &n, size_checked, err);

	if (rc)
		return rc;
	for (i = 0; i < n; i += 4096)
		sink ^= ((const unsigned char *)p)[i];
	if (n)
		sink ^= ((const unsigned char *)p)[n - 1];
	(void)sink;
	return TSL_OK;
}

/* The page-aligned part of the mapping that holds [p, p+n). */
int tsl__storage_page_range(const struct tsl_storage *s, const void *p, size_t n,
	void **start, size_t *len)
{
	const tsl_archive *ar = s->place->sync->ar;
	uintptr_t ps = 4096, a, b, m = (uintptr_t)ar->map;

	/* only pages of our own file mapping: never the archive's heap
	 * cache of a decoded record, nor a caller's buffer */
	if (!m || !p || !n || (uintptr_t)p < m ||
		(uintptr_t)p - m >= ar->map_len ||
		n > ar->map_len - ((uintptr_t)p - m))
		return -1;
	a = (uintptr_t)p & ~(ps - 1);
	b = ((uintptr_t)p + n + ps - 1) & ~(ps - 1);
	*start = (void *)a;
	*len = (size_t)(b - a);
	return 0;
}

TSL_API int tsl_storage_prefetch(tsl_storage *s, tsl_error *err)
{
	tsl_archive *ar;
	uint64_t off;
	void *start;
	size_t len;
	int rc;

	if (!s)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"storage is NULL");
	if (tsl__storage_nbytes(s) == 0 ||
		tsl__zip_method(s->entry) != TSL_ZIP_STORED)
		return TSL_OK;
	ar = s->place->sync->ar;
	rc = tsl__zip_data_offset_once(ar->zip, s->entry, &off, err);
	if (rc)
		return rc;
	if (tsl__storage_page_range(s, ar->base + off, (size_t)tsl__storage_nbytes(s),
		&start, &len) == 0)
		madvise(start, len, MADV_WILLNEED);
	return TSL_OK;
}

TSL_API int tsl_storage_release(tsl_storage *s, tsl_error *err)
{
	_Atomic int *state;
	void *start;
	size_t len;

	if (!s)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"storage is NULL");
	state = &s->state;
	if (atomic_load(state) != TSL__ST_READY)
		return TSL_OK;
	if (s->owned) {
		drop_owned(s);
	} else if (tsl__storage_page_range(s, s->data, (size_t)tsl__storage_nbytes(s),
		&start, &len) == 0) {
		madvise(start, len, MADV_DONTNEED);
	}
	s->data = NULL;
	atomic_store(state, TSL__ST_NEW);
	return TSL_OK;
}

TSL_API int tsl_storage_copy(tsl_storage *s, void **out, size_t *size,
	tsl_error *err)
{
	const void *p;
	size_t n;
	int rc;

	if (!s || !out || !size)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"NULL argument");
	rc = tsl__storage_cpu(s, &p, &n, err);
	if (rc)
		return rc;
	*out = malloc(n ? n : 1);
	if (!*out)
		return tsl__error(err, TSL_ENOMEM, TSL_STORAGE_ENAME(s),
			TSL_NO_OFFSET, "out of memory copying %zu bytes", n);
	if (n)
		memcpy(*out, p, n);
	*size = n;
	return TSL_OK;
}

/* storages are many: keep them at 32 bytes (see storage.h) */
_Static_assert(sizeof(void *) != 8 || sizeof(struct tsl_storage) == 32,
	"struct tsl_storage grew");

TSL_API tsl_dtype tsl_storage_dtype(const tsl_storage *s)
{
	return s ? (tsl_dtype)s->dtype : TSL_DTYPE_COUNT;
}

TSL_API uint64_t tsl_storage_numel(const tsl_storage *s)
{
	size_t isz;
	uint64_t n;

	if (!s)
		return 0;
	if (s->side_numel) {
		tsl_storage_sync *sync = s->place->sync;
		const struct tsl_storage_side *e;

		pthread_mutex_lock(&sync->mu);
		e = tsl__storage_side(s, false);
		n = e ? e->numel : 0;
		pthread_mutex_unlock(&sync->mu);
		return n;
	}
	isz = tsl_dtype_size((tsl_dtype)s->dtype);
	return isz ? tsl__storage_nbytes(s) / isz : 0;
}

TSL_API uint64_t tsl_storage_nbytes(const tsl_storage *s)
{
	return s ? tsl__storage_nbytes(s) : 0;
}

TSL_API const char *tsl_storage_record(const tsl_storage *s)
{
	return s ? tsl__storage_record(s) : NULL;
}

TSL_API const char *tsl_storage_location(const tsl_storage *s)
{
	return s ? s->place->location : NULL;
}

TSL_API int tsl_storage_data(tsl_storage *s, const void **data, size_t *size,
	tsl_error *err)
{
	if (!s || !data || !size)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"NULL argument");
	return tsl__storage_cpu(s, data, size, err);
}

TSL_API int tsl_storage_xxh3(tsl_storage *s, uint64_t *out, tsl_error *err)
{
	const void *p;
	size_t n;
	int rc;

	if (!s || !out)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"NULL argument");
	rc = tsl__storage_cpu(s, &p, &n, err);
	if (rc)
		return rc;
	*out = XXH3_64bits(p, n);
	return TSL_OK;
}
