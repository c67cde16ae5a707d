/* backend.c - the backend registry and device checks. */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

#define MAX_BACKENDS 16

/* A version-1 tsl_backend: the members up to free_pinned. */
#define TSL__BACKEND_V1_SIZE (offsetof(tsl_backend, free_pinned) + \
	sizeof(((tsl_backend *)0)->free_pinned))

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static tsl_backend reg[MAX_BACKENDS];
static char reg_names[MAX_BACKENDS][32];
static size_t reg_n;

int tsl__device_parse(const char *s, tsl_device *out, tsl_error *err)
{
	size_t n = 0;
	const char *p;

	if (!s || !*s)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"empty device string");
	for (p = s; *p && *p != ':'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
			*p == '_') || n + 1 >= sizeof out->type)
			return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
				"Invalid device string: '%s'", s);
		out->type[n++] = *p;
	}
	out->type[n] = '\0';
	out->index = -1;
	if (n == 0)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"Invalid device string: '%s'", s);
	if (*p == ':') {
		long v = 0;

		p++;
		if (!*p)
			return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
				"Invalid device string: '%s'", s);
		for (; *p; p++) {
			if (*p < '0' || *p > '9' || v > 100000)
				return tsl__error(err, TSL_EINVAL, NULL,
					TSL_NO_OFFSET, "Invalid device string: '%s'",
					s);
			v = v * 10 + (*p - '0');
		}
		out->index = (int)v;
	}
	return TSL_OK;
}

int tsl__backend_get(const char *type, tsl_backend *out, tsl_error *err)
{
	size_t i;

	pthread_mutex_lock(&reg_mu);
	for (i = 0; i < reg_n; i++) {
		if (strcmp(reg_names[i], type) == 0) {
			*out = reg[i];
			pthread_mutex_unlock(&reg_mu);
			return TSL_OK;
		}
	}
	pthread_mutex_unlock(&reg_mu);
	if (strcmp(type, "cuda") == 0) {
		*out = *tsl__backend_cuda();
		return TSL_OK;
	}
	return tsl__error(err, TSL_EDEVICE, NULL, TSL_NO_OFFSET,
		"supported devices include CPU and CUDA (and registered "
		"backends), however got %s", type);
}

/* norm[0..cap): as snprintf would write it (backend.h), without it: every
 * load checks its storages' devices, and a process's first snprintf faults
 * in two pages of libc's printf code (10-15 us each on the fresh VMs of
 * doc/PERFORMANCE.md). */
void tsl__device_name(char *norm, size_t cap, const char *type, int index)
{
	char buf[sizeof ((tsl_device *)0)->type + 1 + 20];
	size_t n = strnlen(type, sizeof ((tsl_device *)0)->type - 1);

	memcpy(buf, type, n);
	if (index != TSL__DEVICE_TYPE_ONLY) {
		buf[n++] = ':';
		n += tsl__put_dec(buf + n, index < 0 ? 0u : (uint64_t)index);
	}
	if (!cap)
		return;
	if (n > cap - 1)
		n = cap - 1;
	memcpy(norm, buf, n);
	norm[n] = '\0';
}

int tsl__device_check(const char *s, char *norm, size_t cap, tsl_error *err)
{
	tsl_device d;
	tsl_backend b;
	int rc, count;

	rc = tsl__device_parse(s, &d, err);
	if (rc)
		return rc;
	if (strcmp(d.type, "cpu") == 0) {
		if (norm)
			tsl__device_name(norm, cap, "cpu", TSL__DEVICE_TYPE_ONLY);
		return TSL_OK;
	}
	rc = tsl__backend_get(d.type, &b, err);
	if (rc)
		return rc;
	count = b.device_count ? b.device_count(b.payload) : 0;
	if (count <= 0) {
		if (strcmp(d.type, "cuda") == 0)
			return tsl__error(err, TSL_EDEVICE, NULL, TSL_NO_OFFSET,
				"Attempting to deserialize object on a CUDA device "
				"but torch.cuda.is_available() is False. If you are "
				"running on a CPU-only machine, please use "
				"map_location=\"cpu\" to map your storages to the CPU");
		return tsl__error(err, TSL_EDEVICE, NULL, TSL_NO_OFFSET,
			"Attempting to deserialize object on a %s device but no "
			"%s device is available; use map_location=\"cpu\"",
			d.type, d.type);
	}
	if (d.index >= count)
		return tsl__error(err, TSL_EDEVICE, NULL, TSL_NO_OFFSET,
			"Attempting to deserialize object on %s device %d but "
			"device_count() is %d. Please use map_location to map your "
			"storages to an existing device", d.type, d.index, count);
	if (norm)
		tsl__device_name(norm, cap, d.type, d.index);
	return TSL_OK;
}

TSL_API int tsl_device_check(const char *device, int *count, tsl_error *err)
{
	tsl_device d;
	tsl_backend b;
	int rc = tsl__device_check(device, NULL, 0, err);

	if (rc)
		return rc;
	if (count) {
		tsl__device_parse(device, &d, NULL);
		if (strcmp(d.type, "cpu") == 0)
			*count = 1;
		else if (tsl__backend_get(d.type, &b, NULL) == TSL_OK)
			*count = b.device_count(b.payload);
	}
	return TSL_OK;
}

TSL_API int tsl_backend_register(const tsl_backend *b, tsl_error *err)
{
	tsl_backend in;
	size_t i, n;

	/* a version-1 struct ends at free_pinned: read no further */
	if (b && b->version == 1) {
		memset(&in, 0, sizeof in);
		memcpy(&in, b, TSL__BACKEND_V1_SIZE);
		in.version = TSL_BACKEND_VERSION;
		b = &in;
	}
	if (!b || b->version != TSL_BACKEND_VERSION || !b->name ||
		!b->device_count || !b->alloc || !b->copy_h2d || !b->free)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"backend needs version 1 or %d, a name, device_count, "
			"alloc, copy_h2d and free", TSL_BACKEND_VERSION);
	n = strlen(b->name);
	if (n == 0 || n >= sizeof reg_names[0] || strcmp(b->name, "cpu") == 0)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"bad backend name '%s'", b->name);
	pthread_mutex_lock(&reg_mu);
	for (i = 0; i < reg_n; i++)
		if (strcmp(reg_names[i], b->name) == 0)
			break;
	if (i < reg_n && strcmp(b->name, "cuda") != 0) {
		pthread_mutex_unlock(&reg_mu);
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"a backend named '%s' is already registered", b->name);
	}
	if (i == reg_n && reg_n == MAX_BACKENDS) {
		pthread_mutex_unlock(&reg_mu);
		return tsl__error(err, TSL_ELIMIT, NULL, TSL_NO_OFFSET,
			"at most %d backends", MAX_BACKENDS);
	}
	reg[i] = *b;
	memcpy(reg_names[i], b->name, n + 1);
	reg[i].name = reg_names[i];
	if (i == reg_n)
		reg_n++;
	pthread_mutex_unlock(&reg_mu);
	return TSL_OK;
}

TSL_API int tsl_backend_unregister(const char *name)
{
	size_t i;

	if (!name)
		return TSL_EINVAL;
	pthread_mutex_lock(&reg_mu);
	for (i = 0; i < reg_n; i++) {
		if (strcmp(reg_names[i], name) == 0) {
			reg_n--;
			if (i != reg_n) {
				reg[i] = reg[reg_n];
				memcpy(reg_names[i], reg_names[reg_n],
					sizeof reg_names[i]);
				reg[i].name = reg_names[i];
			}
			pthread_mutex_unlock(&reg_mu);
			return TSL_OK;
		}
	}
	pthread_mutex_unlock(&reg_mu);
	return TSL_ENOTFOUND;
}
