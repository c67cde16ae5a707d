/*
 * test_soak.c - thousands of load/free cycles across the fixtures in one
 * process: nothing may accumulate (issue 14, item 12).
 *
 * Every good-*, ckpt-* and rezip-* fixture of tests/data is loaded in turn
 * (TSL_OPEN_CHECKPOINTS, map_location "cpu"; a fixture refused at the
 * first try must be refused the same way every time), by path, by descriptor, from a
 * buffer, through a stream reader and with TSL_OPEN_COPY in rotation; every
 * third cycle materializes all storages and releases half of them; then the
 * model is freed.  After two warm-up passes (caches filled, the heap at its
 * working size) the test records
 *   - the open file descriptors (/proc/self/fd),
 *   - the bytes malloc has handed out and not got back (mallinfo2, with
 *     glibc's tcache off: exact; under ASan, which replaces malloc, 0
 *     throughout and LeakSanitizer checks leaks instead),
 *   - the resident set size (/proc/self/statm),
 * and asserts that after the remaining passes (at least SOAK_CYCLES cycles
 * in all) the descriptors and the bytes in use are the same, and the RSS
 * has grown by less than SOAK_RSS_SLACK.  Nothing here measures time.
 */
#include "config.h"

#include <dirent.h>
#include <malloc.h>

#include "testutil.h"

#define SOAK_CYCLES 4000
#define SOAK_RSS_SLACK ((long)8 << 20)

static char **names;
static int *expect;         /* the load's status, from the first try */
static size_t nnames;

static int fixture_name(const char *n)
{
	size_t l = strlen(n);

	if (strncmp(n, "good-", 5) != 0 && strncmp(n, "ckpt-", 5) != 0 &&
		strncmp(n, "rezip-", 6) != 0)
		return 0;
	return (l > 3 && strcmp(n + l - 3, ".pt") == 0) ||
		(l > 4 && strcmp(n + l - 4, ".ptl") == 0);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_fixtures(void)
{
	const char *dir = getenv("TSL_TEST_DATA");
	DIR *d;
	struct dirent *e;

	assert_non_null(dir);
	d = opendir(dir);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		tsl_file_kind kind = TSL_KIND_UNKNOWN;
		char *path;

		if (!fixture_name(e->d_name))
			continue;
		/* the kinds tsl_model_load reads (not ckpt-legacy.pt, a
		 * pickle stream) */
		path = data_path(e->d_name);
		assert_int_equal(tsl_detect_path(path, &kind, NULL), TSL_OK);
		free(path);
		if (kind != TSL_KIND_TORCHSCRIPT &&
			kind != TSL_KIND_TORCHSCRIPT_LEGACY &&
			kind != TSL_KIND_TORCH_SAVE)
			continue;
		names = realloc(names, (nnames + 1) * sizeof *names);
		assert_non_null(names);
		names[nnames] = strdup(e->d_name);
		assert_non_null(names[nnames]);
		nnames++;
	}
	closedir(d);
	qsort(names, nnames, sizeof *names, by_name);
	/* a fixture the loader refuses (a GLOBAL outside the allow-list)
	 * soaks the error path: every cycle must fail the same way */
	expect = calloc(nnames, sizeof *expect);
	assert_non_null(expect);
	for (size_t i = 0; i < nnames; i++) {
		char *path = data_path(names[i]);
		tsl_options o = TSL_OPTIONS_INIT;
		tsl_model *m = NULL;

		o.flags = TSL_OPEN_CHECKPOINTS;
		o.map_location = "cpu";
		expect[i] = tsl_load_path(&m, path, &o, NULL);
		tsl_model_free(m);
		free(path);
	}
}

static long open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;   /* the one opendir holds */
}

static long rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size = 0, res = 0;

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%ld %ld", &size, &res), 2);
	fclose(f);
	return res * sysconf(_SC_PAGESIZE);
}

static size_t heap_in_use(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
#else
	return 0;
#endif
}

/* A stream reader over a descriptor (seek fails: read to the end). */
static int64_t rd_read(void *payload, void *buf, size_t size)
{
	return read(*(int *)payload, buf, size);
}

static int64_t rd_seek(void *payload, int64_t off, int whence)
{
	(void)payload;
	(void)off;
	(void)whence;
	return -1;
}

static int64_t rd_tell(void *payload)
{
	(void)payload;
	return -1;
}

/* One cycle: open `name` the `how`-th way, load, maybe materialize and
 * release, free.  Everything opened here is closed here. */
static void cycle(const char *name, int expected, unsigned how, int touch)
{
	tsl_options o = TSL_OPTIONS_INIT;
	char *path = data_path(name);
	tsl_archive *ar = NULL;
	tsl_model *m = NULL;
	tsl_error err;
	void *buf = NULL;
	size_t size = 0, i, n;
	int fd = -1, rc;

	o.flags = TSL_OPEN_CHECKPOINTS;
	o.map_location = "cpu";
	switch (how % 5) {
	case 0:
		rc = tsl_archive_open_path(&ar, path, &o, &err);
		break;
	case 1:
		fd = open(path, O_RDONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		rc = tsl_archive_open_fd(&ar, fd, &o, &err);
		break;
	case 2:
		buf = read_file(path, &size);
		assert_non_null(buf);
		rc = tsl_archive_open_buffer(&ar, buf, size, &o, &err);
		break;
	case 3: {
		tsl_reader r = { rd_read, rd_seek, rd_tell, &fd };

		fd = open(path, O_RDONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		rc = tsl_archive_open_reader(&ar, &r, &o, &err);
		break;
	}
	default:
		o.flags |= TSL_OPEN_COPY;
		rc = tsl_archive_open_path(&ar, path, &o, &err);
	}
	if (rc != TSL_OK)
		fail_msg("%s (way %u): open: %s", name, how % 5, err.message);
	if (fd >= 0)
		close(fd);
	rc = tsl_model_load(&m, ar, &o, &err);
	tsl_archive_free(ar);
	if (rc != expected)
		fail_msg("%s (way %u): load: %s (%s, expected %s)", name,
			how % 5, err.message, tsl_status_name(rc),
			tsl_status_name(expected));
	if (touch && m) {
		assert_int_equal(tsl_model_materialize(m, 1, &err), TSL_OK);
		n = tsl_model_storage_count(m);
		for (i = 0; i < n; i += 2)
			assert_int_equal(tsl_storage_release(
				tsl_model_storage(m, i), &err), TSL_OK);
	}
	tsl_model_free(m);
	free(buf);
	free(path);
}

static void test_soak(void **state)
{
	size_t c = 0, pass, passes, i;
	long fds0, fds1, rss0, rss1;
	size_t heap0, heap1;

	(void)state;
	list_fixtures();
	assert_true(nnames >= 20);
	passes = (SOAK_CYCLES + nnames - 1) / nnames;
	if (passes < 4)
		passes = 4;
	/* warm-up: two passes, so every way meets every fixture's caches */
	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < nnames; i++, c++)
			cycle(names[i], expect[i], (unsigned)(c + pass),
				c % 3 == 0);
	fds0 = open_fds();
	heap0 = heap_in_use();
	rss0 = rss_bytes();
	for (pass = 2; pass < passes + 2; pass++)
		for (i = 0; i < nnames; i++, c++)
			cycle(names[i], expect[i], (unsigned)(c + pass),
				c % 3 == 0);
	fds1 = open_fds();
	heap1 = heap_in_use();
	rss1 = rss_bytes();
	printf("# %zu fixtures, %zu cycles; open fds %ld -> %ld; heap in use "
		"%zu -> %zu bytes; RSS %ld -> %ld KiB\n", nnames, c, fds0, fds1,
		heap0, heap1, rss0 >> 10, rss1 >> 10);
	assert_true(c >= SOAK_CYCLES);
	assert_int_equal(fds1, fds0);
	if (heap1 != heap0)
		fail_msg("heap in use changed by %lld bytes over %zu cycles",
			(long long)heap1 - (long long)heap0, c);
	if (rss1 - rss0 >= SOAK_RSS_SLACK)
		fail_msg("RSS grew by %ld KiB over %zu cycles",
			(rss1 - rss0) >> 10, c);
	for (i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	free(expect);
}

int main(int argc, char **argv)
{
	const char *tun = getenv("GLIBC_TUNABLES");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_soak),
	};

	/* glibc's per-thread cache keeps freed chunks counted as in use, so
	 * the bytes in use would wander by some KiB: run again without it,
	 * and the count is exact (flat to the byte without a leak).  Under
	 * ASan, whose quarantine holds up to 256 MiB of freed blocks (RSS
	 * that is not a leak), with a quarantine of 1 MiB. */
	(void)argc;
	if (!tun || !strstr(tun, "glibc.malloc.tcache_count=0")) {
		const char *asan = getenv("ASAN_OPTIONS");
		char env[512], aenv[1024];

		snprintf(env, sizeof env, "%s%sglibc.malloc.tcache_count=0",
			tun ? tun : "", tun && *tun ? ":" : "");
		snprintf(aenv, sizeof aenv, "%s%squarantine_size_mb=1",
			asan ? asan : "", asan && *asan ? ":" : "");
		if (strlen(env) < sizeof env - 1 &&
			strlen(aenv) < sizeof aenv - 1 &&
			setenv("GLIBC_TUNABLES", env, 1) == 0 &&
			setenv("ASAN_OPTIONS", aenv, 1) == 0) {
			execv("/proc/self/exe", argv);
			perror("test_soak: execv /proc/self/exe");
			return 99;
		}
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
