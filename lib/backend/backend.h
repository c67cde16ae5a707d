/*
 * backend.h - device backends: a registry of tsl_backend vtables ("cpu" is
 * implicit, "cuda" is built in through dlopen), device-string parsing and
 * availability checks with torch's error wording.  Depends on common only;
 * only the storage layer calls it.
 */
#ifndef TSL_BACKEND_H
#define TSL_BACKEND_H

#include "../common/common.h"

/* A parsed device string: type and index (-1 when none was given). */
typedef struct tsl_device {
	char type[32];
	int index;
} tsl_device;

/* The device's normalized name into norm[0..cap), as
 * snprintf(norm, cap, "%s:%d", type, index < 0 ? 0 : index) writes it, or
 * as "%s", the type alone, when index is TSL__DEVICE_TYPE_ONLY ("cpu");
 * without snprintf (see backend.c).  type: at most 31 bytes are used. */
#define TSL__DEVICE_TYPE_ONLY (-2)
TSL_INTERNAL void tsl__device_name(char *norm, size_t cap, const char *type,
	int index);

/* Parse "cpu", "cuda", "cuda:1", "mydev:0".  TSL_EINVAL when malformed. */
TSL_INTERNAL int tsl__device_parse(const char *s, tsl_device *out,
	tsl_error *err);

/* Check that a device exists; fills the normalised string ("cuda" ->
 * "cuda:0") into norm (cap bytes).  TSL_EDEVICE with torch's wording. */
TSL_INTERNAL int tsl__device_check(const char *s, char *norm, size_t cap,
	tsl_error *err);

/* A snapshot of the backend for a device type (copied out of the registry
 * under its lock).  TSL_EDEVICE when none. */
TSL_INTERNAL int tsl__backend_get(const char *type, tsl_backend *out,
	tsl_error *err);

/* The backend's asynchronous path: pinned memory, copy_h2d_async and sync
 * (events optional, see tsl_backend). */
static inline bool tsl__backend_async(const tsl_backend *b)
{
	return b->alloc_pinned && b->free_pinned && b->copy_h2d_async &&
		b->sync;
}

/* Events usable: all four members. */
static inline bool tsl__backend_events(const tsl_backend *b)
{
	return b->event_create && b->event_destroy && b->event_record &&
		b->event_wait;
}

/* The built-in CUDA backend (backend_cuda.c). */
TSL_INTERNAL const tsl_backend *tsl__backend_cuda(void);

#endif
