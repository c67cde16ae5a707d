/*
 * inflate_bench.c - tsload's deflate decoder (lib/zip/inflate.c) against
 * libarchive's gzip filter (zlib), the decoder it replaced, on the
 * deflated records of real archives.  Not installed; built by `make`
 * (noinst) from the internal library.
 *
 *   bench/inflate_bench [-n ROUNDS] ARCHIVE...
 *
 * For each archive: every deflated record is decoded once by each decoder
 * and the outputs compared; then ROUNDS (default 15) passes over all of
 * them are timed per decoder, alternating, and the median pass is printed
 * with the ratio.  "libarchive" is one reader (gzip filter + raw format)
 * per record, as tsload did before; its set-up is part of what it costs.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "zip/inflate.h"
#include "zip/zip.h"
#include "../tests/ref_inflate.h"
#include "bench_time.h"

struct rec {
	const uint8_t *in;
	size_t clen, ulen;
	uint8_t *out;
};

/* One record through a fresh libarchive reader: 0 when it gave ulen bytes. */
static int by_libarchive(const struct rec *r, uint8_t *out)
{
	size_t got;

	return ref_inflate_into(r->in, r->clen, out, r->ulen, &got) == REF_OK &&
		got == r->ulen ? 0 : -1;
}

static int bench_archive(const char *path, int rounds)
{
	tsl_options opts = TSL_OPTIONS_INIT;
	tsl_limits lim;
	tsl_error err;
	tsl_zip *z = NULL;
	struct rec *v = NULL;
	size_t n = 0, bytes = 0;
	double *t_ours = NULL, *t_la = NULL;
	struct stat st;
	uint8_t *map;
	int fd = open(path, O_RDONLY), rc = 1;

	if (fd < 0 || fstat(fd, &st) != 0 || st.st_size == 0) {
		perror(path);
		if (fd >= 0)
			close(fd);
		return 1;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		perror(path);
		return 1;
	}
	if (tsl__limits_from_options(&lim, &opts, &err) != TSL_OK ||
		tsl__zip_open(&z, map, (size_t)st.st_size, &lim, NULL, &err) !=
		TSL_OK) {
		fprintf(stderr, "%s: %s\n", path, err.message);
		goto out;
	}
	v = calloc(z->n ? z->n : 1, sizeof *v);
	t_ours = calloc((size_t)rounds, sizeof *t_ours);
	t_la = calloc((size_t)rounds, sizeof *t_la);
	if (!v || !t_ours || !t_la)
		goto out;
	for (size_t i = 0; i < z->n; i++) {
		tsl_zip_entry *e = &z->entries[i];
		uint64_t off;
		uint8_t *check;
		tsl_inflate_error ie;

		if (tsl__zip_method(e) != 8 || tsl__zip_usize(e) == 0 ||
			tsl__zip_data_offset(z, e, &off, &err) != TSL_OK)
			continue;
		v[n].in = map + off;
		v[n].clen = (size_t)tsl__zip_csize(e);
		v[n].ulen = (size_t)tsl__zip_usize(e);
		v[n].out = malloc(v[n].ulen);
		check = malloc(v[n].ulen);
		if (!v[n].out || !check) {
			free(check);
			goto out;
		}
		if (tsl__inflate(v[n].in, v[n].clen, v[n].out, v[n].ulen,
			&ie) != TSL_OK || by_libarchive(&v[n], check) != 0 ||
			memcmp(v[n].out, check, v[n].ulen) != 0) {
			fprintf(stderr, "%s: %s: the decoders disagree\n", path,
				TSL_ZIP_ENAME(e));
			free(check);
			n++;
			goto out;
		}
		free(check);
		bytes += v[n].ulen;
		n++;
	}
	if (!n) {
		printf("%s: no deflated records\n", path);
		rc = 0;
		goto out;
	}
	for (int r = 0; r < rounds; r++) {
		double t = bench_now_ms();

		for (size_t i = 0; i < n; i++) {
			tsl_inflate_error ie;

			if (tsl__inflate(v[i].in, v[i].clen, v[i].out, v[i].ulen,
				&ie) != TSL_OK)
				goto out;
		}
		t_ours[r] = bench_now_ms() - t;
		t = bench_now_ms();
		for (size_t i = 0; i < n; i++)
			if (by_libarchive(&v[i], v[i].out) != 0)
				goto out;
		t_la[r] = bench_now_ms() - t;
	}
	qsort(t_ours, (size_t)rounds, sizeof *t_ours, bench_cmp_double);
	qsort(t_la, (size_t)rounds, sizeof *t_la, bench_cmp_double);
	printf("%s: %zu deflated records, %zu bytes decoded per pass\n"
		"  inflate.c   %.3f ms per pass (median of %d; min %.3f)\n"
		"  libarchive  %.3f ms per pass (median of %d; min %.3f)\n"
		"  ratio       %.2f\n", path, n, bytes, t_ours[rounds / 2],
		rounds, t_ours[0], t_la[rounds / 2], rounds, t_la[0],
		t_la[rounds / 2] / t_ours[rounds / 2]);
	rc = 0;
out:
	for (size_t i = 0; v && i < n; i++)
		free(v[i].out);
	free(v);
	free(t_ours);
	free(t_la);
	if (z)
		tsl__zip_free(z);
	munmap(map, (size_t)st.st_size);
	return rc;
}

int main(int argc, char **argv)
{
	int rounds = 15, i = 1, rc = 0;

	if (argc > 2 && strcmp(argv[1], "-n") == 0) {
		rounds = atoi(argv[2]);
		i = 3;
	}
	if (i >= argc || rounds < 1 || rounds > 100000) {
		fprintf(stderr, "usage: %s [-n ROUNDS] ARCHIVE...\n", argv[0]);
		return 2;
	}
	for (; i < argc; i++)
		rc |= bench_archive(argv[i], rounds);
	return rc;
}
