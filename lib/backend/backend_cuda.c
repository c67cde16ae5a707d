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

const tsl_backend *tsl__backend_cuda(void)
{
	static const tsl_backend b = {
		.version = TSL_BACKEND_VERSION,
		.name = "cuda",
		.device_count = cuda_count,
		.alloc = cuda_alloc,
		.copy_h2d = cuda_copy,
		.free = cuda_free,
		.alloc_pinned = cuda_alloc_pinned,
		.free_pinned = cuda_free_pinned,
	};
	return &b;
}
