/*
 * backend_cuda.c - the CUDA backend, through the CUDA runtime loaded with
 * dlopen() at first use: no build-time dependency.  Without the library, a
 * driver or a GPU, device_count is 0 (unavailable).  TSL_CUDART names the
 * library to load when it is not on the default search path.
 */
#include "config.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>

#include "backend.h"

typedef int (*count_fn)(int *);
typedef int (*set_fn)(int);
typedef int (*malloc_fn)(void **, size_t);
typedef int (*memcpy_fn)(void *, const void *, size_t, int);
typedef int (*free_fn)(void *);
typedef int (*stream_create_fn)(void **);
typedef int (*handle_fn)(void *);          /* destroy, synchronize */
typedef int (*memcpy_async_fn)(void *, const void *, size_t, int, void *);
typedef int (*event_create_fn)(void **, unsigned int);
typedef int (*event_record_fn)(void *, void *);

static struct {
	pthread_once_t once;
	void *lib;
	count_fn get_count;
	set_fn set_device;
	malloc_fn malloc_;
	memcpy_fn memcpy_;
	free_fn free_;
	malloc_fn malloc_host;
	free_fn free_host;
	/* the asynchronous path (NULL when the runtime lacks one: then the
	 * backend offers synchronous copies only) */
	stream_create_fn stream_create;
	handle_fn stream_destroy, stream_sync;
	memcpy_async_fn memcpy_async;
	event_create_fn event_create;
	handle_fn event_destroy, event_sync;
	event_record_fn event_record;
	int count;
} cu = { .once = PTHREAD_ONCE_INIT };

static void cuda_init(void)
{
	static const char *const names[] = { "libcudart.so",
		"libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0",
		"/usr/local/cuda/lib64/libcudart.so", NULL };
	const char *env = getenv("TSL_CUDART");
	int n = 0;

	if (env && *env)
		cu.lib = dlopen(env, RTLD_NOW | RTLD_LOCAL);
	for (int i = 0; !cu.lib && names[i]; i++)
		cu.lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
	if (!cu.lib)
		return;
	cu.get_count = (count_fn)(uintptr_t)dlsym(cu.lib, "cudaGetDeviceCount");
	cu.set_device = (set_fn)(uintptr_t)dlsym(cu.lib, "cudaSetDevice");
	cu.malloc_ = (malloc_fn)(uintptr_t)dlsym(cu.lib, "cudaMalloc");
	cu.memcpy_ = (memcpy_fn)(uintptr_t)dlsym(cu.lib, "cudaMemcpy");
	cu.free_ = (free_fn)(uintptr_t)dlsym(cu.lib, "cudaFree");
	cu.malloc_host = (malloc_fn)(uintptr_t)dlsym(cu.lib, "cudaMallocHost");
	cu.free_host = (free_fn)(uintptr_t)dlsym(cu.lib, "cudaFreeHost");
	cu.stream_create = (stream_create_fn)(uintptr_t)dlsym(cu.lib,
		"cudaStreamCreate");
	cu.stream_destroy = (handle_fn)(uintptr_t)dlsym(cu.lib,
		"cudaStreamDestroy");
	cu.stream_sync = (handle_fn)(uintptr_t)dlsym(cu.lib,
		"cudaStreamSynchronize");
	cu.memcpy_async = (memcpy_async_fn)(uintptr_t)dlsym(cu.lib,
		"cudaMemcpyAsync");
	cu.event_create = (event_create_fn)(uintptr_t)dlsym(cu.lib,
		"cudaEventCreateWithFlags");
	cu.event_destroy = (handle_fn)(uintptr_t)dlsym(cu.lib,
		"cudaEventDestroy");
	cu.event_sync = (handle_fn)(uintptr_t)dlsym(cu.lib,
		"cudaEventSynchronize");
	cu.event_record = (event_record_fn)(uintptr_t)dlsym(cu.lib,
		"cudaEventRecord");
	if (!cu.get_count || !cu.set_device || !cu.malloc_ || !cu.memcpy_ ||
		!cu.free_)
		return;
	/* no driver or no GPU: an error code, and count stays 0 */
	if (cu.get_count(&n) == 0 && n > 0)
		cu.count = n;
}

static int cuda_count(void *payload)
{
	(void)payload;
	pthread_once(&cu.once, cuda_init);
	return cu.count;
}

static int cuda_alloc(void *payload, int device, size_t size, void **out)
{
	(void)payload;
	if (cuda_count(NULL) <= device || cu.set_device(device) != 0)
		return TSL_EDEVICE;
	return cu.malloc_(out, size ? size : 1) == 0 ? TSL_OK : TSL_EDEVICE;
}

static int cuda_copy(void *payload, int device, void *dst, const void *src,
	size_t size)
{
	(void)payload;
	if (cu.set_device(device) != 0)
		return TSL_EDEVICE;
	return cu.memcpy_(dst, src, size, 1 /* cudaMemcpyHostToDevice */) == 0 ?
		TSL_OK : TSL_EDEVICE;
}

static void cuda_free(void *payload, int device, void *ptr)
{
	(void)payload;
	if (cu.set_device(device) == 0)
		cu.free_(ptr);
}

static int cuda_alloc_pinned(void *payload, size_t size, void **out)
{
	(void)payload;
	if (!cu.malloc_host)
		return TSL_EUNSUPPORTED;
	return cu.malloc_host(out, size ? size : 1) == 0 ? TSL_OK : TSL_ENOMEM;
}

static void cuda_free_pinned(void *payload, void *ptr)
{
	(void)payload;
	if (cu.free_host)
		cu.free_host(ptr);
}

/* The asynchronous members: each sets the calling thread's device first
 * (the CUDA runtime's current device is per thread). */
static int cuda_stream_create(void *payload, int device, void **stream)
{
	(void)payload;
	if (!cu.stream_create || cu.set_device(device) != 0)
		return TSL_EDEVICE;
	return cu.stream_create(stream) == 0 ? TSL_OK : TSL_EDEVICE;
}

static void cuda_stream_destroy(void *payload, int device, void *stream)
{
	(void)payload;
	if (stream && cu.stream_destroy && cu.set_device(device) == 0)
		cu.stream_destroy(stream);
}

static int cuda_copy_async(void *payload, int device, void *dst,
	const void *src, size_t size, void *stream)
{
	(void)payload;
	if (!cu.memcpy_async || cu.set_device(device) != 0)
		return TSL_EDEVICE;
	return cu.memcpy_async(dst, src, size, 1 /* HostToDevice */,
		stream) == 0 ? TSL_OK : TSL_EDEVICE;
}

static int cuda_sync(void *payload, int device, void *stream)
{
	(void)payload;
	if (!cu.stream_sync || cu.set_device(device) != 0)
		return TSL_EDEVICE;
	return cu.stream_sync(stream) == 0 ? TSL_OK : TSL_EDEVICE;
}

static int cuda_event_create(void *payload, int device, void **event)
{
	(void)payload;
	if (!cu.event_create || cu.set_device(device) != 0)
		return TSL_EDEVICE;
	return cu.event_create(event, 2 /* cudaEventDisableTiming */) == 0 ?
		TSL_OK : TSL_EDEVICE;
}

static void cuda_event_destroy(void *payload, int device, void *event)
{
	(void)payload;
	if (event && cu.event_destroy && cu.set_device(device) == 0)
		cu.event_destroy(event);
}

static int cuda_event_record(void *payload, int device, void *event,
	void *stream)
{
	(void)payload;
	if (!cu.event_record || cu.set_device(device) != 0)
		return TSL_EDEVICE;
	return cu.event_record(event, stream) == 0 ? TSL_OK : TSL_EDEVICE;
}

static int cuda_event_wait(void *payload, int device, void *event)
{
	(void)payload;
	if (!cu.event_sync || cu.set_device(device) != 0)
		return TSL_EDEVICE;
	return cu.event_sync(event) == 0 ? TSL_OK : TSL_EDEVICE;
}

static int cuda_copy_d2h(void *payload, int device, void *dst,
	const void *src, size_t size)
{
	(void)payload;
	if (cu.set_device(device) != 0)
		return TSL_EDEVICE;
	return cu.memcpy_(dst, src, size, 2 /* cudaMemcpyDeviceToHost */) ==
		0 ? TSL_OK : TSL_EDEVICE;
}

/* The backend as the runtime allows: the asynchronous members only when
 * every function they need was found (else NULL: synchronous copies). */
static tsl_backend cuda_b;
static pthread_once_t cuda_b_once = PTHREAD_ONCE_INIT;

static void cuda_b_init(void)
{
	pthread_once(&cu.once, cuda_init);
	cuda_b = (tsl_backend){
		.version = TSL_BACKEND_VERSION,
		.name = "cuda",
		.device_count = cuda_count,
		.alloc = cuda_alloc,
		.copy_h2d = cuda_copy,
		.free = cuda_free,
		.alloc_pinned = cuda_alloc_pinned,
		.free_pinned = cuda_free_pinned,
		.copy_d2h = cuda_copy_d2h,
	};
	if (cu.malloc_host && cu.free_host && cu.stream_create &&
		cu.stream_destroy && cu.stream_sync && cu.memcpy_async) {
		cuda_b.stream_create = cuda_stream_create;
		cuda_b.stream_destroy = cuda_stream_destroy;
		cuda_b.copy_h2d_async = cuda_copy_async;
		cuda_b.sync = cuda_sync;
		if (cu.event_create && cu.event_destroy && cu.event_sync &&
			cu.event_record) {
			cuda_b.event_create = cuda_event_create;
			cuda_b.event_destroy = cuda_event_destroy;
			cuda_b.event_record = cuda_event_record;
			cuda_b.event_wait = cuda_event_wait;
		}
	}
}

const tsl_backend *tsl__backend_cuda(void)
{
	pthread_once(&cuda_b_once, cuda_b_init);
	return &cuda_b;
}
