/*
 * testutil.h - small helpers shared by the cmocka test programs.
 *
 * Include after config.h.  Everything here is static, so each test program
 * gets its own copy; unused helpers cost nothing.
 *
 *   data_path(name)          $TSL_TEST_DATA/name (malloc'd)
 *   srcdir_path(rel)         $TSL_SRCDIR/rel (malloc'd)
 *   shared_corpus_path(rel)  $TSL_SRCDIR/../shared/corpus/rel if that folder
 *                            exists, else NULL (callers skip with a message)
 *   tu_corpus_part(pattern)  splits the corpus tests into their own program
 *                            (SKIP without the corpus): see below
 *   read_file(path, &size)   the whole file in a malloc'd buffer, NULL on error
 *   write_temp_file(d, n)    a new temporary file holding d[0..n) (path,
 *                            malloc'd; remove_temp_file() deletes and frees;
 *                            any left when a test fails go at exit)
 *   assert_tsl_fail(rc, err, code)   rc == code, err.code == code and a
 *                            non-empty message
 */
#ifndef TSL_TESTUTIL_H
#define TSL_TESTUTIL_H

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tsload.h"

#define TU_UNUSED __attribute__((unused))

/* a + "/" + b, malloc'd; aborts on out of memory */
static TU_UNUSED char *tu_join(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	char *s = malloc(na + nb + 2);

	if (!s)
		abort();
	memcpy(s, a, na);
	s[na] = '/';
	memcpy(s + na + 1, b, nb + 1);
	return s;
}

static TU_UNUSED const char *tu_srcdir(void)
{
	const char *d = getenv("TSL_SRCDIR");

	return d && *d ? d : ".";
}

/* $TSL_TEST_DATA/name, or <srcdir>/tests/data/name.  Free the result. */
static TU_UNUSED char *data_path(const char *name)
{
	const char *d = getenv("TSL_TEST_DATA");
	char *dir, *p;

	if (d && *d)
		return tu_join(d, name);
	dir = tu_join(tu_srcdir(), "tests/data");
	p = tu_join(dir, name);
	free(dir);
	return p;
}

/* $TSL_SRCDIR/rel.  Free the result. */
static TU_UNUSED char *srcdir_path(const char *rel)
{
	return tu_join(tu_srcdir(), rel);
}

/* $TSL_SRCDIR/../shared/corpus/rel when the shared corpus exists (it is not
 * part of the project), else NULL.  Free the result. */
static TU_UNUSED char *shared_corpus_path(const char *rel)
{
	char *root = tu_join(tu_srcdir(), "../shared/corpus");
	struct stat st;
	char *p;

	if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode)) {
		free(root);
		return NULL;
	}
	p = tu_join(root, rel);
	free(root);
	return p;
}

/*
 * Tests that need the shared corpus (../shared/corpus, not in a clean
 * clone): a cmocka program cannot report some of its tests as skipped (the
 * automake driver sees one exit status), so such a program is built twice
 * (Makefile.am): as itself, where the corpus tests (`pattern`, a cmocka
 * filter) are left out, and with -DTSL_TEST_CORPUS_PART as <name>_corpus,
 * which runs only them, or exits 77 (SKIP in the summary) when the corpus
 * is absent.  Call first in main; a non-zero result is the exit status.
 */
static TU_UNUSED int tu_corpus_part(const char *pattern)
{
#ifdef TSL_TEST_CORPUS_PART
	char *root = shared_corpus_path(".");

	if (!root) {
		printf("SKIP: no shared corpus at %s/../shared/corpus\n",
			tu_srcdir());
		return 77;
	}
	free(root);
	cmocka_set_test_filter(pattern);
#else
	cmocka_set_skip_filter(pattern);
#endif
	return 0;
}

/* The whole file in a malloc'd buffer (one spare NUL byte after it, not
 * counted in *size).  NULL on error. */
static TU_UNUSED uint8_t *read_file(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, len = 0;

	if (!f)
		return NULL;
	for (;;) {
		size_t n;

		if (len + 1 >= cap) {
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
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	buf[len] = 0;
	*size = len;
	return buf;
}

/* Like read_file, failing the test when the file cannot be read. */
static TU_UNUSED uint8_t *read_file_or_fail(const char *path, size_t *size)
{
	uint8_t *b = read_file(path, size);

	if (!b)
		fail_msg("cannot read %s: %s", path, strerror(errno));
	return b;
}

/* A folder for temporary files on a real disk when possible: $TMPDIR, then
 * /var/tmp, then /tmp. */
static TU_UNUSED const char *tu_tmpdir(void)
{
	const char *d = getenv("TMPDIR");

	if (d && *d && access(d, W_OK) == 0)
		return d;
	if (access("/var/tmp", W_OK) == 0)
		return "/var/tmp";
	return "/tmp";
}

/* Temporary files not yet removed: a failing test jumps out before its
 * remove_temp_file(), so whatever is left goes at exit. */
#define TU_MAX_TEMPS 64
static char *tu_temps[TU_MAX_TEMPS];

static void tu_remove_left_temps(void)
{
	for (size_t i = 0; i < TU_MAX_TEMPS; i++)
		if (tu_temps[i]) {
			unlink(tu_temps[i]);
			free(tu_temps[i]);
			tu_temps[i] = NULL;
		}
}

static TU_UNUSED void tu_track_temp(const char *path, bool add)
{
	static bool registered;

	if (!registered) {
		atexit(tu_remove_left_temps);
		registered = true;
	}
	for (size_t i = 0; i < TU_MAX_TEMPS; i++) {
		if (add && !tu_temps[i]) {
			tu_temps[i] = strdup(path);
			return;
		}
		if (!add && tu_temps[i] && strcmp(tu_temps[i], path) == 0) {
			free(tu_temps[i]);
			tu_temps[i] = NULL;
			return;
		}
	}
}

/* Write data[0..size) to a new temporary file; returns its path (malloc'd)
 * or fails the test.  Files not removed with remove_temp_file() are
 * removed at exit. */
static TU_UNUSED char *write_temp_file(const void *data, size_t size)
{
	char *path = tu_join(tu_tmpdir(), "tsload-test-XXXXXX");
	const uint8_t *p = data;
	int fd = mkstemp(path);

	if (fd < 0)
		fail_msg("mkstemp %s: %s", path, strerror(errno));
	tu_track_temp(path, true);
	while (size) {
		ssize_t n = write(fd, p, size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			unlink(path);
			fail_msg("writing %s: %s", path, strerror(errno));
		}
		p += n;
		size -= (size_t)n;
	}
	if (close(fd) != 0)
		fail_msg("closing %s: %s", path, strerror(errno));
	return path;
}

static TU_UNUSED void remove_temp_file(char *path)
{
	if (path) {
		unlink(path);
		tu_track_temp(path, false);
		free(path);
	}
}

/* A failure must carry the code in both places and say something. */
#define assert_tsl_fail(rc, err, want) do { \
	int tu_rc_ = (rc); \
	if (tu_rc_ != (want) || (err).code != (want) || !(err).message[0]) \
		fail_msg("expected %s with a message, got rc %s, err.code %s, " \
			"message '%s'", tsl_status_name(want), \
			tsl_status_name(tu_rc_), tsl_status_name((err).code), \
			(err).message); \
} while (0)

/* s must contain sub. */
#define assert_contains(s, sub) do { \
	const char *tu_s_ = (s), *tu_sub_ = (sub); \
	if (!tu_s_ || !strstr(tu_s_, tu_sub_)) \
		fail_msg("'%s' does not contain '%s'", tu_s_ ? tu_s_ : "(null)", \
			tu_sub_); \
} while (0)

#endif
