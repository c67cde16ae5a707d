/*
 * page_cost.c - what a fresh anonymous page and a page-cache page cost on
 * this machine, the figures behind lib/common's populate-ahead rule
 * (tsl__populate_ahead, doc/DESIGN.md "Page faults").
 *
 *   bench/page_cost [-n PAGES] [-r ROUNDS] [FILE]
 *
 * Each round, in a fresh mapping of PAGES pages (default 256):
 *   fault         one write per page, each page faulted in
 *   populate K    madvise(MADV_POPULATE_WRITE) K pages at a time (K = 1,
 *                 4, 16, 64), then one write per page; the two parts are
 *                 timed apart: what populating costs, and what the first
 *                 touch of a populated page still costs (on a VM whose
 *                 hypervisor maps each guest page on first use, most)
 *   unused        populate only: what a populated page costs when the load
 *                 never writes it
 * With FILE (read once first, so that it is in the page cache): one read
 * per page of a private read-only mapping, faulted (the kernel maps up to
 * 16 pages around each fault) and after MAP_POPULATE.
 * Prints the median over ROUNDS (default 5) in us per page.  Not
 * installed; no figure here is asserted by a test.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench_time.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define PAGE 4096u
#define MAX_ROUNDS 101

static unsigned char *fresh(size_t pages)
{
	void *p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
		MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("page_cost: mmap");
		exit(1);
	}
	return p;
}

/* k == 0: fault each page; k > 0: populate k pages a call first.  touch
 * false: populate only.  *pop_us, *touch_us: the two parts, per page. */
static int anon_round(size_t pages, size_t k, int touch, double *pop_us,
	double *touch_us)
{
	volatile unsigned char *p = fresh(pages);
	double t0, t1, t2;
	size_t i;

	t0 = bench_now_us();
	for (i = 0; k && i < pages; i += k) {
		size_t n = pages - i < k ? pages - i : k;

		if (madvise((void *)(p + i * PAGE), n * PAGE,
			MADV_POPULATE_WRITE) != 0) {
			munmap((void *)p, pages * PAGE);
			return -1;   /* before Linux 5.14 */
		}
	}
	t1 = bench_now_us();
	for (i = 0; touch && i < pages; i++)
		p[i * PAGE] = 1;
	t2 = bench_now_us();
	munmap((void *)p, pages * PAGE);
	*pop_us = (t1 - t0) / (double)pages;
	*touch_us = (t2 - t1) / (double)pages;
	return 0;
}

static int file_round(const char *path, size_t pages, int populate,
	double *us)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	const volatile unsigned char *p;
	unsigned sum = 0;
	double t0, t1;
	void *m;
	size_t i;

	if (fd < 0)
		return -1;
	m = mmap(NULL, pages * PAGE, PROT_READ,
		MAP_PRIVATE | (populate ? MAP_POPULATE : 0), fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return -1;
	p = m;
	t0 = bench_now_us();
	for (i = 0; i < pages; i++)
		sum += p[i * PAGE];
	t1 = bench_now_us();
	munmap(m, pages * PAGE);
	*us = (t1 - t0) / (double)pages;
	return (int)(sum & 0);
}

static void usage(void)
{
	fprintf(stderr, "usage: page_cost [-n PAGES] [-r ROUNDS] [FILE]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const size_t ks[] = { 1, 4, 16, 64 };
	double a[MAX_ROUNDS], b[MAX_ROUNDS];
	unsigned long pages = 256, rounds = 5;
	const char *file = NULL;
	unsigned r;
	int c;

	while ((c = getopt(argc, argv, "n:r:")) != -1) {
		char *end;

		switch (c) {
		case 'n':
			errno = 0;
			pages = strtoul(optarg, &end, 10);
			if (errno || *end || pages < 1 || pages > (1ul << 20))
				usage();
			break;
		case 'r':
			errno = 0;
			rounds = strtoul(optarg, &end, 10);
			if (errno || *end || rounds < 1 || rounds > MAX_ROUNDS)
				usage();
			break;
		default:
			usage();
		}
	}
	if (optind + 1 < argc)
		usage();
	if (optind < argc)
		file = argv[optind];

	printf("%lu pages, median of %lu rounds, us per page\n", pages, rounds);
	for (r = 0; r < rounds; r++)
		anon_round(pages, 0, 1, &b[r], &a[r]);
	printf("  anon fault + write              %8.2f\n", bench_median(a, rounds));
	for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
		double pop, tch;

		for (r = 0; r < rounds; r++)
			if (anon_round(pages, ks[i], 1, &a[r], &b[r]) != 0) {
				printf("  MADV_POPULATE_WRITE: not offered "
					"(Linux < 5.14)\n");
				return 0;
			}
		pop = bench_median(a, rounds);
		tch = bench_median(b, rounds);
		printf("  anon populate %2zu a call, write  %8.2f  "
			"(populate %.2f + first write %.2f)\n", ks[i],
			pop + tch, pop, tch);
	}
	for (r = 0; r < rounds; r++)
		anon_round(pages, 16, 0, &a[r], &b[r]);
	printf("  anon populated, never written   %8.2f\n", bench_median(a, rounds));

	if (file) {
		struct stat st;
		int fd = open(file, O_RDONLY | O_CLOEXEC);
		char buf[1 << 16];
		size_t fpages;

		if (fd < 0 || fstat(fd, &st) != 0) {
			fprintf(stderr, "page_cost: %s: %s\n", file,
				strerror(errno));
			return 1;
		}
		while (read(fd, buf, sizeof buf) > 0)
			;   /* into the page cache */
		close(fd);
		fpages = (size_t)st.st_size / PAGE;
		if (fpages > pages)
			fpages = pages;
		if (!fpages) {
			fprintf(stderr, "page_cost: %s: under a page\n", file);
			return 1;
		}
		for (r = 0; r < rounds; r++)
			if (file_round(file, fpages, 0, &a[r]) ||
				file_round(file, fpages, 1, &b[r])) {
				fprintf(stderr, "page_cost: %s: mmap failed\n",
					file);
				return 1;
			}
		printf("  file page (cached), faulted     %8.2f  (%zu pages)\n",
			bench_median(a, rounds), fpages);
		printf("  file page (cached), populated   %8.2f\n",
			bench_median(b, rounds));
	}
	return 0;
}
