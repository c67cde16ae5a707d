/*
 * storage_upload.c - storages to a device in chunks, through a few staging
 * buffers: the device copies of tsl_storage_device_data and
 * tsl_model_upload.
 *
 * A pipeline serves one device.  Storages are cut into pieces that fill a
 * staging buffer (small storages share one; a big one spans many); a full
 * buffer is submitted, and the next buffer is filled from the mapping while
 * the previous one's copies run.  Three ways, from what the backend offers:
 *  - async (alloc_pinned, copy_h2d_async, sync): pinned buffers; with
 *    events, buffer i is reused once its event has passed (copies queue
 *    back to back on the stream); without, the host fills the next buffer,
 *    then syncs the stream (the previous buffer's copies, which ran while
 *    it filled), then submits: double buffering either way.
 *  - pinned (alloc_pinned, no async): one buffer, filled then copied with
 *    copy_h2d, chunk by chunk (no overlap, bounded memory).
 *  - plain (no pinned memory): copy_h2d straight from the storage's bytes.
 * A storage's device copy is published READY when the buffer holding its
 * last piece has landed; on a failure every storage the pipeline holds is
 * published FAILED and its device memory freed.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "storage.h"

#define UP_MAX_BUFS 8
#define UP_MAX_PIECES 64
#define UP_DEFAULT_STAGING ((size_t)8 << 20)
#define UP_MAX_STAGING ((size_t)1 << 30)

struct up_piece {
	struct tsl_storage *s;
	struct tsl_dev_copy *c;
	size_t off;        /* in the storage and its device copy */
	size_t boff;       /* in the buffer */
	size_t len;
	bool last;         /* the storage's last piece: publish on landing */
};

struct up_buf {
	uint8_t *mem;      /* pinned; NULL until first used */
	void *event;
	bool has_event;
	bool pending;      /* submitted, not known landed */
	size_t used;
	unsigned np;
	struct up_piece p[UP_MAX_PIECES];
};

enum { UP_PLAIN, UP_PINNED, UP_ASYNC };

#define UP_MAX_THREADS 16
#define UP_SPLIT_MIN ((size_t)512 << 10)

/* Helpers that fill a staging buffer with the calling thread: each job is
 * cut into nth + 1 page-aligned slices; the caller copies the first. */
struct up_fill {
	pthread_mutex_t mu;
	pthread_cond_t cv, done;
	unsigned gen, pending, nth;
	bool stop;
	uint8_t *dst;
	const uint8_t *src;
	size_t len, slice;
	unsigned swap;            /* byte-swap width while copying (0: none) */
	pthread_t th[UP_MAX_THREADS];
};

/* memcpy, or a copy that reverses each swap-byte element. */
static void stage_copy(uint8_t *dst, const uint8_t *src, size_t n,
	unsigned swap)
{
	if (swap)
		tsl__swap_copy(dst, src, n, swap);
	else
		memcpy(dst, src, n);
}

typedef struct up_pipe {
	tsl_backend b;
	int dev;
	const char *device;       /* the storages' target device string */
	int mode;                 /* UP_* */
	bool events;
	void *stream;
	bool has_stream;
	size_t cap;               /* bytes per buffer */
	unsigned nbuf, cur;
	uint32_t flags;
	tsl_upload_stats *st;     /* never NULL */
	struct tsl_storage *busy; /* claimed, being staged, no last piece
	                             in a buffer yet */
	struct tsl_dev_copy *busy_c;
	struct up_fill *fill;     /* NULL: the calling thread alone */
	uint8_t *ext;             /* the caller's staging memory, or NULL */
	struct up_buf buf[UP_MAX_BUFS];
} up_pipe;

struct up_helper {
	struct up_fill *f;
	unsigned i;
};

static void *fill_main(void *arg)
{
	struct up_fill *f = ((struct up_helper *)arg)->f;
	unsigned i = ((struct up_helper *)arg)->i, gen = 0;

	free(arg);
	pthread_mutex_lock(&f->mu);
	for (;;) {
		size_t a, b;

		while (!f->stop && f->gen == gen)
			pthread_cond_wait(&f->cv, &f->mu);
		if (f->stop)
			break;
		gen = f->gen;
		a = f->slice * i;
		b = a + f->slice < f->len ? a + f->slice : f->len;
		pthread_mutex_unlock(&f->mu);
		if (a < b)
			stage_copy(f->dst + a, f->src + a, b - a, f->swap);
		pthread_mutex_lock(&f->mu);
		if (--f->pending == 0)
			pthread_cond_signal(&f->done);
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

/* Start up to n - 1 helpers (fewer if threads cannot be made). */
static struct up_fill *fill_start(unsigned n)
{
	struct up_fill *f;

	if (n < 2)
		return NULL;
	f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	pthread_cond_init(&f->done, NULL);
	while (f->nth + 1 < n) {
		struct up_helper *h = malloc(sizeof *h);

		if (!h)
			break;
		h->f = f;
		h->i = f->nth + 1;
		if (pthread_create(&f->th[f->nth], NULL, fill_main, h) != 0) {
			free(h);
			break;
		}
		f->nth++;
	}
	return f;
}

static void fill_stop(struct up_fill *f)
{
	unsigned i;

	if (!f)
		return;
	pthread_mutex_lock(&f->mu);
	f->stop = true;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	for (i = 0; i < f->nth; i++)
		pthread_join(f->th[i], NULL);
	pthread_cond_destroy(&f->done);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

/* Slices of len bytes for n copiers: whole pages (so that a byte swap
 * never straddles two), and n of them cover all len bytes. */
static size_t fill_slice(size_t len, unsigned n)
{
	size_t share = len / n + (len % n != 0);   /* ceil(len / n) */

	return (share + 4095) & ~(size_t)4095;
}

/* Copy len bytes into staging (swapping each swap-byte element when swap
 * is not 0), with the helpers when it pays. */
static void fill(struct up_fill *f, uint8_t *dst, const uint8_t *src,
	size_t len, unsigned swap)
{
	size_t slice;

	if (!f || f->nth == 0 || len < UP_SPLIT_MIN) {
		stage_copy(dst, src, len, swap);
		return;
	}
	slice = fill_slice(len, f->nth + 1);
	pthread_mutex_lock(&f->mu);
	f->dst = dst;
	f->src = src;
	f->len = len;
	f->slice = slice;
	f->swap = swap;
	f->pending = f->nth;
	f->gen++;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	stage_copy(dst, src, slice < len ? slice : len, swap);
	pthread_mutex_lock(&f->mu);
	while (f->pending)
		pthread_cond_wait(&f->done, &f->mu);
	pthread_mutex_unlock(&f->mu);
}

static int dev_error(up_pipe *pp, const struct tsl_storage *s, int rc,
	const char *what, size_t n, tsl_error *err)
{
	(void)rc;
	return tsl__error(err, TSL_EDEVICE, s ? TSL_STORAGE_FULLNAME(s) : NULL,
		TSL_NO_OFFSET, "%s %zu bytes of '%s' to %s failed", what, n,
		s ? TSL_STORAGE_ENAME(s) : "?", pp->device);
}

/* Open a pipeline for the device of s; cap: bytes per staging buffer. */
static int pipe_open(up_pipe *pp, const struct tsl_storage *s, size_t cap,
	unsigned nbuf, unsigned nthreads, uint32_t flags, tsl_upload_stats *st,
	tsl_error *err)
{
	tsl_device d;
	int rc;

	memset(pp, 0, sizeof *pp);
	pp->device = s->place->device;
	pp->st = st;
	pp->flags = flags;
	rc = tsl__device_parse(pp->device, &d, err);
	if (rc)
		return rc;
	rc = tsl__backend_get(d.type, &pp->b, err);
	if (rc)
		return rc;
	pp->dev = d.index < 0 ? 0 : d.index;
	pp->cap = cap;
	pp->nbuf = nbuf;
	if (tsl__backend_async(&pp->b)) {
		pp->mode = UP_ASYNC;
		pp->events = tsl__backend_events(&pp->b);
		if (pp->b.stream_create && pp->b.stream_destroy) {
			if (pp->b.stream_create(pp->b.payload, pp->dev,
				&pp->stream) != TSL_OK)
				return tsl__error(err, TSL_EDEVICE,
					TSL_STORAGE_FULLNAME(s), TSL_NO_OFFSET,
					"creating a stream on %s for '%s' "
					"failed", pp->device,
					TSL_STORAGE_ENAME(s));
			pp->has_stream = true;
		}
		st->async = 1;
	} else if (pp->b.alloc_pinned && pp->b.free_pinned) {
		pp->mode = UP_PINNED;
		pp->nbuf = 1;
	} else {
		pp->mode = UP_PLAIN;
		pp->nbuf = 0;
	}
	if (pp->mode != UP_PLAIN)
		pp->fill = fill_start(nthreads);
	return TSL_OK;
}

/* Drop what a pipeline holds (after pipe_finish or pipe_abort). */
static void pipe_close(up_pipe *pp)
{
	unsigned i;

	for (i = 0; i < UP_MAX_BUFS; i++) {
		struct up_buf *u = &pp->buf[i];

		if (u->has_event)
			pp->b.event_destroy(pp->b.payload, pp->dev, u->event);
		if (u->mem && !pp->ext)
			pp->b.free_pinned(pp->b.payload, u->mem);
		u->mem = NULL;
		u->has_event = false;
	}
	if (pp->has_stream)
		pp->b.stream_destroy(pp->b.payload, pp->dev, pp->stream);
	pp->has_stream = false;
	fill_stop(pp->fill);
	pp->fill = NULL;
}

/* A storage fails: its device memory goes, waiters learn rc. */
static void fail_storage(up_pipe *pp, struct tsl_storage *s,
	struct tsl_dev_copy *c, int rc)
{
	if (c->ptr)
		pp->b.free(pp->b.payload, pp->dev, c->ptr);
	c->ptr = NULL;
	tsl__dev_publish(s, c, rc);
}

/* Buffer u has landed: publish the storages whose last piece it held. */
static void buf_landed(up_pipe *pp, struct up_buf *u)
{
	unsigned i;

	for (i = 0; i < u->np; i++)
		if (u->p[i].last) {
			tsl__dev_publish(u->p[i].s, u->p[i].c, TSL_OK);
			pp->st->storages++;
		}
	u->np = 0;
	u->used = 0;
	u->pending = false;
}

/* Every pending buffer has landed (after a successful sync). */
static void all_landed(up_pipe *pp)
{
	unsigned i;

	for (i = 0; i < pp->nbuf; i++)
		if (pp->buf[i].pending)
			buf_landed(pp, &pp->buf[i]);
}

static int pipe_sync(up_pipe *pp, tsl_error *err)
{
	unsigned i;
	const struct tsl_storage *s = NULL;

	for (i = 0; i < pp->nbuf && !s; i++)
		if (pp->buf[i].pending && pp->buf[i].np)
			s = pp->buf[i].p[0].s;
	if (!s)
		return TSL_OK;   /* nothing in flight */
	pp->st->waits++;
	if (pp->b.sync(pp->b.payload, pp->dev, pp->stream) != TSL_OK)
		return dev_error(pp, s, TSL_EDEVICE, "copying", 0, err);
	all_landed(pp);
	return TSL_OK;
}

/* Submit the current buffer's pieces. */
static int buf_submit(up_pipe *pp, tsl_error *err)
{
	struct up_buf *u = &pp->buf[pp->cur];
	unsigned i;
	int rc;

	if (u->np == 0)
		return TSL_OK;
	if (pp->mode == UP_ASYNC && !pp->events) {
		/* the previous buffer's copies ran while this one filled */
		rc = pipe_sync(pp, err);
		if (rc)
			return rc;
	}
	for (i = 0; i < u->np; i++) {
		struct up_piece *q = &u->p[i];
		uint8_t *dst = (uint8_t *)q->c->ptr + q->off;

		if (pp->mode == UP_ASYNC)
			rc = pp->b.copy_h2d_async(pp->b.payload, pp->dev, dst,
				u->mem + q->boff, q->len, pp->stream);
		else
			rc = pp->b.copy_h2d(pp->b.payload, pp->dev, dst,
				u->mem + q->boff, q->len);
		pp->st->copies++;
		if (rc != TSL_OK) {
			u->pending = true;   /* let the abort see its pieces */
			return dev_error(pp, q->s, rc, "copying", q->len, err);
		}
		pp->st->bytes += q->len;
	}
	u->pending = true;
	if (pp->mode != UP_ASYNC) {
		buf_landed(pp, u);
		return TSL_OK;
	}
	if (pp->events && pp->b.event_record(pp->b.payload, pp->dev,
		u->event, pp->stream) != TSL_OK)
		return dev_error(pp, u->p[0].s, TSL_EDEVICE, "copying",
			u->used, err);
	return TSL_OK;
}

/* Make buffer i ready to fill: allocated, landed. */
static int buf_acquire(up_pipe *pp, unsigned i, const struct tsl_storage *s,
	tsl_error *err)
{
	struct up_buf *u = &pp->buf[i];

	if (!u->mem && pp->ext) {
		u->mem = pp->ext + (size_t)i * pp->cap;
		pp->st->staging_bytes += pp->cap;
	}
	if (!u->mem) {
		void *m = NULL;

		if (pp->b.alloc_pinned(pp->b.payload, pp->cap, &m) != TSL_OK ||
			!m)
			return tsl__error(err, TSL_ENOMEM, TSL_STORAGE_FULLNAME(s),
				TSL_NO_OFFSET, "allocating %zu bytes of "
				"staging memory for %s failed", pp->cap,
				pp->device);
		u->mem = m;
		pp->st->staging_bytes += pp->cap;
	}
	if (!u->has_event && pp->events) {
		if (pp->b.event_create(pp->b.payload, pp->dev, &u->event) !=
			TSL_OK)
			return dev_error(pp, s, TSL_EDEVICE, "staging", 0, err);
		u->has_event = true;
	}
	if (u->pending) {
		pp->st->waits++;
		if (pp->events) {
			if (pp->b.event_wait(pp->b.payload, pp->dev, u->event) !=
				TSL_OK)
				return dev_error(pp, u->p[0].s, TSL_EDEVICE,
					"copying", u->used, err);
			buf_landed(pp, u);
		} else if (pipe_sync(pp, err)) {
			return TSL_EDEVICE;
		}
	}
	return TSL_OK;
}

/* Submit the current buffer and move to the next one. */
static int buf_next(up_pipe *pp, const struct tsl_storage *s, tsl_error *err)
{
	int rc = buf_submit(pp, err);

	if (rc)
		return rc;
	pp->cur = (pp->cur + 1) % pp->nbuf;
	return buf_acquire(pp, pp->cur, s, err);
}

/* Read ahead: the mapping's pages of [p, p+n), if it is mapped. */
static void read_ahead(const struct tsl_storage *s, const uint8_t *p,
	size_t n)
{
	void *start;
	size_t len;

	if (n && tsl__storage_page_range(s, p, n, &start, &len) == 0)
		madvise(start, len, MADV_WILLNEED);
}

/* Copy the claimed storage s (c: its device copy, BUSY, ours) into the
 * pipeline.  Its outcome is published by buf_landed or the abort. */
static int pipe_add(up_pipe *pp, struct tsl_storage *s,
	struct tsl_dev_copy *c, tsl_error *err)
{
	const uint8_t *src;
	const void *p;
	size_t n, off = 0;
	unsigned swap = 0;
	int rc;

	pp->busy = s;
	pp->busy_c = c;
	c->backend = pp->b;
	c->index = pp->dev;
	/* staged straight from the mapping where materializing would copy
	 * the record whole (misaligned, big-endian); a plain backend copies
	 * from the source itself, so bytes to swap are swapped on the CPU */
	rc = tsl__storage_stage_source(s, &p, &n, &swap, err);
	if (rc == TSL_OK && swap && pp->mode == UP_PLAIN) {
		swap = 0;
		rc = tsl__storage_cpu(s, &p, &n, err);
	}
	if (rc)
		return rc;
	src = p;
	rc = pp->b.alloc(pp->b.payload, pp->dev, n, &c->ptr);
	/* size 0 may come back as NULL (cudaMalloc(0) does) */
	if (rc != TSL_OK || (!c->ptr && n != 0)) {
		c->ptr = NULL;
		return tsl__error(err, TSL_EDEVICE, TSL_STORAGE_FULLNAME(s),
			TSL_NO_OFFSET, "allocating %zu bytes of '%s' on %s "
			"failed", n, TSL_STORAGE_ENAME(s), pp->device);
	}
	if (pp->mode == UP_PLAIN || n == 0) {
		if (n) {
			pp->st->copies++;
			if (pp->b.copy_h2d(pp->b.payload, pp->dev, c->ptr, src,
				n) != TSL_OK)
				return dev_error(pp, s, TSL_EDEVICE, "copying",
					n, err);
			pp->st->bytes += n;
		}
		pp->busy = NULL;
		tsl__dev_publish(s, c, TSL_OK);
		pp->st->storages++;
		if (n && (pp->flags & TSL_UPLOAD_RELEASE))
			tsl_storage_release(s, NULL);
		return TSL_OK;
	}
	if (n > pp->cap) {
		void *start;
		size_t len;

		if (tsl__storage_page_range(s, src, n, &start, &len) == 0)
			madvise(start, len, MADV_SEQUENTIAL);
	}
	while (off < n) {
		struct up_buf *u = &pp->buf[pp->cur];
		size_t len = n - off;
		struct up_piece *q;

		if (u->used >= pp->cap || u->np == UP_MAX_PIECES) {
			rc = buf_next(pp, s, err);
			if (rc)
				return rc;
			u = &pp->buf[pp->cur];
		}
		if (len > pp->cap - u->used)
			len = pp->cap - u->used;
		/* the next chunk's pages come in while this one copies */
		read_ahead(s, src + off + len, n - off - len < pp->cap ?
			n - off - len : pp->cap);
		fill(pp->fill, u->mem + u->used, src + off, len, swap);
		q = &u->p[u->np++];
		q->s = s;
		q->c = c;
		q->off = off;
		q->boff = u->used;
		q->len = len;
		off += len;
		q->last = off == n;
		u->used += len;
		/* a piece's start stays 64-byte aligned in the buffer */
		u->used = (u->used + 63) & ~(size_t)63;
		if (u->used > pp->cap)
			u->used = pp->cap;
	}
	pp->busy = NULL;   /* its last piece is in a buffer now */
	if (pp->flags & TSL_UPLOAD_RELEASE)
		tsl_storage_release(s, NULL);
	return TSL_OK;
}

/* Everything submitted has landed. */
static int pipe_finish(up_pipe *pp, tsl_error *err)
{
	int rc;

	if (pp->mode == UP_PLAIN)
		return TSL_OK;
	rc = buf_submit(pp, err);
	if (rc)
		return rc;
	if (pp->mode == UP_ASYNC)
		return pipe_sync(pp, err);
	return TSL_OK;
}

/* After a failure: wait for what is in flight (best effort), then fail
 * every storage the pipeline holds. */
static void pipe_abort(up_pipe *pp, int rc)
{
	unsigned i, k;

	if (pp->mode == UP_ASYNC)
		pp->b.sync(pp->b.payload, pp->dev, pp->stream);
	for (i = 0; i < UP_MAX_BUFS; i++) {
		struct up_buf *u = &pp->buf[i];

		for (k = 0; k < u->np; k++)
			if (u->p[k].last)
				fail_storage(pp, u->p[k].s, u->p[k].c, rc);
		u->np = 0;
		u->used = 0;
		u->pending = false;
	}
	if (pp->busy)
		fail_storage(pp, pp->busy, pp->busy_c, rc);
	pp->busy = NULL;
}

static size_t round_page(size_t n)
{
	return n > UP_MAX_STAGING ? UP_MAX_STAGING :
		(n + 4095) & ~(size_t)4095;
}

int tsl__upload_storage(struct tsl_storage *s, struct tsl_dev_copy *c,
	tsl_error *err)
{
	tsl_upload_stats st;
	up_pipe pp;
	uint64_t n = tsl__storage_nbytes(s);
	size_t cap = n < UP_DEFAULT_STAGING ? round_page((size_t)n) :
		UP_DEFAULT_STAGING;
	int rc;

	memset(&st, 0, sizeof st);
	rc = pipe_open(&pp, s, cap ? cap : 4096, n > cap ? 2 : 1, 1, 0, &st,
		err);
	if (rc == TSL_OK && pp.nbuf)
		rc = buf_acquire(&pp, 0, s, err);
	if (rc) {
		/* the pipeline never took it */
		pipe_close(&pp);
		c->ptr = NULL;
		tsl__dev_publish(s, c, rc);
		return rc;
	}
	rc = pipe_add(&pp, s, c, err);
	if (rc == TSL_OK)
		rc = pipe_finish(&pp, err);
	if (rc)
		pipe_abort(&pp, rc);
	pipe_close(&pp);
	return rc;
}

/* Staging defaults and bounds from the caller's options. */
static int upload_options(const tsl_upload_options *opt, size_t *cap,
	unsigned *nbuf, unsigned *nthreads, uint32_t *flags, uint8_t **ext,
	tsl_error *err)
{
	*ext = NULL;
	*cap = UP_DEFAULT_STAGING;
	*nbuf = 2;
	*nthreads = 1;
	*flags = 0;
	if (!opt)
		return TSL_OK;
	if (opt->version < 1 || opt->version > TSL_UPLOAD_OPTIONS_VERSION)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"tsl_upload_options version %u (this library knows 1 "
			"to %d)", opt->version, TSL_UPLOAD_OPTIONS_VERSION);
	if (opt->flags & ~TSL_UPLOAD_RELEASE)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"unknown tsl_upload_options flags 0x%x",
			(unsigned)opt->flags);
	if (opt->staging_bytes > UP_MAX_STAGING)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"staging_bytes %zu is over %zu", opt->staging_bytes,
			UP_MAX_STAGING);
	if (opt->nbuffers == 1 || opt->nbuffers > UP_MAX_BUFS)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"nbuffers %u: 2 to %d (0: the default)", opt->nbuffers,
			UP_MAX_BUFS);
	if (opt->nthreads > UP_MAX_THREADS)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"nthreads %u: at most %d", opt->nthreads,
			UP_MAX_THREADS);
	if (opt->nthreads)
		*nthreads = opt->nthreads;
	if (opt->staging && (opt->staging_bytes == 0 ||
		opt->staging_bytes % 4096 != 0))
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"caller's staging memory needs staging_bytes, a "
			"multiple of 4096 (got %zu)", opt->staging_bytes);
	*ext = opt->staging;
	if (opt->staging_bytes)
		*cap = round_page(opt->staging_bytes);
	if (opt->nbuffers)
		*nbuf = opt->nbuffers;
	*flags = opt->flags;
	return TSL_OK;
}

int tsl__storages_upload(tsl_storages *sts, const tsl_upload_options *opt,
	tsl_upload_stats *stats, tsl_error *err)
{
	tsl_upload_stats local;
	tsl_upload_stats *st = stats ? stats : &local;
	up_pipe pp;
	bool open = false;
	size_t i, cap;
	uint64_t total = 0;
	unsigned nbuf, nthreads;
	uint32_t flags;
	uint8_t *ext;
	int rc;

	memset(st, 0, sizeof *st);
	rc = upload_options(opt, &cap, &nbuf, &nthreads, &flags, &ext, err);
	if (rc)
		return rc;
	/* no bigger buffers than the bytes to move */
	for (i = 0; i < sts->st_count; i++) {
		struct tsl_storage *s = tsl__storages_at(sts, i);

		if (strcmp(s->place->device, "cpu") != 0 &&
			tsl__storage_nbytes(s) < UP_MAX_STAGING)
			total += tsl__storage_nbytes(s);
		else if (strcmp(s->place->device, "cpu") != 0)
			total = UP_MAX_STAGING;
		if (total >= cap)
			break;
	}
	if (total < cap)
		cap = round_page((size_t)total);
	if (cap == 0)
		cap = 4096;
	for (i = 0; i < sts->st_count && rc == TSL_OK; i++) {
		struct tsl_storage *s = tsl__storages_at(sts, i);
		struct tsl_dev_copy *c;

		if (strcmp(s->place->device, "cpu") == 0)
			continue;
		if (!(c = tsl__dev_copy(s, err))) {
			rc = TSL_ENOMEM;
			break;
		}
		if (!tsl__dev_claim(c))
			continue;   /* copied, or being copied: checked below */
		if (open && strcmp(pp.device, s->place->device) != 0) {
			/* another device: finish this one's pipeline */
			rc = pipe_finish(&pp, err);
			if (rc) {
				tsl__dev_publish(s, c, rc);
				break;
			}
			pipe_close(&pp);
			open = false;
		}
		if (!open) {
			rc = pipe_open(&pp, s, cap, nbuf, nthreads, flags, st,
				err);
			pp.ext = ext;
			if (rc == TSL_OK && pp.nbuf)
				rc = buf_acquire(&pp, 0, s, err);
			if (rc) {
				pipe_close(&pp);
				c->ptr = NULL;
				tsl__dev_publish(s, c, rc);
				return rc;
			}
			open = true;
		}
		rc = pipe_add(&pp, s, c, err);
	}
	if (open && rc == TSL_OK)
		rc = pipe_finish(&pp, err);
	if (open) {
		if (rc)
			pipe_abort(&pp, rc);
		pipe_close(&pp);
	}
	if (rc)
		return rc;
	/* the storages other threads were copying: wait, and report the
	 * first that failed */
	for (i = 0; i < sts->st_count; i++) {
		struct tsl_storage *s = tsl__storages_at(sts, i);
		struct tsl_dev_copy *c = tsl__dev_find(s);

		if (strcmp(s->place->device, "cpu") == 0 || !c)
			continue;
		if (tsl__dev_wait(s, c) == TSL__ST_FAILED)
			return tsl__error(err, c->fail ? c->fail : TSL_EDEVICE,
				TSL_STORAGE_FULLNAME(s), TSL_NO_OFFSET,
				"storage '%s' failed to reach %s earlier",
				TSL_STORAGE_ENAME(s), s->place->device);
	}
	return TSL_OK;
}

TSL_API int tsl_storage_device_read(tsl_storage *s, void *dst, size_t n,
	tsl_error *err)
{
	struct tsl_dev_copy *c;
	const void *p;
	size_t size;
	int rc;

	if (!s || (!dst && n))
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"NULL argument");
	if (n > tsl__storage_nbytes(s))
		return tsl__error(err, TSL_EINVAL, TSL_STORAGE_FULLNAME(s),
			TSL_NO_OFFSET, "reading %zu bytes of '%s', which has "
			"%llu", n, TSL_STORAGE_ENAME(s),
			(unsigned long long)tsl__storage_nbytes(s));
	if (strcmp(s->place->device, "cpu") == 0) {
		rc = tsl__storage_cpu(s, &p, &size, err);
		if (rc == TSL_OK && n)
			memcpy(dst, p, n);
		return rc;
	}
	c = tsl__dev_find(s);
	if (!c || tsl__dev_wait(s, c) != TSL__ST_READY)
		return tsl__error(err, TSL_EINVAL, TSL_STORAGE_FULLNAME(s),
			TSL_NO_OFFSET, "storage '%s' has no copy on %s",
			TSL_STORAGE_ENAME(s), s->place->device);
	if (!c->backend.copy_d2h)
		return tsl__error(err, TSL_EUNSUPPORTED, TSL_STORAGE_FULLNAME(s),
			TSL_NO_OFFSET, "the %s backend cannot copy back "
			"(no copy_d2h)", c->backend.name);
	if (n && c->backend.copy_d2h(c->backend.payload, c->index, dst,
		c->ptr, n) != TSL_OK)
		return tsl__error(err, TSL_EDEVICE, TSL_STORAGE_FULLNAME(s),
			TSL_NO_OFFSET, "copying %zu bytes of '%s' back from "
			"%s failed", n, TSL_STORAGE_ENAME(s),
			s->place->device);
	return TSL_OK;
}
