/* limits.c - options and their defaults. */
#include "config.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

TSL_API int tsl_options_init(tsl_options *opts, unsigned int version)
{
	if (!opts || version == 0 || version > TSL_OPTIONS_VERSION)
		return TSL_EINVAL;
	memset(opts, 0, sizeof *opts);
	opts->version = version;
	return TSL_OK;
}

int tsl__limits_from_options(tsl_limits *lim, const tsl_options *opts,
	tsl_error *err)
{
	lim->max_records = 1000000;
	lim->max_record_bytes = (uint64_t)1 << 30;
	lim->max_total_bytes = (uint64_t)4 << 30;
	lim->max_depth = 1000;
	lim->max_memo = 10000000;
	lim->max_container = 100000000;
	lim->max_meta_bytes = (uint64_t)2 << 30;
	lim->huge_pages = TSL_PAGES_AUTO;
	lim->max_rank = 64;
	lim->no_prefault = false;
	if (!opts)
		return TSL_OK;
	/* version 0: zero-initialised options ({0}, a binding's calloc),
	 * read as version 1, the defaults */
	if (opts->version > TSL_OPTIONS_VERSION)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"options version %u is not known (this library has %u)",
			opts->version, TSL_OPTIONS_VERSION);
#define TAKE(f) if (opts->f) lim->f = opts->f
	TAKE(max_records);
	TAKE(max_record_bytes);
	TAKE(max_total_bytes);
	TAKE(max_depth);
	TAKE(max_memo);
	TAKE(max_container);
	TAKE(max_meta_bytes);
	TAKE(max_rank);
	if (opts->flags & TSL_OPEN_SMALL_PAGES)
		lim->huge_pages = TSL_PAGES_SMALL;
	else if (opts->flags & TSL_OPEN_HUGE_PAGES)
		lim->huge_pages = TSL_PAGES_HUGE;
	/* a value's nesting height is kept in 16 bits (lib/pickle/value.h) */
	if (lim->max_depth > TSL_MAX_DEPTH_CAP)
		lim->max_depth = TSL_MAX_DEPTH_CAP;
	/* a tensor's rank is kept in 16 bits (lib/pickle/value.h) */
	if (lim->max_rank > TSL_MAX_RANK_CAP)
		lim->max_rank = TSL_MAX_RANK_CAP;
	lim->no_prefault = (opts->flags & TSL_OPEN_NO_PREFAULT) != 0;
#undef TAKE
	return TSL_OK;
}

/* ---- huge pages: the automatic rule ------------------------------------ */

int tsl__huge_pages_rule(const char *thp_enabled, bool reporting,
	const char *env)
{
	if (env && (strcmp(env, "0") == 0 || strcmp(env, "1") == 0))
		return env[0] == '1';
	if (!thp_enabled || reporting)
		return 0;
	return strstr(thp_enabled, "[always]") != NULL ||
		strstr(thp_enabled, "[madvise]") != NULL;
}

/* Read at most cap - 1 bytes of a small file; false if it cannot. */
static bool read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return false;
	buf[n] = '\0';
	return true;
}

/* Does a virtio balloon (device id 5) offer free page reporting (feature
 * bit 5, VIRTIO_BALLOON_F_REPORTING)?  sysfs lists a device's features as
 * a string of '0'/'1', bit 0 first. */
static bool free_page_reporting(void)
{
	static const char dir[] = "/sys/bus/virtio/devices/virtio";
	char path[sizeof dir + 16], buf[160];
	size_t n;

	/* the paths are made by hand: a process's first snprintf faults in
	 * two pages of libc's printf code, 10-15 us each on such VMs */
	memcpy(path, dir, sizeof dir - 1);
	for (int i = 0; i < 64; i++) {
		n = sizeof dir - 1 + tsl__put_dec(path + sizeof dir - 1,
			(uint64_t)i);
		memcpy(path + n, "/device", 8);
		if (!read_small(path, buf, sizeof buf)) {
			if (i >= 16)
				break;
			continue;
		}
		if (strtol(buf, NULL, 16) != 5)   /* "0x0005" */
			continue;
		memcpy(path + n, "/features", 10);
		if (read_small(path, buf, sizeof buf) && strlen(buf) > 5 &&
			buf[5] == '1')
			return true;
	}
	return false;
}

static pthread_once_t huge_once = PTHREAD_ONCE_INIT;
static int huge_auto;

static void huge_decide(void)
{
	char thp[128];
	bool have = read_small("/sys/kernel/mm/transparent_hugepage/enabled",
		thp, sizeof thp);

	huge_auto = tsl__huge_pages_rule(have ? thp : NULL,
		have && free_page_reporting(), getenv("TSL_HUGE_PAGES"));
}

TSL_API int tsl_huge_pages_auto(void)
{
	pthread_once(&huge_once, huge_decide);
	return huge_auto;
}
