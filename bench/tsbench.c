/*
 * tsbench.c - cold-start benchmark of tsload, side by side with PyTorch.
 *
 * For each archive, tsbench runs every loader in a fresh process, N times
 * after W warm-up rounds, interleaving the loaders run by run (A B C B A C)
 * so that drift hits them alike (tsload and mmap+touch take turns at
 * running first, right after the previous round's libtorch: run_order):
 *
 *   tsload    this program again (fork + exec of /proc/self/exe) in a child
 *             mode that opens the archive, loads the model, reads the first
 *             storage and materializes every storage, timing each step
 *   mmap      the same child mode baseline: a bare mmap + touch of the file
 *   libtorch  bench/libtorch_load.cpp (tsbench-libtorch): torch::jit::load
 *   torch     bench/torch_load.py under python3: torch.jit.load
 *
 * Every child writes one flat JSON object of numbers on its stdout (a pipe);
 * the parent keeps the figures of each run and prints median, min and max,
 * and peer/tsload ratios computed run by run.  See doc/tsbench.1 and
 * doc/PERFORMANCE.md.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tsload.h>

#include "../tools/cli_msg.h"
#include "bench_time.h"

#ifndef TSBENCH_PKGDATADIR
#define TSBENCH_PKGDATADIR "/usr/local/share/tsload"
#endif
#ifndef TSBENCH_PKGLIBEXECDIR
#define TSBENCH_PKGLIBEXECDIR "/usr/local/libexec/tsload"
#endif
#ifndef TSBENCH_SRCDIR
#define TSBENCH_SRCDIR "."
#endif
#ifndef TSBENCH_PYTHON
#define TSBENCH_PYTHON "/usr/bin/python3"
#endif

#define TORCH_PY_NAME "torch_load.py"
#define LIBTORCH_NAME "tsbench-libtorch"
#define CHILD_OUT_MAX 8192

static const char *prog = "tsbench";

/* The library's words for tsbench's (see tools/cli_msg.h). */
static const struct tsl_cli_word tsbench_words[] = {
	{ "(use tsl_archive_open_reader for pipes and sockets)",
		"(tsbench times regular files only)" },
	{ NULL, NULL }
};

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */
/* ------------------------------------------------------------------------ */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		die("out of memory");
	return p;
}

/* Resident set size in KiB from /proc/self/statm (cheap: one small read). */
static long rss_kib(void)
{
	char buf[128];
	long size = 0, resident = -1;
	ssize_t n;
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if (sscanf(buf, "%ld %ld", &size, &resident) != 2)
		return -1;
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Anonymous resident memory (RssAnon of /proc/self/status), KiB; -1 if
 * unknown.  RSS counts the archive's mapped pages too; this does not. */
static long rss_anon_kib(void)
{
	char buf[4096];
	const char *p;
	ssize_t n;
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strstr(buf, "RssAnon:");
	return p ? strtol(p + 8, NULL, 10) : -1;
}

/* What one page fault costs on this machine now: 2,048 fresh anonymous
 * pages written one by one, in microseconds per page.  On a freshly booted
 * VM whose free memory goes back to the host this is 10-20 us; on a warm
 * one about 1 us.  Run in the mmap child, after its own measurement. */
static double fault_cost_us(void)
{
	const size_t n = 2048, page = 4096;
	volatile unsigned char *p = mmap(NULL, n * page, PROT_READ | PROT_WRITE,
		MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	double t0, t1;

	if ((void *)p == MAP_FAILED)
		return NAN;
	t0 = bench_now_ms();
	for (size_t i = 0; i < n; i++)
		p[i * page] = 1;
	t1 = bench_now_ms();
	munmap((void *)p, n * page);
	return (t1 - t0) * 1000.0 / (double)n;
}

static void faults(long *minflt, long *majflt)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	*minflt = ru.ru_minflt;
	*majflt = ru.ru_majflt;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > max)
		return -1;
	*out = v;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Child modes: one measured run each, results on stdout as flat JSON       */
/* ------------------------------------------------------------------------ */

/* --hold (fleet mode): after the result line, stay alive - with all the
 * memory of the run - until the parent closes our standard input (the
 * fleet's barrier: it reads every process's smaps_rollup first). */
static void hold_until_released(void)
{
	char buf[64];

	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf, sizeof buf);

		if (n == 0 || (n < 0 && errno != EINTR))
			break;
	}
}

static int child_tsload(const char *path, unsigned threads, int huge,
	const char *map_location, int hold)
{
	tsl_options opts = TSL_OPTIONS_INIT;
	tsl_archive *ar = NULL;
	tsl_model *m = NULL;
	tsl_error err;
	long rss0, rss1, rss3, mn0, mj0, mn1, mj1, mn2, mj2, mn3, mj3;
	long anon0, anon1;
	double t0, topen, t1, t2, t2a, t3;
	size_t n, i;
	uint64_t bytes = 0;
	volatile unsigned char sink = 0;
	int rc;

	memset(&err, 0, sizeof err);
	if (huge)
		opts.flags |= TSL_OPEN_HUGE_PAGES;
	opts.map_location = map_location;
	anon0 = rss_anon_kib();
	rss0 = rss_kib();
	faults(&mn0, &mj0);
	t0 = bench_now_ms();
	rc = tsl_archive_open_path(&ar, path, &opts, &err);
	topen = bench_now_ms();
	if (rc == TSL_OK)
		rc = tsl_model_load(&m, ar, &opts, &err);
	t1 = bench_now_ms();
	if (rc != TSL_OK) {
		char msg[sizeof err.message + 64];

		tsl_cli_message(msg, sizeof msg, err.message, tsbench_words);
		fprintf(stderr, "%s: %s: %s: %s\n", prog, path,
			tsl_status_name(rc), msg);
		return 1;
	}
	faults(&mn1, &mj1);
	rss1 = rss_kib();
	anon1 = rss_anon_kib();

	/* first tensor: storage 0, its bytes, and one byte read */
	t2a = bench_now_ms();
	n = tsl_model_storage_count(m);
	if (n > 0) {
		const void *p = NULL;
		size_t sz = 0;

		rc = tsl_storage_data(tsl_model_storage(m, 0), &p, &sz, &err);
		if (rc != TSL_OK) {
			fprintf(stderr, "%s: %s: first storage: %s: %s\n", prog,
				path, tsl_status_name(rc), err.message);
			return 1;
		}
		if (p && sz)
			sink ^= *(const volatile unsigned char *)p;
	}
	t2 = bench_now_ms();

	faults(&mn2, &mj2);
	rc = tsl_model_materialize(m, threads, &err);
	t3 = bench_now_ms();
	if (rc != TSL_OK) {
		fprintf(stderr, "%s: %s: materialize: %s: %s\n", prog, path,
			tsl_status_name(rc), err.message);
		return 1;
	}
	faults(&mn3, &mj3);
	rss3 = rss_kib();

	for (i = 0; i < n; i++)
		bytes += tsl_storage_nbytes(tsl_model_storage(m, i));
	(void)sink;

	printf("{\"open_ms\": %.6f, \"load_ms\": %.6f, "
		"\"first_access_ms\": %.6f, \"first_tensor_ms\": %.6f, "
		"\"materialize_ms\": %.6f, \"rss_before_kib\": %ld, "
		"\"rss_load_kib\": %ld, \"rss_materialize_kib\": %ld, "
		"\"rss_anon_load_kib\": %ld, \"minflt_load\": %ld, \"majflt_load\": %ld, "
		"\"minflt_materialize\": %ld, \"majflt_materialize\": %ld, "
		"\"records\": %zu, \"storages\": %zu, \"storage_bytes\": %llu}\n",
		topen - t0, t1 - t0, t2 - t2a, (t1 - t0) + (t2 - t2a), t3 - t2,
		rss0, rss1 - rss0, rss3 - rss0,
		anon0 >= 0 && anon1 >= 0 ? anon1 - anon0 : -1, mn1 - mn0, mj1 - mj0,
		mn3 - mn2, mj3 - mj2, tsl_archive_record_count(ar), n,
		(unsigned long long)bytes);
	fflush(stdout);
	if (hold && !ferror(stdout))
		hold_until_released();
	/* freeing is not measured; the process ends here */
	_exit(ferror(stdout) ? 1 : 0);
}

/* The fleet's baseline: this program, started the same way, that loads
 * nothing (libtsload linked and mapped, nothing else). */
static int child_idle(int hold)
{
	printf("{\"idle\": 1}\n");
	fflush(stdout);
	if (hold && !ferror(stdout))
		hold_until_released();
	_exit(ferror(stdout) ? 1 : 0);
}

static int child_mmap(const char *path)
{
	long rss0, rss1, mn0, mj0, mn1, mj1;
	long page = sysconf(_SC_PAGESIZE);
	double t0, t1;
	struct stat st;
	const volatile unsigned char *p;
	unsigned char sum = 0;
	size_t size, off;
	void *map;
	int fd;

	rss0 = rss_kib();
	faults(&mn0, &mj0);
	t0 = bench_now_ms();
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
		return 1;
	}
	size = (size_t)st.st_size;
	map = size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
	close(fd);
	if (map == MAP_FAILED) {
		fprintf(stderr, "%s: %s: mmap: %s\n", prog, path, strerror(errno));
		return 1;
	}
	p = map;
	for (off = 0; off < size; off += (size_t)page)
		sum ^= p[off];
	t1 = bench_now_ms();
	faults(&mn1, &mj1);
	rss1 = rss_kib();
	printf("{\"touch_ms\": %.6f, \"rss_before_kib\": %ld, \"rss_kib\": %ld, "
		"\"minflt\": %ld, \"majflt\": %ld, \"sum\": %u, "
		"\"fault_us\": %.4f}\n",
		t1 - t0, rss0, rss1 - rss0, mn1 - mn0, mj1 - mj0, (unsigned)sum,
		fault_cost_us());
	fflush(stdout);
	_exit(ferror(stdout) ? 1 : 0);
}

/* ------------------------------------------------------------------------ */
/* Loaders and the figures kept from their runs                             */
/* ------------------------------------------------------------------------ */

enum loader { L_TSLOAD, L_MMAP, L_LIBTORCH, L_TORCHPY, L_COUNT };

static const char *const loader_names[L_COUNT] = {
	"tsload", "mmap+touch", "libtorch", "torch.jit.load"
};

/* A figure: which loader reports it, the key in the child's output, the
 * JSON key tsbench prints, a label and a unit for the table. */
struct metric {
	enum loader loader;
	const char *child_key;
	const char *json_key;
	const char *label;
	const char *unit;
};

static const struct metric metrics[] = {
	{ L_TSLOAD, "load_ms", "tsload_load_ms", "tsload load (open+model)", "ms" },
	{ L_TSLOAD, "open_ms", "tsload_open_ms", "  of which open (index)", "ms" },
	{ L_TSLOAD, "first_tensor_ms", "tsload_first_tensor_ms", "tsload first tensor (from open)", "ms" },
	{ L_TSLOAD, "first_access_ms", "tsload_first_access_ms", "  of which first access", "ms" },
	{ L_TSLOAD, "materialize_ms", "tsload_materialize_ms", "tsload materialize all (CPU)", "ms" },
	{ L_MMAP, "touch_ms", "mmap_touch_ms", "mmap + touch file (baseline)", "ms" },
	{ L_TSLOAD, "rss_load_kib", "tsload_rss_load_kib", "tsload RSS growth, load", "KiB" },
	{ L_TSLOAD, "rss_materialize_kib", "tsload_rss_materialize_kib", "tsload RSS growth, +materialize", "KiB" },
	{ L_TSLOAD, "rss_anon_load_kib", "tsload_rss_anon_load_kib", "tsload anon RSS growth, load", "KiB" },
	{ L_TSLOAD, "minflt_load", "tsload_minflt_load", "tsload minor faults, load", "" },
	{ L_TSLOAD, "majflt_load", "tsload_majflt_load", "tsload major faults, load", "" },
	{ L_TSLOAD, "minflt_materialize", "tsload_minflt_materialize", "tsload minor faults, materialize", "" },
	{ L_TSLOAD, "majflt_materialize", "tsload_majflt_materialize", "tsload major faults, materialize", "" },
	{ L_MMAP, "rss_kib", "mmap_rss_kib", "mmap + touch RSS growth", "KiB" },
	{ L_MMAP, "fault_us", "page_fault_us", "page fault (2,048-page touch)", "us" },
	{ L_LIBTORCH, "load_ms", "libtorch_load_ms", "libtorch torch::jit::load", "ms" },
	{ L_LIBTORCH, "rss_load_kib", "libtorch_rss_load_kib", "libtorch RSS growth, load", "KiB" },
	{ L_TORCHPY, "load_ms", "torch_py_load_ms", "python torch.jit.load", "ms" },
	{ L_TORCHPY, "rss_load_kib", "torch_py_rss_load_kib", "python RSS growth, load", "KiB" },
};
#define NMETRICS (sizeof metrics / sizeof metrics[0])

/* Ratios computed run by run: num / den. */
struct ratio {
	const char *num, *den;  /* json keys of metrics */
	const char *json_key;
	const char *label;
};

static const struct ratio ratios[] = {
	{ "libtorch_load_ms", "tsload_load_ms", "ratio_libtorch_load", "ratio libtorch / tsload load" },
	{ "torch_py_load_ms", "tsload_load_ms", "ratio_torch_py_load", "ratio torch.jit.load / tsload load" },
	{ "tsload_materialize_ms", "mmap_touch_ms", "ratio_materialize_mmap", "ratio materialize / mmap+touch" },
};
#define NRATIOS (sizeof ratios / sizeof ratios[0])

struct config {
	unsigned long runs, warmup, threads, settle_ms;
	unsigned long fleet;        /* 0: the timing mode */
	int json, cold, quiet, progress, huge, hold;
	const char *map_location;   /* NULL: where each storage was saved */
	int use[L_COUNT];
	char self[PATH_MAX];
	char libtorch[PATH_MAX];
	char torch_py[PATH_MAX];
	const char *python;
};

/* ------------------------------------------------------------------------ */
/* Finding the helpers                                                       */
/* ------------------------------------------------------------------------ */

static int is_file(const char *path, int want_exec)
{
	struct stat st;

	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return 0;
	return !want_exec || access(path, X_OK) == 0;
}

/* Look for `name` next to the executable, one folder up (libtool keeps the
 * real binary in .libs/), in `installed`, then in `fallback`. */
static int find_helper(const char *self, const char *name, const char *installed,
	const char *fallback, int want_exec, char *out, size_t outsz)
{
	char dir[PATH_MAX];
	const char *cands[4];
	char *slash;
	size_t i;

	snprintf(dir, sizeof dir, "%s", self);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		snprintf(dir, sizeof dir, ".");
	cands[0] = dir;
	cands[1] = NULL;  /* dir/.. below */
	cands[2] = installed;
	cands[3] = fallback;
	for (i = 0; i < 4; i++) {
		int n;

		if (i == 1)
			n = snprintf(out, outsz, "%s/../%s", dir, name);
		else if (cands[i])
			n = snprintf(out, outsz, "%s/%s", cands[i], name);
		else
			continue;
		if (n > 0 && (size_t)n < outsz && is_file(out, want_exec))
			return 0;
	}
	out[0] = '\0';
	return -1;
}

/* ------------------------------------------------------------------------ */
/* Running one child                                                         */
/* ------------------------------------------------------------------------ */

/* Run argv with stdout on a pipe; collect at most CHILD_OUT_MAX bytes.
 * Returns 0 when the child exited 0 and printed something. */
static int run_child(char *const argv[], char *out, size_t outsz, char *why,
	size_t whysz)
{
	int fds[2], status;
	size_t len = 0;
	pid_t pid;

	out[0] = '\0';
	if (pipe2(fds, O_CLOEXEC) != 0) {
		snprintf(why, whysz, "pipe: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		snprintf(why, whysz, "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		if (dup2(fds[1], STDOUT_FILENO) < 0)
			_exit(127);
		execv(argv[0], argv);
		fprintf(stderr, "%s: exec %s: %s\n", prog, argv[0], strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	for (;;) {
		char tmp[1024];
		ssize_t n = read(fds[0], tmp, sizeof tmp);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (len + (size_t)n < outsz) {
			memcpy(out + len, tmp, (size_t)n);
			len += (size_t)n;
		}
	}
	out[len] = '\0';
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			snprintf(why, whysz, "waitpid: %s", strerror(errno));
			return -1;
		}
	}
	if (WIFSIGNALED(status)) {
		snprintf(why, whysz, "killed by signal %d", WTERMSIG(status));
		return -1;
	}
	if (WEXITSTATUS(status) != 0) {
		snprintf(why, whysz, "exit status %d", WEXITSTATUS(status));
		return -1;
	}
	if (!strchr(out, '{')) {
		snprintf(why, whysz, "no result printed");
		return -1;
	}
	return 0;
}

/* The number after "key": in a flat JSON object; NAN when absent. */
static double json_number(const char *json, const char *key)
{
	char pat[96];
	const char *p;
	char *end;
	double v;

	snprintf(pat, sizeof pat, "\"%s\"", key);
	p = strstr(json, pat);
	if (!p)
		return NAN;
	p += strlen(pat);
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != ':')
		return NAN;
	p++;
	v = strtod(p, &end);
	return end == p ? NAN : v;
}

/* ------------------------------------------------------------------------ */
/* Page cache: eviction and residency                                        */
/* ------------------------------------------------------------------------ */

/* Percentage of the file's pages in the page cache (mincore), or -1. */
static double resident_pct(const char *path)
{
	struct stat st;
	size_t size, pages, i, in = 0;
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *vec;
	void *map;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || st.st_size <= 0) {
		close(fd);
		return -1;
	}
	size = (size_t)st.st_size;
	map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return -1;
	pages = (size + (size_t)page - 1) / (size_t)page;
	vec = xcalloc(pages, 1);
	if (mincore(map, size, vec) != 0) {
		free(vec);
		munmap(map, size);
		return -1;
	}
	for (i = 0; i < pages; i++)
		in += vec[i] & 1;
	free(vec);
	munmap(map, size);
	return 100.0 * (double)in / (double)pages;
}

/* Drop the file from the page cache; returns the resident percentage left
 * afterwards (-1 when it cannot be told). */
static double evict(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	(void)fdatasync(fd);  /* dirty pages cannot be dropped */
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
	return resident_pct(path);
}

/* ------------------------------------------------------------------------ */
/* Statistics and output                                                     */
/* ------------------------------------------------------------------------ */

struct series {
	double *v;
	size_t n;
};

struct stat3 {
	double med, min, max;
	int ok;
};

static struct stat3 stats(const struct series *s)
{
	struct stat3 r = { 0, 0, 0, 0 };
	double *tmp;
	size_t i, n = 0;

	if (!s->n)
		return r;
	tmp = xcalloc(s->n, sizeof *tmp);
	for (i = 0; i < s->n; i++)
		if (!isnan(s->v[i]))
			tmp[n++] = s->v[i];
	if (n) {
		qsort(tmp, n, sizeof *tmp, bench_cmp_double);
		r.min = tmp[0];
		r.max = tmp[n - 1];
		r.med = n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
		r.ok = 1;
	}
	free(tmp);
	return r;
}

static void print_num(FILE *f, double v)
{
	if (isnan(v) || isinf(v))
		fputs("null", f);
	else if (v == floor(v) && fabs(v) < 1e15)
		fprintf(f, "%.0f", v);
	else if (fabs(v) >= 0.01)
		fprintf(f, "%.4f", v);
	else
		fprintf(f, "%.6g", v);
}

static void print_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void print_triple(FILE *f, const struct stat3 *s)
{
	fputc('[', f);
	print_num(f, s->med);
	fputs(", ", f);
	print_num(f, s->min);
	fputs(", ", f);
	print_num(f, s->max);
	fputc(']', f);
}

static void human_value(char *buf, size_t sz, double v, const char *unit)
{
	if (!strcmp(unit, "ms")) {
		if (v < 1)
			snprintf(buf, sz, "%.4f ms", v);
		else if (v < 100)
			snprintf(buf, sz, "%.2f ms", v);
		else
			snprintf(buf, sz, "%.0f ms", v);
	} else if (!strcmp(unit, "KiB")) {
		if (fabs(v) < 10240)
			snprintf(buf, sz, "%.0f KiB", v);
		else
			snprintf(buf, sz, "%.1f MiB", v / 1024);
	} else if (!strcmp(unit, "x")) {
		snprintf(buf, sz, "%.3gx", v);
	} else if (!strcmp(unit, "us")) {
		snprintf(buf, sz, "%.2f us", v);
	} else {
		snprintf(buf, sz, "%.0f", v);
	}
}

static void human_size(char *buf, size_t sz, double bytes)
{
	if (bytes >= 1024.0 * 1024 * 1024)
		snprintf(buf, sz, "%.2f GiB", bytes / (1024.0 * 1024 * 1024));
	else if (bytes >= 1024.0 * 1024)
		snprintf(buf, sz, "%.1f MiB", bytes / (1024.0 * 1024));
	else
		snprintf(buf, sz, "%.1f KiB", bytes / 1024.0);
}

static void human_row(const char *label, const struct stat3 *s, const char *unit)
{
	char a[32], b[32], c[32];

	human_value(a, sizeof a, s->med, unit);
	human_value(b, sizeof b, s->min, unit);
	human_value(c, sizeof c, s->max, unit);
	printf("  %-36s %14s %14s %14s\n", label, a, b, c);
}

/* ------------------------------------------------------------------------ */
/* One archive                                                               */
/* ------------------------------------------------------------------------ */

static void progress(const struct config *cfg, const char *archive, size_t ai,
	size_t na, unsigned long run, unsigned long total, const char *what)
{
	const char *base = strrchr(archive, '/');

	if (!cfg->progress)
		return;
	fprintf(stderr, "\r\033[K[%zu/%zu] %s: %s %lu/%lu %s", ai + 1, na,
		base ? base + 1 : archive, run < cfg->warmup ? "warm-up" : "run",
		run < cfg->warmup ? run + 1 : run - cfg->warmup + 1,
		run < cfg->warmup ? cfg->warmup : total, what);
	fflush(stderr);
}

/*
 * The order of the loaders in round `run`: tsload and mmap+touch (the two
 * light ones) take turns at going first, then libtorch and torch.jit.load.
 * Whatever runs first in a round runs right after the previous round's
 * libtorch, which has just freed gigabytes: on a VM that reports free
 * memory to the host the next process pays to get pages backed again
 * (page cache included, in --cold runs).  Always putting tsload there
 * made its cold materialize look up to 1.7x slower than mmap+touch.
 */
static void run_order(const struct config *cfg, unsigned long run,
	int order[L_COUNT])
{
	int light[2], n = 0, k = 0, i;

	if (cfg->use[L_TSLOAD])
		light[n++] = L_TSLOAD;
	if (cfg->use[L_MMAP])
		light[n++] = L_MMAP;
	for (i = 0; i < n; i++)
		order[k++] = light[(i + run) % (unsigned long)n];
	if (!cfg->use[L_TSLOAD])
		order[k++] = L_TSLOAD;
	if (!cfg->use[L_MMAP])
		order[k++] = L_MMAP;
	order[k++] = L_LIBTORCH;
	order[k++] = L_TORCHPY;
}

static int bench_archive(const struct config *cfg, const char *archive,
	size_t ai, size_t na)
{
	struct series ser[NMETRICS], rat[NRATIOS], resid = { NULL, 0 };
	struct series fsplit = { NULL, 0 };
	double extra_records = NAN, extra_storages = NAN, extra_bytes = NAN;
	int failed[L_COUNT] = { 0 };
	char out[CHILD_OUT_MAX], why[256], threads[32];
	unsigned long run, rounds = cfg->warmup + cfg->runs;
	struct stat st;
	size_t i, j;
	int l, status = 0;

	if (stat(archive, &st) != 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, archive, strerror(errno));
		return 1;
	}
	for (i = 0; i < NMETRICS; i++) {
		ser[i].v = xcalloc(cfg->runs, sizeof(double));
		ser[i].n = cfg->runs;
		for (j = 0; j < cfg->runs; j++)
			ser[i].v[j] = NAN;
	}
	resid.v = xcalloc(cfg->runs * L_COUNT, sizeof(double));
	snprintf(threads, sizeof threads, "%lu", cfg->threads);

	for (run = 0; run < rounds; run++) {
		int order[L_COUNT], k;

		run_order(cfg, run, order);
		for (k = 0; k < L_COUNT; k++) {
			char *argv[12];
			int argc = 0;
			double pct = -1;

			l = order[k];
			if (!cfg->use[l] || failed[l])
				continue;
			switch (l) {
			case L_TSLOAD:
				argv[argc++] = (char *)cfg->self;
				argv[argc++] = (char *)"--child=tsload";
				argv[argc++] = (char *)"--threads";
				argv[argc++] = threads;
				if (cfg->huge)
					argv[argc++] = (char *)"--huge-pages";
				if (cfg->map_location) {
					argv[argc++] = (char *)"--map-location";
					argv[argc++] = (char *)cfg->map_location;
				}
				argv[argc++] = (char *)"--";
				break;
			case L_MMAP:
				argv[argc++] = (char *)cfg->self;
				argv[argc++] = (char *)"--child=mmap";
				argv[argc++] = (char *)"--";
				break;
			case L_LIBTORCH:
				argv[argc++] = (char *)cfg->libtorch;
				break;
			case L_TORCHPY:
				argv[argc++] = (char *)cfg->python;
				argv[argc++] = (char *)cfg->torch_py;
				break;
			}
			argv[argc++] = (char *)archive;
			argv[argc] = NULL;

			progress(cfg, archive, ai, na, run, cfg->runs, loader_names[l]);
			/* let the machine settle: a peer that just freed 4 GiB
			 * leaves the kernel busy, which the next run would pay */
			if (cfg->settle_ms) {
				struct timespec ts = {
					(time_t)(cfg->settle_ms / 1000),
					(long)(cfg->settle_ms % 1000) * 1000000L };

				nanosleep(&ts, NULL);
			}
			if (cfg->cold)
				pct = evict(archive);
			if (run_child(argv, out, sizeof out, why, sizeof why) != 0) {
				if (cfg->progress)
					fputs("\r\033[K", stderr);
				fprintf(stderr, "%s: %s: %s run failed (%s)%s\n", prog,
					archive, loader_names[l], why,
					l == L_TSLOAD ? "" : "; leaving it out");
				failed[l] = 1;
				if (l == L_TSLOAD || l == L_MMAP)
					status = 1;
				continue;
			}
			if (run < cfg->warmup)
				continue;
			if (cfg->cold && pct >= 0)
				resid.v[resid.n++] = pct;
			for (i = 0; i < NMETRICS; i++)
				if (metrics[i].loader == (enum loader)l)
					ser[i].v[run - cfg->warmup] =
						json_number(out, metrics[i].child_key);
			if (l == L_TSLOAD) {
				extra_records = json_number(out, "records");
				extra_storages = json_number(out, "storages");
				extra_bytes = json_number(out, "storage_bytes");
			}
		}
	}
	if (cfg->progress)
		fputs("\r\033[K", stderr);

	/* run-by-run ratios */
	for (i = 0; i < NRATIOS; i++) {
		const struct series *num = NULL, *den = NULL;

		for (j = 0; j < NMETRICS; j++) {
			if (!strcmp(metrics[j].json_key, ratios[i].num))
				num = &ser[j];
			if (!strcmp(metrics[j].json_key, ratios[i].den))
				den = &ser[j];
		}
		rat[i].v = xcalloc(cfg->runs, sizeof(double));
		rat[i].n = cfg->runs;
		for (j = 0; j < cfg->runs; j++)
			rat[i].v[j] = (num && den && den->v[j] > 0)
				? num->v[j] / den->v[j] : NAN;
	}

	/* how much of the load went to page faults, run by run: its minor
	 * faults times the cost of one measured in the same round (an
	 * estimate: file-backed faults map up to 16 pages each) */
	fsplit.v = xcalloc(cfg->runs, sizeof(double));
	fsplit.n = cfg->runs;
	{
		const struct series *mf = NULL, *fc = NULL;

		for (j = 0; j < NMETRICS; j++) {
			if (!strcmp(metrics[j].json_key, "tsload_minflt_load"))
				mf = &ser[j];
			if (!strcmp(metrics[j].json_key, "page_fault_us"))
				fc = &ser[j];
		}
		for (j = 0; j < cfg->runs; j++)
			fsplit.v[j] = mf && fc ? mf->v[j] * fc->v[j] / 1000.0 :
				NAN;
	}

	if (failed[L_TSLOAD]) {
		status = 1;
		goto done;
	}

	if (cfg->json) {
		struct stat3 r;

		fputs("{\"archive\": ", stdout);
		print_json_string(stdout, archive);
		printf(", \"runs\": %lu, \"warmup\": %lu, \"cache\": \"%s\", "
			"\"archive_bytes\": %lld, \"threads\": %lu", cfg->runs,
			cfg->warmup, cfg->cold ? "cold" : "warm",
			(long long)st.st_size, cfg->threads);
		fputs(", \"records\": ", stdout);
		print_num(stdout, extra_records);
		fputs(", \"storages\": ", stdout);
		print_num(stdout, extra_storages);
		fputs(", \"storage_bytes\": ", stdout);
		print_num(stdout, extra_bytes);
		printf(", \"huge_pages\": %s", cfg->huge ? "true" : "false");
		if (cfg->cold) {
			r = stats(&resid);
			printf(", \"evicted\": %s, \"resident_after_evict_pct\": ",
				r.ok && r.max < 1.0 ? "true" : "false");
			print_triple(stdout, &r);
		}
		for (i = 0; i < NMETRICS; i++) {
			r = stats(&ser[i]);
			if (!r.ok)
				continue;
			printf(", \"%s\": ", metrics[i].json_key);
			print_triple(stdout, &r);
		}
		for (i = 0; i < NRATIOS; i++) {
			r = stats(&rat[i]);
			if (!r.ok)
				continue;
			printf(", \"%s\": ", ratios[i].json_key);
			print_triple(stdout, &r);
		}
		r = stats(&fsplit);
		if (r.ok) {
			fputs(", \"tsload_load_faults_ms_est\": ", stdout);
			print_triple(stdout, &r);
		}
		puts("}");
	} else {
		char size[32];
		struct stat3 r;

		human_size(size, sizeof size, (double)st.st_size);
		printf("%s  (%s, %.0f records, %.0f storages, %lu runs, %s cache)\n",
			archive, size, extra_records, extra_storages, cfg->runs,
			cfg->cold ? "cold" : "warm");
		if (cfg->cold) {
			r = stats(&resid);
			if (r.ok)
				printf("  page cache eviction %s: %.1f%% of the file "
					"still resident at worst\n",
					r.max < 1.0 ? "worked" : "FAILED", r.max);
			else
				printf("  page cache eviction could not be checked\n");
		}
		printf("  %-36s %14s %14s %14s\n", "", "median", "min", "max");
		for (i = 0; i < NMETRICS; i++) {
			r = stats(&ser[i]);
			if (r.ok)
				human_row(metrics[i].label, &r, metrics[i].unit);
		}
		for (i = 0; i < NRATIOS; i++) {
			r = stats(&rat[i]);
			if (r.ok)
				human_row(ratios[i].label, &r, "x");
		}
		r = stats(&fsplit);
		if (r.ok)
			human_row("load: faults x touch cost (bound)", &r, "ms");
		putchar('\n');
	}
	fflush(stdout);
done:
	for (i = 0; i < NMETRICS; i++)
		free(ser[i].v);
	for (i = 0; i < NRATIOS; i++)
		free(rat[i].v);
	free(fsplit.v);
	free(resid.v);
	return status;
}

/* ------------------------------------------------------------------------ */
/* Fleet mode: N processes at once, their memory read while all are alive   */
/* ------------------------------------------------------------------------ */

/* What /proc/PID/smaps_rollup says of one process, in KiB (NAN: a field
 * this kernel does not report). */
struct pss {
	double pss, anon, file, rss;
};

static int read_rollup(pid_t pid, struct pss *p)
{
	char path[64], line[256];
	FILE *f;
	int seen = 0;

	p->pss = p->anon = p->file = p->rss = NAN;
	snprintf(path, sizeof path, "/proc/%ld/smaps_rollup", (long)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f)) {
		static const char *const keys[] = {
			"Pss:", "Pss_Anon:", "Pss_File:", "Rss:"
		};
		double *dst[4];
		size_t k;

		dst[0] = &p->pss;
		dst[1] = &p->anon;
		dst[2] = &p->file;
		dst[3] = &p->rss;
		for (k = 0; k < 4; k++) {
			size_t kl = strlen(keys[k]);

			if (!strncmp(line, keys[k], kl)) {
				*dst[k] = strtod(line + kl, NULL);
				seen |= 1 << k;
			}
		}
	}
	fclose(f);
	/* Pss and Rss are needed; the split came with Linux 5.9 */
	return (seen & 9) == 9 ? 0 : -1;
}

/*
 * Start n copies of argv at once, each with its standard output and input
 * on pipes, and wait for every result line.  While all n are alive (each
 * holds until its standard input closes), read their smaps_rollup into
 * per[0..n); the first child's result line goes to out.  Then release and
 * reap them all.  0 when every child reported, was measured and exited 0.
 */
static int run_fleet(char *const argv[], unsigned long n, struct pss *per,
	char *out, size_t outsz, char *why, size_t whysz)
{
	pid_t *pid = xcalloc(n, sizeof *pid);
	int *rd = xcalloc(n, sizeof *rd), *wr = xcalloc(n, sizeof *wr);
	unsigned long i, started = 0;
	int rc = 0;

	out[0] = '\0';
	why[0] = '\0';
	fflush(NULL);
	for (i = 0; i < n; i++) {
		int o[2], in[2];

		if (pipe2(o, O_CLOEXEC) != 0) {
			snprintf(why, whysz, "pipe: %s", strerror(errno));
			rc = -1;
			break;
		}
		if (pipe2(in, O_CLOEXEC) != 0) {
			snprintf(why, whysz, "pipe: %s", strerror(errno));
			close(o[0]);
			close(o[1]);
			rc = -1;
			break;
		}
		pid[i] = fork();
		if (pid[i] < 0) {
			snprintf(why, whysz, "fork: %s", strerror(errno));
			close(o[0]);
			close(o[1]);
			close(in[0]);
			close(in[1]);
			rc = -1;
			break;
		}
		if (pid[i] == 0) {
			if (dup2(o[1], STDOUT_FILENO) < 0 ||
				dup2(in[0], STDIN_FILENO) < 0)
				_exit(127);
			execv(argv[0], argv);
			fprintf(stderr, "%s: exec %s: %s\n", prog, argv[0],
				strerror(errno));
			_exit(127);
		}
		close(o[1]);
		close(in[0]);
		rd[i] = o[0];
		wr[i] = in[1];
		started++;
	}
	/* every result line: the child is loaded (and materialized) then */
	for (i = 0; rc == 0 && i < started; i++) {
		char buf[CHILD_OUT_MAX];
		size_t len = 0;

		for (;;) {
			ssize_t k = read(rd[i], buf + len, sizeof buf - 1 - len);

			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				break;
			len += (size_t)k;
			if (memchr(buf + len - (size_t)k, '\n', (size_t)k) ||
				len == sizeof buf - 1)
				break;
		}
		buf[len] = '\0';
		if (!strchr(buf, '\n') || !strchr(buf, '{')) {
			snprintf(why, whysz, "process %lu of %lu gave no result",
				i + 1, n);
			rc = -1;
		} else if (i == 0) {
			snprintf(out, outsz, "%s", buf);
		}
	}
	/* all alive and done: measure them */
	for (i = 0; rc == 0 && i < started; i++)
		if (read_rollup(pid[i], &per[i]) != 0) {
			snprintf(why, whysz, "cannot read /proc/%ld/smaps_rollup "
				"(needs Linux 4.14; Pss_Anon and Pss_File 5.9)",
				(long)pid[i]);
			rc = -1;
		}
	/* release: end of file on every standard input */
	for (i = 0; i < started; i++) {
		close(wr[i]);
		close(rd[i]);
	}
	for (i = 0; i < started; i++) {
		int status;

		while (waitpid(pid[i], &status, 0) < 0) {
			if (errno != EINTR) {
				status = -1;
				break;
			}
		}
		if (status == -1 || WIFSIGNALED(status) ||
			WEXITSTATUS(status) != 0) {
			if (!why[0]) {
				if (status != -1 && WIFSIGNALED(status))
					snprintf(why, whysz, "process %lu of %lu "
						"killed by signal %d", i + 1, n,
						WTERMSIG(status));
				else
					snprintf(why, whysz, "process %lu of %lu "
						"exit status %d", i + 1, n,
						status == -1 ? -1 :
						WEXITSTATUS(status));
			}
			rc = -1;
		}
	}
	free(pid);
	free(rd);
	free(wr);
	return rc;
}

/* The fleet's figures per loader, in KiB, summed over its n processes. */
enum { FL_PSS, FL_ADDED, FL_ANON, FL_FILE, FL_RSS, FL_IDLE, FL_IDLE_RSS,
	FL_COUNT };

static const char *const fleet_keys[FL_COUNT] = {
	"pss_kib", "pss_added_kib", "pss_anon_kib", "pss_file_kib",
	"rss_kib", "idle_pss_kib", "idle_rss_kib"
};
static const char *const fleet_labels[FL_COUNT] = {
	"PSS, all processes", "PSS added (over idle)", "  of which Pss_Anon",
	"  of which Pss_File", "RSS, summed", "idle fleet PSS",
	"idle fleet RSS, summed"
};

static void fleet_argv(const struct config *cfg, int l, int idle,
	const char *threads, const char *archive, char **argv)
{
	int argc = 0;

	if (l == L_TSLOAD) {
		argv[argc++] = (char *)cfg->self;
		argv[argc++] = idle ? (char *)"--child=idle" :
			(char *)"--child=tsload";
		argv[argc++] = (char *)"--hold";
		argv[argc++] = (char *)"--threads";
		argv[argc++] = (char *)threads;
		if (cfg->huge)
			argv[argc++] = (char *)"--huge-pages";
		if (cfg->map_location) {
			argv[argc++] = (char *)"--map-location";
			argv[argc++] = (char *)cfg->map_location;
		}
		argv[argc++] = (char *)"--";
	} else {
		argv[argc++] = (char *)cfg->libtorch;
		argv[argc++] = (char *)"--hold";
		if (idle)
			argv[argc++] = (char *)"--idle";
	}
	argv[argc++] = (char *)archive;
	argv[argc] = NULL;
}

static double sum_field(const struct pss *p, unsigned long n, int field)
{
	double t = 0;
	unsigned long i;

	for (i = 0; i < n; i++) {
		double v = field == 0 ? p[i].pss : field == 1 ? p[i].anon :
			field == 2 ? p[i].file : p[i].rss;

		t += v;   /* NAN stays NAN */
	}
	return t;
}

static int bench_fleet(const struct config *cfg, const char *archive,
	size_t ai, size_t na)
{
	static const int fl_loaders[2] = { L_TSLOAD, L_LIBTORCH };
	struct series ser[2][FL_COUNT], rat = { NULL, 0 };
	struct pss *idle = xcalloc(cfg->fleet, sizeof *idle);
	struct pss *last[2], *cur = xcalloc(cfg->fleet, sizeof *cur);
	struct pss *last_idle[2];
	double extra_records = NAN, extra_storages = NAN, extra_bytes = NAN;
	int failed[2] = { 0, 0 }, measured[2] = { 0, 0 };
	char out[CHILD_OUT_MAX], why[256], threads[32];
	unsigned long run;
	struct stat st;
	size_t i, j;
	int k, status = 0;

	if (stat(archive, &st) != 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, archive, strerror(errno));
		free(idle);
		free(cur);
		return 1;
	}
	snprintf(threads, sizeof threads, "%lu", cfg->threads);
	for (k = 0; k < 2; k++) {
		for (i = 0; i < FL_COUNT; i++) {
			ser[k][i].v = xcalloc(cfg->runs, sizeof(double));
			ser[k][i].n = cfg->runs;
			for (j = 0; j < cfg->runs; j++)
				ser[k][i].v[j] = NAN;
		}
		last[k] = xcalloc(cfg->fleet, sizeof *last[k]);
		last_idle[k] = xcalloc(cfg->fleet, sizeof *last_idle[k]);
	}
	rat.v = xcalloc(cfg->runs, sizeof(double));
	rat.n = cfg->runs;

	for (run = 0; run < cfg->runs; run++) {
		for (k = 0; k < 2; k++) {
			int l = fl_loaders[k], idle_pass;
			char *argv[16];

			if (!cfg->use[l] || failed[k])
				continue;
			/* the idle fleet first, then the loaded one */
			for (idle_pass = 1; idle_pass >= 0; idle_pass--) {
				struct pss *p = idle_pass ? idle : cur;

				progress(cfg, archive, ai, na, cfg->warmup + run,
					cfg->runs, idle_pass ?
					(l == L_TSLOAD ? "tsload idle fleet" :
					 "libtorch idle fleet") :
					(l == L_TSLOAD ? "tsload fleet" :
					 "libtorch fleet"));
				if (cfg->settle_ms) {
					struct timespec ts = {
						(time_t)(cfg->settle_ms / 1000),
						(long)(cfg->settle_ms % 1000) *
							1000000L };

					nanosleep(&ts, NULL);
				}
				fleet_argv(cfg, l, idle_pass, threads, archive,
					argv);
				if (run_fleet(argv, cfg->fleet, p, out, sizeof out,
					why, sizeof why) != 0) {
					if (cfg->progress)
						fputs("\r\033[K", stderr);
					fprintf(stderr, "%s: %s: %s%s fleet of %lu "
						"failed (%s)%s\n", prog, archive,
						loader_names[l], idle_pass ?
						" idle" : "", cfg->fleet, why,
						l == L_TSLOAD ? "" :
						"; leaving it out");
					failed[k] = 1;
					if (l == L_TSLOAD)
						status = 1;
					break;
				}
			}
			if (failed[k])
				continue;
			ser[k][FL_PSS].v[run] = sum_field(cur, cfg->fleet, 0);
			ser[k][FL_ANON].v[run] = sum_field(cur, cfg->fleet, 1);
			ser[k][FL_FILE].v[run] = sum_field(cur, cfg->fleet, 2);
			ser[k][FL_RSS].v[run] = sum_field(cur, cfg->fleet, 3);
			ser[k][FL_IDLE].v[run] = sum_field(idle, cfg->fleet, 0);
			ser[k][FL_IDLE_RSS].v[run] = sum_field(idle, cfg->fleet,
				3);
			ser[k][FL_ADDED].v[run] = ser[k][FL_PSS].v[run] -
				ser[k][FL_IDLE].v[run];
			memcpy(last[k], cur, cfg->fleet * sizeof *cur);
			memcpy(last_idle[k], idle, cfg->fleet * sizeof *idle);
			measured[k] = 1;
			if (l == L_TSLOAD) {
				extra_records = json_number(out, "records");
				extra_storages = json_number(out, "storages");
				extra_bytes = json_number(out, "storage_bytes");
			}
		}
		if (!failed[0] && !failed[1] && ser[0][FL_ADDED].v[run] > 0)
			rat.v[run] = ser[1][FL_ADDED].v[run] /
				ser[0][FL_ADDED].v[run];
		else
			rat.v[run] = NAN;
	}
	if (cfg->progress)
		fputs("\r\033[K", stderr);
	if (failed[0])
		goto done;

	if (cfg->json) {
		struct stat3 r;

		fputs("{\"archive\": ", stdout);
		print_json_string(stdout, archive);
		printf(", \"mode\": \"fleet\", \"fleet\": %lu, \"runs\": %lu, "
			"\"cache\": \"warm\", \"archive_bytes\": %lld, "
			"\"threads\": %lu", cfg->fleet, cfg->runs,
			(long long)st.st_size, cfg->threads);
		fputs(", \"records\": ", stdout);
		print_num(stdout, extra_records);
		fputs(", \"storages\": ", stdout);
		print_num(stdout, extra_storages);
		fputs(", \"storage_bytes\": ", stdout);
		print_num(stdout, extra_bytes);
		printf(", \"huge_pages\": %s, \"baseline\": \"idle fleet\"",
			cfg->huge ? "true" : "false");
		for (k = 0; k < 2; k++) {
			const char *pre = k ? "libtorch" : "tsload";

			if (!measured[k])
				continue;
			for (i = 0; i < FL_COUNT; i++) {
				r = stats(&ser[k][i]);
				if (!r.ok)
					continue;
				printf(", \"%s_fleet_%s\": ", pre, fleet_keys[i]);
				print_triple(stdout, &r);
			}
			printf(", \"%s_fleet_procs\": [", pre);
			for (j = 0; j < cfg->fleet; j++) {
				const struct pss *p = &last[k][j];

				printf("%s{\"pss_kib\": ", j ? ", " : "");
				print_num(stdout, p->pss);
				fputs(", \"pss_anon_kib\": ", stdout);
				print_num(stdout, p->anon);
				fputs(", \"pss_file_kib\": ", stdout);
				print_num(stdout, p->file);
				fputs(", \"rss_kib\": ", stdout);
				print_num(stdout, p->rss);
				fputs(", \"idle_pss_kib\": ", stdout);
				print_num(stdout, last_idle[k][j].pss);
				fputs(", \"idle_rss_kib\": ", stdout);
				print_num(stdout, last_idle[k][j].rss);
				fputc('}', stdout);
			}
			fputc(']', stdout);
		}
		r = stats(&rat);
		if (r.ok) {
			fputs(", \"ratio_fleet_pss_added\": ", stdout);
			print_triple(stdout, &r);
		}
		puts("}");
	} else {
		char size[32], lab[64];
		struct stat3 r;

		human_size(size, sizeof size, (double)st.st_size);
		printf("%s  (%s, %.0f storages, fleet of %lu processes, "
			"%lu runs, warm cache)\n", archive, size, extra_storages,
			cfg->fleet, cfg->runs);
		printf("  PSS added = PSS of the loaded fleet - PSS of a fleet "
			"of %lu idle processes\n  of the same program "
			"(both measured with all processes alive)\n", cfg->fleet);
		printf("  %-36s %14s %14s %14s\n", "", "median", "min", "max");
		for (k = 0; k < 2; k++) {
			if (!measured[k])
				continue;
			for (i = 0; i < FL_COUNT; i++) {
				r = stats(&ser[k][i]);
				if (!r.ok)
					continue;
				snprintf(lab, sizeof lab, "%s %s",
					k ? "libtorch" : "tsload", fleet_labels[i]);
				human_row(lab, &r, "KiB");
			}
		}
		r = stats(&rat);
		if (r.ok)
			human_row("ratio libtorch / tsload PSS added", &r, "x");
		for (k = 0; k < 2; k++) {
			if (!measured[k])
				continue;
			printf("  %s, last run, per process (KiB): Pss Pss_Anon "
				"Pss_File Rss | idle Pss Rss\n",
				k ? "libtorch" : "tsload");
			for (j = 0; j < cfg->fleet; j++) {
				const struct pss *p = &last[k][j];

				printf("    %3zu %10.0f %10.0f %10.0f %10.0f | %8.0f "
					"%8.0f\n", j + 1, p->pss, p->anon, p->file,
					p->rss, last_idle[k][j].pss,
					last_idle[k][j].rss);
			}
		}
		putchar('\n');
	}
	fflush(stdout);
done:
	for (k = 0; k < 2; k++) {
		for (i = 0; i < FL_COUNT; i++)
			free(ser[k][i].v);
		free(last[k]);
		free(last_idle[k]);
	}
	free(rat.v);
	free(idle);
	free(cur);
	return failed[0] ? 1 : status;
}

/* ------------------------------------------------------------------------ */
/* Main                                                                      */
/* ------------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
"usage: %s [options] ARCHIVE...\n"
"Time loading TorchScript archives with tsload, each run a fresh process;\n"
"optionally side by side with libtorch and Python torch.jit.load.\n"
"\n"
"  -n, --runs N         measured runs per loader and archive (default 7)\n"
"  -w, --warmup N       warm-up rounds, not counted (default 1)\n"
"  -t, --threads N      threads for tsl_model_materialize (default 1)\n"
"      --settle MS      pause before every run (default 200)\n"
"      --json           one JSON object per archive, one per line\n"
"      --fleet N        memory mode: N processes load and materialize the\n"
"                       archive at once (and N libtorch ones with\n"
"                       --vs-libtorch); their PSS from smaps_rollup while\n"
"                       all are alive, less that of N idle processes\n"
"      --cold           evict the archive from the page cache before every\n"
"                       run (posix_fadvise DONTNEED; checked with mincore)\n"
"      --vs-libtorch    also time torch::jit::load (tsbench-libtorch)\n"
"      --vs-torch       also time torch.jit.load in Python\n"
"      --python PATH    python3 with torch (default $TSBENCH_PYTHON or %s)\n"
"      --no-mmap        skip the bare mmap + touch baseline\n"
"      --huge-pages     load with TSL_OPEN_HUGE_PAGES (metadata in huge pages)\n"
"      --map-location DEV  send every storage to DEV, as torch.jit.load's\n"
"                       map_location (cpu, cuda:0...): a CUDA-saved archive\n"
"                       on a CPU machine needs --map-location cpu; the torch\n"
"                       comparators always load to the CPU\n"
"  -q, --quiet          no progress line\n"
"  -h, --help           this help\n"
"  -V, --version        print the version\n"
"\n"
"Environment: TSBENCH_LIBTORCH (the libtorch comparator), TSBENCH_TORCH_PY\n"
"(torch_load.py), TSBENCH_PYTHON.  See tsbench(1).\n",
		prog, TSBENCH_PYTHON);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "runs", required_argument, NULL, 'n' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "threads", required_argument, NULL, 't' },
		{ "settle", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "cold", no_argument, NULL, 'c' },
		{ "vs-libtorch", no_argument, NULL, 'L' },
		{ "vs-torch", no_argument, NULL, 'P' },
		{ "python", required_argument, NULL, 'p' },
		{ "no-mmap", no_argument, NULL, 'M' },
		{ "huge-pages", no_argument, NULL, 'H' },
		{ "map-location", required_argument, NULL, 'm' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "child", required_argument, NULL, 'C' },
		{ "fleet", required_argument, NULL, 'F' },
		{ "hold", no_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 }
	};
	struct config *cfg = xcalloc(1, sizeof *cfg);
	const char *child = NULL, *env;
	unsigned long v;
	ssize_t n;
	int opt, i, status = 0;

	cfg->runs = 7;
	cfg->warmup = 1;
	cfg->threads = 1;
	cfg->settle_ms = 200;
	cfg->use[L_TSLOAD] = cfg->use[L_MMAP] = 1;
	env = getenv("TSBENCH_PYTHON");
	cfg->python = env && *env ? env : TSBENCH_PYTHON;

	while ((opt = getopt_long(argc, argv, "n:w:t:qhV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			if (parse_uint(optarg, 100000, &v) || v == 0)
				die("--runs wants a number from 1 to 100000");
			cfg->runs = v;
			break;
		case 'w':
			if (parse_uint(optarg, 100000, &v))
				die("--warmup wants a number from 0 to 100000");
			cfg->warmup = v;
			break;
		case 't':
			if (parse_uint(optarg, 1024, &v))
				die("--threads wants a number from 0 to 1024");
			cfg->threads = v;
			break;
		case 's':
			if (parse_uint(optarg, 60000, &v))
				die("--settle wants milliseconds from 0 to 60000");
			cfg->settle_ms = v;
			break;
		case 'j': cfg->json = 1; break;
		case 'c': cfg->cold = 1; break;
		case 'L': cfg->use[L_LIBTORCH] = 1; break;
		case 'P': cfg->use[L_TORCHPY] = 1; break;
		case 'p': cfg->python = optarg; break;
		case 'M': cfg->use[L_MMAP] = 0; break;
		case 'H': cfg->huge = 1; break;
		case 'm':
			if (!*optarg)
				die("--map-location wants a device (cpu, cuda:0...)");
			cfg->map_location = optarg;
			break;
		case 'q': cfg->quiet = 1; break;
		case 'F':
			if (parse_uint(optarg, 256, &v) || v == 0)
				die("--fleet wants a number of processes from 1 "
					"to 256, not '%s'", optarg);
			cfg->fleet = v;
			break;
		case 'D': cfg->hold = 1; break;
		case 'C': child = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("tsbench (tsload) %s\n", tsl_version()); return 0;
		default: usage(stderr); return 2;
		}
	}

	if (child) {
		if (optind + 1 != argc)
			die("--child wants one archive");
		if (!strcmp(child, "tsload"))
			return child_tsload(argv[optind], (unsigned)cfg->threads,
				cfg->huge, cfg->map_location, cfg->hold);
		if (!strcmp(child, "idle"))
			return child_idle(cfg->hold);
		if (!strcmp(child, "mmap"))
			return child_mmap(argv[optind]);
		die("unknown child mode '%s'", child);
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (cfg->fleet && cfg->cold)
		die("--fleet measures memory with a warm cache; it does not "
			"go with --cold");
	if (cfg->fleet && cfg->use[L_TORCHPY])
		die("--fleet compares with libtorch only (--vs-libtorch), not "
			"--vs-torch");

	n = readlink("/proc/self/exe", cfg->self, sizeof cfg->self - 1);
	if (n <= 0 || (size_t)n >= sizeof cfg->self - 1)
		die("cannot find my own executable (/proc/self/exe): %s",
			n < 0 ? strerror(errno) : "path too long");
	cfg->self[n] = '\0';

	if (cfg->use[L_LIBTORCH]) {
		env = getenv("TSBENCH_LIBTORCH");
		if (env && *env) {
			snprintf(cfg->libtorch, sizeof cfg->libtorch, "%s", env);
			if (!is_file(cfg->libtorch, 1))
				die("TSBENCH_LIBTORCH=%s is not an executable file", env);
		} else if (find_helper(cfg->self, LIBTORCH_NAME,
				TSBENCH_PKGLIBEXECDIR, NULL, 1, cfg->libtorch,
				sizeof cfg->libtorch) != 0) {
			fprintf(stderr, "%s: --vs-libtorch: the libtorch comparator "
				"'%s' is not built (it needs libtorch-dev: `make "
				"bench/%s`), or set TSBENCH_LIBTORCH; going on without "
				"it\n", prog, LIBTORCH_NAME, LIBTORCH_NAME);
			cfg->use[L_LIBTORCH] = 0;
		}
	}
	if (cfg->use[L_TORCHPY]) {
		env = getenv("TSBENCH_TORCH_PY");
		if (env && *env) {
			snprintf(cfg->torch_py, sizeof cfg->torch_py, "%s", env);
			if (!is_file(cfg->torch_py, 0))
				die("TSBENCH_TORCH_PY=%s is not a file", env);
		} else if (find_helper(cfg->self, TORCH_PY_NAME,
				TSBENCH_PKGDATADIR, TSBENCH_SRCDIR, 0,
				cfg->torch_py, sizeof cfg->torch_py) != 0) {
			fprintf(stderr, "%s: --vs-torch: %s not found (set "
				"TSBENCH_TORCH_PY); going on without it\n", prog,
				TORCH_PY_NAME);
			cfg->use[L_TORCHPY] = 0;
		}
		if (cfg->use[L_TORCHPY] && access(cfg->python, X_OK) != 0) {
			fprintf(stderr, "%s: --vs-torch: %s: %s; going on without "
				"it\n", prog, cfg->python, strerror(errno));
			cfg->use[L_TORCHPY] = 0;
		}
	}
	cfg->progress = !cfg->quiet && isatty(STDERR_FILENO);
	signal(SIGPIPE, SIG_IGN);

	for (i = optind; i < argc; i++)
		if ((cfg->fleet ? bench_fleet : bench_archive)(cfg, argv[i],
				(size_t)(i - optind), (size_t)(argc - optind)) != 0)
			status = 1;
	free(cfg);
	return status;
}
