/*
 * bench_time.h - the clock and the median the benchmark programs share
 * (tsbench, inflate_bench, page_cost, load_loop, upload_bench).  Header only: each
 * program is one file and links nothing of the others.
 */
#ifndef TSL_BENCH_TIME_H
#define TSL_BENCH_TIME_H

#include <stddef.h>
#include <stdlib.h>
#include <time.h>

/* CLOCK_MONOTONIC in milliseconds and in microseconds. */
static inline double bench_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static inline double bench_now_us(void)
{
	return bench_now_ms() * 1e3;
}

/* qsort order of doubles (NaN-free input). */
static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Sorts v[0..n) (n > 0) and returns its median. */
static inline double bench_median(double *v, size_t n)
{
	qsort(v, n, sizeof *v, bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#endif
