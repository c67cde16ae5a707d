/*
 * load_to_device - load a model straight to a device.
 *
 *   load_to_device MODEL.pt [DEVICE]
 *
 * DEVICE is a map_location: "cpu", "cuda:0" (the built-in CUDA backend,
 * needs a GPU), or "demo:N" (default "demo:1"): a tiny backend registered
 * below whose "device memory" is malloc'd host memory, so the device path
 * can be followed (and checked) on any machine.  The program registers the
 * backend, loads the model with every storage mapped to DEVICE, copies one
 * storage there, checks the copy against the CPU bytes, and frees it all.
 * Without MODEL.pt, $TSL_TEST_DATA/good-scripted-mlp.pt is used.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tsload.h>

/* ---- the "demo" backend: two devices, memory from malloc --------------- */

struct demo_stats {
	unsigned allocs, frees, copies;
	size_t bytes;
};

static int demo_count(void *payload)
{
	(void)payload;
	return 2;                       /* demo:0 and demo:1 */
}

static int demo_alloc(void *payload, int device, size_t size, void **out)
{
	struct demo_stats *st = payload;

	(void)device;
	*out = malloc(size ? size : 1);
	if (!*out)
		return TSL_ENOMEM;      /* callbacks return a tsl_status */
	st->allocs++;
	return TSL_OK;
}

static int demo_copy_h2d(void *payload, int device, void *dst,
	const void *src, size_t size)
{
	struct demo_stats *st = payload;

	(void)device;
	memcpy(dst, src, size);
	st->copies++;
	st->bytes += size;
	return TSL_OK;
}

static void demo_free(void *payload, int device, void *ptr)
{
	struct demo_stats *st = payload;

	(void)device;
	free(ptr);
	st->frees++;
}

static void report(const char *what, int rc, const tsl_error *err)
{
	fprintf(stderr, "load_to_device: %s: %s (%s)", what, err->message,
		tsl_status_name(rc));
	if (err->record[0])
		fprintf(stderr, " [record %s]", err->record);
	fputc('\n', stderr);
}

int main(int argc, char **argv)
{
	static struct demo_stats stats;   /* must outlive the registration */
	tsl_backend demo = {
		.version = TSL_BACKEND_VERSION,
		.name = "demo",
		.payload = &stats,
		.device_count = demo_count,
		.alloc = demo_alloc,
		.copy_h2d = demo_copy_h2d,
		.free = demo_free,
		/* alloc_pinned / free_pinned: optional, left NULL */
	};
	tsl_options opts = TSL_OPTIONS_INIT;
	char fixture[4096];
	const char *path = argc > 1 ? argv[1] : NULL;
	const char *device = argc > 2 ? argv[2] : "demo:1";
	const void *host;
	void *dptr;
	size_t hsize, dsize;
	tsl_storage *s;
	tsl_model *m;
	tsl_error err;
	int rc, count, ok;

	if (!path && getenv("TSL_TEST_DATA")) {
		snprintf(fixture, sizeof fixture, "%s/good-scripted-mlp.pt",
			getenv("TSL_TEST_DATA"));
		path = fixture;
	}
	if (!path || argc > 3) {
		fprintf(stderr, "usage: load_to_device MODEL.pt [DEVICE]\n");
		return 2;
	}

	/* 1. register the backend (process-wide; the struct is copied) */
	rc = tsl_backend_register(&demo, &err);
	if (rc != TSL_OK) {
		report("tsl_backend_register", rc, &err);
		return 1;
	}
	/* 2. is the device there?  (tsl_model_load checks it again) */
	rc = tsl_device_check(device, &count, &err);
	if (rc != TSL_OK) {
		report(device, rc, &err);
		tsl_backend_unregister("demo");
		return 1;
	}
	printf("device %s: available (%d of its type)\n", device, count);

	/* 3. load: every storage's target device becomes `device`; nothing
	 *    is copied yet */
	opts.map_location = device;
	rc = tsl_load_path(&m, path, &opts, &err);
	if (rc != TSL_OK) {
		report(path, rc, &err);
		tsl_backend_unregister("demo");
		return 1;
	}
	printf("%s: %zu storages\n", path, tsl_model_storage_count(m));
	if (tsl_model_storage_count(m) == 0) {
		tsl_model_free(m);
		tsl_backend_unregister("demo");
		return 0;
	}

	/* 4. materialize one storage on the device: the first call copies
	 *    the bytes through the backend (alloc, copy_h2d), once */
	s = tsl_model_storage(m, 0);
	rc = tsl_storage_device_data(s, &dptr, &dsize, &err);
	if (rc != TSL_OK) {
		report(tsl_storage_record(s), rc, &err);
		tsl_model_free(m);
		tsl_backend_unregister("demo");
		return 1;
	}
	printf("storage %s (%s, saved on %s) -> %s: %zu bytes\n",
		tsl_storage_record(s), tsl_dtype_name(tsl_storage_dtype(s)),
		tsl_storage_location(s), tsl_storage_device(s), dsize);

	/* 5. the CPU bytes, to compare (the demo device is host memory; a
	 *    real device pointer must not be dereferenced on the host) */
	rc = tsl_storage_data(s, &host, &hsize, &err);
	if (rc != TSL_OK) {
		report(tsl_storage_record(s), rc, &err);
		tsl_model_free(m);
		tsl_backend_unregister("demo");
		return 1;
	}
	if (strncmp(device, "demo", 4) == 0 || strcmp(device, "cpu") == 0) {
		ok = hsize == dsize && (dsize == 0 ||
			memcmp(host, dptr, dsize) == 0);
		printf("device copy %s the CPU bytes\n",
			ok ? "matches" : "DIFFERS FROM");
	} else {
		ok = hsize == dsize;
	}

	/* 6. freeing the model frees its device copies through the backend;
	 *    only then may the backend go */
	tsl_model_free(m);
	printf("demo backend: %u allocs, %u copies (%zu bytes), %u frees\n",
		stats.allocs, stats.copies, stats.bytes, stats.frees);
	if (stats.allocs != stats.frees)
		ok = 0;
	rc = tsl_backend_unregister("demo");
	if (rc != TSL_OK) {
		fprintf(stderr, "load_to_device: unregister: %s\n",
			tsl_status_name(rc));
		return 1;
	}
	return ok ? 0 : 1;
}
