/*
 * load_loop.c - open, load and free one archive N times in one process:
 * the load's steady state, without what a fresh process pays (first use of
 * code and data pages, the heap growing), to set beside tsbench's fresh
 * processes (doc/PERFORMANCE.md, "Issue 15, fifth round").
 *
 *   bench/load_loop [-n LOADS] ARCHIVE
 *
 * Each load is tsl_archive_open_path + tsl_model_load (what tsbench calls
 * "tsload load"); the frees are not timed.  Prints the best, median and
 * mean load in ms and the minor page faults per load (getrusage over all
 * loads, frees included: blocks given back to the kernel at the free are
 * faulted in again by the next load).  Not installed; no figure here is
 * asserted by a test.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <tsload.h>

#include "bench_time.h"

#define MAX_LOADS 100000

static void usage(void)
{
	fprintf(stderr, "usage: load_loop [-n LOADS] ARCHIVE\n");
	exit(2);
}

int main(int argc, char **argv)
{
	long n = 200;
	double *t, sum = 0, med;
	struct rusage r0, r1;
	char *end;
	int c;

	while ((c = getopt(argc, argv, "n:")) != -1) {
		if (c != 'n')
			usage();
		errno = 0;
		n = strtol(optarg, &end, 10);
		if (errno || *end || n < 1 || n > MAX_LOADS) {
			fprintf(stderr, "load_loop: -n wants 1 to %d loads\n",
				MAX_LOADS);
			usage();
		}
	}
	if (optind != argc - 1)
		usage();
	t = malloc((size_t)n * sizeof *t);
	if (!t) {
		fprintf(stderr, "load_loop: out of memory\n");
		return 1;
	}
	getrusage(RUSAGE_SELF, &r0);
	for (long i = 0; i < n; i++) {
		tsl_archive *ar = NULL;
		tsl_model *m = NULL;
		tsl_error err;
		double t0 = bench_now_ms();

		if (tsl_archive_open_path(&ar, argv[optind], NULL, &err) ||
			tsl_model_load(&m, ar, NULL, &err)) {
			fprintf(stderr, "load_loop: %s: %s%s%s\n", argv[optind],
				err.record[0] ? err.record : "",
				err.record[0] ? ": " : "", err.message);
			tsl_archive_free(ar);
			free(t);
			return 1;
		}
		t[i] = bench_now_ms() - t0;
		sum += t[i];
		tsl_model_free(m);
		tsl_archive_free(ar);
	}
	getrusage(RUSAGE_SELF, &r1);
	med = bench_median(t, (size_t)n);
	printf("%s: %ld loads in one process\n", argv[optind], n);
	printf("  load best %.3f ms, median %.3f ms, mean %.3f ms\n", t[0], med,
		sum / (double)n);
	printf("  minor faults per load and free %.1f\n",
		(double)(r1.ru_minflt - r0.ru_minflt) / (double)n);
	free(t);
	return 0;
}
