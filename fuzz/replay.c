/*
 * replay.c - the regression replay driver: runs every file of the seed
 * corpora (fuzz/corpus/<target>/) and of the crashes found so far
 * (fuzz/crashes/<target>/) through the fuzz targets' entry points, without
 * libFuzzer (built by gcc in `make check`, or with any sanitizer).
 *
 *   tests/test_fuzz_replay                  all targets, dirs under $TSL_SRCDIR
 *   tests/test_fuzz_replay TARGET PATH...   one target (zip, pickle, load,
 *                                      class_header, inflate) over
 *                                      files or folders
 *
 * A crash is a crash (abort, sanitizer report); a hang is caught by an
 * alarm of FUZZ_REPLAY_TIMEOUT seconds per input (default 60).  Exits 0
 * when every input ran, 77 (skip) when no input was found, 1 on usage
 * errors.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fuzz_zip_one_input(const uint8_t *data, size_t size);
int fuzz_pickle_one_input(const uint8_t *data, size_t size);
int fuzz_load_one_input(const uint8_t *data, size_t size);
int fuzz_class_header_one_input(const uint8_t *data, size_t size);
int fuzz_inflate_one_input(const uint8_t *data, size_t size);

static const struct target {
	const char *name;
	int (*fn)(const uint8_t *, size_t);
} targets[] = {
	{ "zip", fuzz_zip_one_input },
	{ "pickle", fuzz_pickle_one_input },
	{ "load", fuzz_load_one_input },
	{ "class_header", fuzz_class_header_one_input },
	{ "inflate", fuzz_inflate_one_input },
};
#define NTARGETS (sizeof targets / sizeof targets[0])

static unsigned timeout_s = 60;
static const char *current;

static void on_alarm(int sig)
{
	static const char msg[] = "fuzz_replay: timeout on ";

	(void)sig;
	if (write(2, msg, sizeof msg - 1) < 0 ||
		write(2, current, strlen(current)) < 0 || write(2, "\n", 1) < 0)
		_exit(2);
	_exit(2);
}

static uint8_t *slurp(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, len = 0, n;

	if (!f)
		return NULL;
	do {
		if (len == cap) {
			uint8_t *nb;

			cap = cap ? cap * 2 : 65536;
			nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n);
	if (ferror(f)) {
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	/* an exact-size copy, so that ASan sees reads past the end */
	{
		uint8_t *exact = malloc(len ? len : 1);

		if (!exact) {
			free(buf);
			return NULL;
		}
		memcpy(exact, buf, len);
		free(buf);
		*size = len;
		return exact;
	}
}

static int run_file(const struct target *t, const char *path)
{
	size_t size = 0;
	uint8_t *data = slurp(path, &size);

	if (!data) {
		fprintf(stderr, "fuzz_replay: cannot read %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	current = path;
	alarm(timeout_s);
	t->fn(data, size);
	alarm(0);
	free(data);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* run every regular file under path (recursively), sorted; returns the
 * number of files run, -1 on a read error */
static long run_path(const struct target *t, const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	long total = 0;

	if (stat(path, &st) != 0)
		return 0;
	if (S_ISREG(st.st_mode))
		return run_file(t, path) == 0 ? 1 : -1;
	if (!S_ISDIR(st.st_mode) || !(d = opendir(path)))
		return 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || strcmp(de->d_name, "README") == 0)
			continue;
		if (n == cap) {
			char **nn;

			cap = cap ? 2 * cap : 64;
			nn = realloc(names, cap * sizeof *names);
			if (!nn)
				abort();
			names = nn;
		}
		names[n] = malloc(strlen(path) + strlen(de->d_name) + 2);
		if (!names[n])
			abort();
		sprintf(names[n], "%s/%s", path, de->d_name);
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof *names, cmp_str);
	for (size_t i = 0; i < n; i++) {
		long k = total < 0 ? 0 : run_path(t, names[i]);

		if (k < 0)
			total = -1;
		else if (total >= 0)
			total += k;
		free(names[i]);
	}
	free(names);
	return total;
}

static const struct target *find_target(const char *name)
{
	if (strncmp(name, "fuzz_", 5) == 0)
		name += 5;
	for (size_t i = 0; i < NTARGETS; i++)
		if (strcmp(targets[i].name, name) == 0)
			return &targets[i];
	return NULL;
}

int main(int argc, char **argv)
{
	const char *env = getenv("FUZZ_REPLAY_TIMEOUT");
	const char *src = getenv("TSL_SRCDIR");
	long total = 0;

	if (env && atoi(env) > 0)
		timeout_s = (unsigned)atoi(env);
	signal(SIGALRM, on_alarm);
	if (argc >= 2) {
		const struct target *t = find_target(argv[1]);

		if (!t || argc < 3) {
			fprintf(stderr, "usage: %s [zip|pickle|load PATH...]\n",
				argv[0]);
			return 1;
		}
		for (int i = 2; i < argc; i++) {
			long k = run_path(t, argv[i]);

			if (k < 0)
				return 1;
			total += k;
		}
		printf("fuzz_replay: %s: %ld inputs\n", t->name, total);
		return total ? 0 : 77;
	}
	if (!src || !*src)
		src = ".";
	for (size_t i = 0; i < NTARGETS; i++) {
		static const char *const kinds[] = { "corpus", "crashes" };
		long sub[2] = { 0, 0 };

		for (int k = 0; k < 2; k++) {
			char path[4096];

			snprintf(path, sizeof path, "%s/fuzz/%s/fuzz_%s", src,
				kinds[k], targets[i].name);
			sub[k] = run_path(&targets[i], path);
			if (sub[k] < 0)
				return 1;
			total += sub[k];
		}
		printf("fuzz_replay: fuzz_%s: %ld corpus inputs, %ld crash "
			"regressions\n", targets[i].name, sub[0], sub[1]);
	}
	if (!total) {
		printf("fuzz_replay: no corpus found under %s/fuzz\n", src);
		return 77;
	}
	printf("fuzz_replay: %ld inputs replayed, no crash\n", total);
	return 0;
}
