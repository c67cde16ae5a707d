/*
 * upload_bench.c - times tsl_model_upload (the chunked device upload
 * pipeline) over an archive, on one of two devices:
 *
 *   upload_bench [options] ARCHIVE             a CPU model of a device
 *   upload_bench --cuda [options] ARCHIVE      the real one (a GPU)
 *
 * The CPU model ("latdev"): device memory is host memory; a copy costs a
 * fixed delay per call plus a delay per MiB (--lat-us, --mib-us: 10 us and
 * 40 us, about a 25 GB/s link), served in order by a worker thread for the
 * asynchronous members.  Each run loads the archive onto it, times
 * tsl_model_upload with the pipeline (async copies, events) and with the
 * same backend offering synchronous copies only (one buffer: fill, copy,
 * fill, ...), and prints the medians, the overlap ratio (pipelined time /
 * serial time) and the staging peak.  In timed runs the model device
 * only waits (a DMA engine costs no host CPU); the warm-up run copies
 * the bytes and checks them.
 *
 * --cuda: map_location "cuda:0" through the built-in backend; times
 * tsl_model_upload (staging pinned by the call, then staging pinned once
 * by the caller: tsl_upload_options.staging), then a plain cudaMemcpy of --probe MiB from
 * cudaMallocHost memory (the bandwidth ceiling), prints both and their
 * ratio, then reads every storage back (tsl_storage_device_read) and
 * compares its XXH3 with the CPU bytes'.  Exit status 0 only when every
 * hash matched (and, with --min-ratio R, the ratio is at least R).
 *
 * Options: --runs N (5), --staging BYTES (8 MiB), --buffers N (2),
 * --threads N (threads filling the staging buffers, 1),
 * --probe MiB (256), --min-ratio R.  Timings exclude the load; the first
 * run warms the page cache and is not counted.  Not installed.
 */
#include "config.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "tsload.h"

#include "bench_time.h"

/* seconds */
static double now(void)
{
	return bench_now_ms() * 1e-3;
}

/* ---- the CPU model of a device ------------------------------------------ */

struct op {
	void *dst;
	const void *src;
	size_t n;
	uint64_t seq;
};

#define QMAX 1024
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct op q[QMAX];
	size_t head, len;
	uint64_t submitted, completed;
	bool stop;
	bool copy_data;   /* false in timed runs: a DMA costs no host CPU */
	long lat_ns, mib_ns;
	size_t pinned_now, pinned_peak;
} d = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
	.lat_ns = 10000, .mib_ns = 40000 };

static void delay(size_t n)
{
	long ns = d.lat_ns + (long)((double)d.mib_ns * (double)n / 1048576.0);
	struct timespec t = { ns / 1000000000L, ns % 1000000000L };

	while (nanosleep(&t, &t) != 0)
		;
}

static void *worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&d.mu);
	for (;;) {
		struct op o;

		while (!d.stop && d.len == 0)
			pthread_cond_wait(&d.cv, &d.mu);
		if (d.len == 0)
			break;
		o = d.q[d.head];
		pthread_mutex_unlock(&d.mu);
		delay(o.n);
		if (d.copy_data)
			memcpy(o.dst, o.src, o.n);
		pthread_mutex_lock(&d.mu);
		d.head = (d.head + 1) % QMAX;
		d.len--;
		d.completed = o.seq;
		pthread_cond_broadcast(&d.cv);
	}
	pthread_mutex_unlock(&d.mu);
	return NULL;
}

static int m_count(void *p) { (void)p; return 1; }

/* Device memory: a bump allocator over one region touched once at the
 * start (reset before each run), so that timings do not include the first
 * touch of fresh pages, which a real device does not pay on the host. */
static uint8_t *pool;
static size_t pool_cap, pool_used;

static int m_alloc(void *p, int dev, size_t n, void **out)
{
	size_t a = (n + 255) & ~(size_t)255;

	(void)p;
	(void)dev;
	pthread_mutex_lock(&d.mu);
	if (a > pool_cap - pool_used) {
		pthread_mutex_unlock(&d.mu);
		return TSL_ENOMEM;
	}
	*out = pool + pool_used;
	pool_used += a ? a : 256;
	pthread_mutex_unlock(&d.mu);
	return TSL_OK;
}

static void m_free(void *p, int dev, void *ptr)
{
	(void)p;
	(void)dev;
	(void)ptr;
}

static int m_copy(void *p, int dev, void *dst, const void *src, size_t n)
{
	(void)p;
	(void)dev;
	delay(n);
	if (d.copy_data)
		memcpy(dst, src, n);
	return TSL_OK;
}

/* Pinned memory: blocks are kept for reuse (as a real application keeps
 * its page-locked pool warm), counted while handed out. */
#define PIN_CACHE 8
static struct {
	void *p;
	size_t n;
} pin_cache[PIN_CACHE], pin_out[PIN_CACHE * 2];

static int m_alloc_pinned(void *p, size_t n, void **out)
{
	int i;

	(void)p;
	pthread_mutex_lock(&d.mu);
	*out = NULL;
	for (i = 0; i < PIN_CACHE && !*out; i++)
		if (pin_cache[i].p && pin_cache[i].n == n) {
			*out = pin_cache[i].p;
			pin_cache[i].p = NULL;
		}
	pthread_mutex_unlock(&d.mu);
	if (!*out) {
		*out = aligned_alloc(4096, (n + 4095) & ~(size_t)4095);
		if (!*out)
			return TSL_ENOMEM;
		memset(*out, 0, n);
	}
	pthread_mutex_lock(&d.mu);
	d.pinned_now += n;
	if (d.pinned_now > d.pinned_peak)
		d.pinned_peak = d.pinned_now;
	for (i = 0; i < PIN_CACHE * 2; i++)
		if (!pin_out[i].p) {
			pin_out[i].p = *out;
			pin_out[i].n = n;
			break;
		}
	pthread_mutex_unlock(&d.mu);
	return TSL_OK;
}

static void m_free_pinned(void *p, void *ptr)
{
	size_t n = 0;
	int i;

	(void)p;
	pthread_mutex_lock(&d.mu);
	for (i = 0; i < PIN_CACHE * 2; i++)
		if (pin_out[i].p == ptr) {
			n = pin_out[i].n;
			pin_out[i].p = NULL;
			break;
		}
	d.pinned_now -= n;
	for (i = 0; i < PIN_CACHE; i++)
		if (!pin_cache[i].p) {
			pin_cache[i].p = ptr;
			pin_cache[i].n = n;
			ptr = NULL;
			break;
		}
	pthread_mutex_unlock(&d.mu);
	free(ptr);
}

static int m_copy_async(void *p, int dev, void *dst, const void *src,
	size_t n, void *stream)
{
	(void)p;
	(void)dev;
	(void)stream;
	pthread_mutex_lock(&d.mu);
	while (d.len == QMAX)
		pthread_cond_wait(&d.cv, &d.mu);
	d.q[(d.head + d.len) % QMAX] = (struct op){ dst, src, n,
		++d.submitted };
	d.len++;
	pthread_cond_broadcast(&d.cv);
	pthread_mutex_unlock(&d.mu);
	return TSL_OK;
}

static void wait_seq(uint64_t seq)
{
	pthread_mutex_lock(&d.mu);
	while (d.completed < seq)
		pthread_cond_wait(&d.cv, &d.mu);
	pthread_mutex_unlock(&d.mu);
}

static int m_sync(void *p, int dev, void *stream)
{
	(void)p;
	(void)dev;
	(void)stream;
	pthread_mutex_lock(&d.mu);
	uint64_t s = d.submitted;
	pthread_mutex_unlock(&d.mu);
	wait_seq(s);
	return TSL_OK;
}

static int m_event_create(void *p, int dev, void **ev)
{
	(void)p;
	(void)dev;
	*ev = calloc(1, sizeof(uint64_t));
	return *ev ? TSL_OK : TSL_ENOMEM;
}

static void m_event_destroy(void *p, int dev, void *ev)
{
	(void)p;
	(void)dev;
	free(ev);
}

static int m_event_record(void *p, int dev, void *ev, void *stream)
{
	(void)p;
	(void)dev;
	(void)stream;
	pthread_mutex_lock(&d.mu);
	*(uint64_t *)ev = d.submitted;
	pthread_mutex_unlock(&d.mu);
	return TSL_OK;
}

static int m_event_wait(void *p, int dev, void *ev)
{
	(void)p;
	(void)dev;
	wait_seq(*(uint64_t *)ev);
	return TSL_OK;
}

static int m_copy_d2h(void *p, int dev, void *dst, const void *src, size_t n)
{
	(void)p;
	(void)dev;
	memcpy(dst, src, n);
	return TSL_OK;
}

static tsl_backend model_backend(bool async)
{
	tsl_backend b = {
		.version = TSL_BACKEND_VERSION, .name = "latdev",
		.device_count = m_count, .alloc = m_alloc, .copy_h2d = m_copy,
		.free = m_free, .alloc_pinned = m_alloc_pinned,
		.free_pinned = m_free_pinned, .copy_d2h = m_copy_d2h,
	};

	if (async) {
		b.copy_h2d_async = m_copy_async;
		b.sync = m_sync;
		b.event_create = m_event_create;
		b.event_destroy = m_event_destroy;
		b.event_record = m_event_record;
		b.event_wait = m_event_wait;
	}
	return b;
}

/* ---- common --------------------------------------------------------------- */

static int verify(tsl_model *m, bool quiet)
{
	size_t i, n = tsl_model_storage_count(m), bad = 0, bytes = 0;
	tsl_error err;

	for (i = 0; i < n; i++) {
		tsl_storage *s = tsl_model_storage(m, i);
		size_t sz = (size_t)tsl_storage_nbytes(s);
		void *buf = malloc(sz ? sz : 1);
		uint64_t want, got;

		if (!buf || tsl_storage_xxh3(s, &want, &err) != TSL_OK ||
			tsl_storage_device_read(s, buf, sz, &err) != TSL_OK) {
			fprintf(stderr, "upload_bench: %s: %s\n",
				tsl_storage_record(s), buf ? err.message :
				"out of memory");
			free(buf);
			return 1;
		}
		got = XXH3_64bits(buf, sz);
		free(buf);
		bytes += sz;
		if (got != want) {
			bad++;
			fprintf(stderr, "upload_bench: %s: device xxh3 %016llx, "
				"CPU %016llx\n", tsl_storage_record(s),
				(unsigned long long)got,
				(unsigned long long)want);
		}
	}
	if (!quiet)
		printf("verify: %zu storages, %zu bytes read back, %zu "
			"mismatches\n", n, bytes, bad);
	return bad ? 1 : 0;
}

/* Load path onto device, upload with opt; seconds of the upload. */
static double timed_upload(const char *path, const char *device,
	const tsl_upload_options *uo, tsl_upload_stats *st, bool check,
	int *bad)
{
	tsl_options o = TSL_OPTIONS_INIT;
	tsl_model *m;
	tsl_error err;
	double t0, t1;

	o.map_location = device;
	pool_used = 0;
	if (tsl_load_path(&m, path, &o, &err) != TSL_OK) {
		fprintf(stderr, "upload_bench: %s: %s\n", path, err.message);
		exit(2);
	}
	t0 = now();
	if (tsl_model_upload(m, uo, st, &err) != TSL_OK) {
		fprintf(stderr, "upload_bench: upload: %s\n", err.message);
		exit(2);
	}
	t1 = now();
	if (check)
		*bad |= verify(m, false);
	tsl_model_free(m);
	return t1 - t0;
}

/* ---- cudart, for the bandwidth ceiling ----------------------------------- */

typedef int (*cu_malloc_fn)(void **, size_t);
typedef int (*cu_free_fn)(void *);
typedef int (*cu_memcpy_fn)(void *, const void *, size_t, int);
typedef int (*cu_sync_fn)(void);

static void *cudart(void)
{
	static void *lib;
	static const char *const names[] = { "libcudart.so",
		"libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0",
		"/usr/local/cuda/lib64/libcudart.so", NULL };
	const char *env = getenv("TSL_CUDART");
	int i;

	if (!lib && env && *env)
		lib = dlopen(env, RTLD_NOW | RTLD_LOCAL);
	for (i = 0; !lib && names[i]; i++)
		lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
	return lib;
}

/* Pinned memory as the built-in backend's alloc_pinned makes it. */
static void *cuda_host_alloc(size_t n)
{
	void *lib = cudart(), *p = NULL;
	cu_malloc_fn f = lib ? (cu_malloc_fn)(uintptr_t)dlsym(lib,
		"cudaMallocHost") : NULL;

	return f && f(&p, n) == 0 ? p : NULL;
}

static void cuda_host_free(void *p)
{
	void *lib = cudart();
	cu_free_fn f = lib ? (cu_free_fn)(uintptr_t)dlsym(lib,
		"cudaFreeHost") : NULL;

	if (f)
		f(p);
}

static double cuda_probe(size_t bytes, int runs)
{
	void *lib = cudart();
	cu_malloc_fn cmalloc, cmallochost;
	cu_free_fn cfree, cfreehost;
	cu_memcpy_fn cmemcpy;
	cu_sync_fn csync;
	void *h = NULL, *dv = NULL;
	double best = 0, v[64];
	int i;

	if (!lib)
		return 0;
	cmalloc = (cu_malloc_fn)(uintptr_t)dlsym(lib, "cudaMalloc");
	cmallochost = (cu_malloc_fn)(uintptr_t)dlsym(lib, "cudaMallocHost");
	cfree = (cu_free_fn)(uintptr_t)dlsym(lib, "cudaFree");
	cfreehost = (cu_free_fn)(uintptr_t)dlsym(lib, "cudaFreeHost");
	cmemcpy = (cu_memcpy_fn)(uintptr_t)dlsym(lib, "cudaMemcpy");
	csync = (cu_sync_fn)(uintptr_t)dlsym(lib, "cudaDeviceSynchronize");
	if (!cmalloc || !cmallochost || !cfree || !cfreehost || !cmemcpy ||
		!csync || cmallochost(&h, bytes) != 0 || cmalloc(&dv, bytes) != 0)
		return 0;
	memset(h, 0x5a, bytes);
	if (runs > 64)
		runs = 64;
	cmemcpy(dv, h, bytes, 1);   /* warm */
	for (i = 0; i < runs; i++) {
		double t0 = now();

		cmemcpy(dv, h, bytes, 1);
		csync();
		v[i] = (double)bytes / (now() - t0) / 1e9;
	}
	best = bench_median(v, (size_t)runs);
	cfree(dv);
	cfreehost(h);
	return best;
}

static void usage(void)
{
	fprintf(stderr, "usage: upload_bench [--cuda] [--runs N] "
		"[--staging BYTES] [--buffers N] [--threads N] [--lat-us US] [--mib-us US] "
		"[--probe MiB] [--min-ratio R] ARCHIVE\n");
	exit(2);
}

int main(int argc, char **argv)
{
	tsl_upload_options uo = TSL_UPLOAD_OPTIONS_INIT;
	tsl_upload_stats st;
	const char *path = NULL;
	bool cuda = false;
	int runs = 5, i, bad = 0;
	size_t probe_mib = 256;
	double min_ratio = 0, tp[64], ts[64];
	uint64_t bytes = 0;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--cuda") == 0)
			cuda = true;
		else if (strcmp(a, "--runs") == 0 && v)
			runs = atoi(v), i++;
		else if (strcmp(a, "--staging") == 0 && v)
			uo.staging_bytes = strtoull(v, NULL, 0), i++;
		else if (strcmp(a, "--threads") == 0 && v)
			uo.nthreads = (unsigned)atoi(v), i++;
		else if (strcmp(a, "--buffers") == 0 && v)
			uo.nbuffers = (unsigned)atoi(v), i++;
		else if (strcmp(a, "--lat-us") == 0 && v)
			d.lat_ns = atol(v) * 1000, i++;
		else if (strcmp(a, "--mib-us") == 0 && v)
			d.mib_ns = atol(v) * 1000, i++;
		else if (strcmp(a, "--probe") == 0 && v)
			probe_mib = strtoull(v, NULL, 0), i++;
		else if (strcmp(a, "--min-ratio") == 0 && v)
			min_ratio = atof(v), i++;
		else if (a[0] == '-' || path)
			usage();
		else
			path = a;
	}
	if (!path || runs < 1 || runs > 64)
		usage();

	if (cuda) {
		tsl_error err;
		int count = 0;
		double gbs, ceiling, ratio;

		if (tsl_device_check("cuda:0", &count, &err) != TSL_OK) {
			fprintf(stderr, "upload_bench: %s\n", err.message);
			return 77;
		}
		double gbs_own = 0;
		void *own;

		timed_upload(path, "cuda:0", &uo, &st, false, &bad);  /* warm */
		for (i = 0; i < runs; i++)
			tp[i] = timed_upload(path, "cuda:0", &uo, &st,
				i == runs - 1, &bad);
		bytes = st.bytes;
		gbs = (double)bytes / bench_median(tp, (size_t)runs) / 1e9;
		/* again with staging memory pinned once, outside the timing
		 * (tsl_upload_options.staging), as a loader that uploads
		 * repeatedly would keep it */
		if (!uo.staging_bytes)
			uo.staging_bytes = (size_t)8 << 20;
		own = cuda_host_alloc((uo.nbuffers ? uo.nbuffers : 2) *
			uo.staging_bytes);
		if (own) {
			uo.staging = own;
			for (i = 0; i < runs; i++)
				ts[i] = timed_upload(path, "cuda:0", &uo, &st,
					i == runs - 1, &bad);
			gbs_own = (double)st.bytes / bench_median(ts, (size_t)runs) / 1e9;
			cuda_host_free(own);
			uo.staging = NULL;
		}
		ceiling = cuda_probe(probe_mib << 20, runs);
		ratio = ceiling > 0 ? (gbs_own > gbs ? gbs_own : gbs) /
			ceiling : 0;
		printf("tsl_model_upload, staging pinned once by the caller: "
			"median %.1f ms = %.2f GB/s\n", own ?
			bench_median(ts, (size_t)runs) * 1e3 : 0.0, gbs_own);
		printf("cuda: %d device(s); %llu bytes in %llu storages, %llu "
			"copies, staging %llu bytes, async %d\n", count,
			(unsigned long long)bytes,
			(unsigned long long)st.storages,
			(unsigned long long)st.copies,
			(unsigned long long)st.staging_bytes, st.async);
		printf("tsl_model_upload, staging pinned by the call: median "
			"%.1f ms = %.2f GB/s\ncudaMemcpy from pinned (%zu MiB): "
			"%.2f GB/s; ratio (the better upload / cudaMemcpy) "
			"%.3f\n", bench_median(tp, (size_t)runs) * 1e3, gbs, probe_mib,
			ceiling, ratio);
		if (bad)
			printf("FAIL: device bytes differ\n");
		if (min_ratio > 0 && ratio < min_ratio) {
			printf("FAIL: ratio %.3f < %.3f\n", ratio, min_ratio);
			bad = 1;
		}
		return bad;
	}

	/* the CPU model */
	{
		pthread_t th;
		tsl_backend b;
		tsl_error err;
		size_t peak_pipe, peak_serial;
		double mp, ms;

		FILE *f = fopen(path, "rb");

		if (!f || fseek(f, 0, SEEK_END) != 0 || ftell(f) <= 0) {
			fprintf(stderr, "upload_bench: cannot size %s\n", path);
			return 2;
		}
		pool_cap = (size_t)ftell(f) + ((size_t)1 << 20);
		fclose(f);
		pool = malloc(pool_cap);
		if (!pool) {
			fprintf(stderr, "upload_bench: no memory for the device\n");
			return 2;
		}
		memset(pool, 0, pool_cap);
		pthread_create(&th, NULL, worker, NULL);
		b = model_backend(true);
		if (tsl_backend_register(&b, &err) != TSL_OK) {
			fprintf(stderr, "upload_bench: %s\n", err.message);
			return 2;
		}
		/* the first run warms the page cache and checks the bytes
		 * (the model device copies them only then) */
		d.copy_data = true;
		timed_upload(path, "latdev", &uo, &st, true, &bad);
		d.copy_data = false;
		d.pinned_peak = 0;
		for (i = 0; i < runs; i++)
			tp[i] = timed_upload(path, "latdev", &uo, &st, false,
				&bad);
		peak_pipe = d.pinned_peak;
		bytes = st.bytes;
		printf("pipelined: %llu bytes, %llu storages, %llu copies, "
			"%llu waits, staging %llu bytes (peak pinned %zu)\n",
			(unsigned long long)st.bytes,
			(unsigned long long)st.storages,
			(unsigned long long)st.copies,
			(unsigned long long)st.waits,
			(unsigned long long)st.staging_bytes, peak_pipe);
		tsl_backend_unregister("latdev");
		b = model_backend(false);
		tsl_backend_register(&b, &err);
		d.pinned_peak = 0;
		for (i = 0; i < runs; i++)
			ts[i] = timed_upload(path, "latdev", &uo, &st, false,
				&bad);
		peak_serial = d.pinned_peak;
		printf("serial:    %llu bytes, %llu copies, staging %llu bytes "
			"(peak pinned %zu)\n", (unsigned long long)st.bytes,
			(unsigned long long)st.copies,
			(unsigned long long)st.staging_bytes, peak_serial);
		tsl_backend_unregister("latdev");
		mp = bench_median(tp, (size_t)runs);
		ms = bench_median(ts, (size_t)runs);
		printf("model link: %ld us per copy + %ld us per MiB (%.1f "
			"GB/s)\n", d.lat_ns / 1000, d.mib_ns / 1000,
			1048576.0 / (double)d.mib_ns);
		printf("median of %d: pipelined %.1f ms (%.2f GB/s), serial "
			"%.1f ms (%.2f GB/s); overlap ratio (pipelined / serial) "
			"%.3f\n", runs, mp * 1e3, (double)bytes / mp / 1e9,
			ms * 1e3, (double)bytes / ms / 1e9, mp / ms);
		pthread_mutex_lock(&d.mu);
		d.stop = true;
		pthread_cond_broadcast(&d.cv);
		pthread_mutex_unlock(&d.mu);
		pthread_join(th, NULL);
		free(pool);
		for (i = 0; i < PIN_CACHE; i++)
			free(pin_cache[i].p);
	}
	return bad;
}
