/* prefault.c - a helper thread that faults in the pages a load is about to
 * write, on the other core, while the load runs (see common.h).
 *
 * Why: on the VMs this project is measured on, the first access to a fresh
 * page costs 5-10 us, most of it the hypervisor's (a shadow page-table
 * entry made on first use, per address space); a 20,000-tensor model's
 * load touched 2,300 such pages, three quarters of its time.  A kernel
 * call does not help: madvise(MADV_POPULATE_WRITE) makes the guest's page
 * table entries (0.7 us a page) but the first user-mode access still pays
 * the rest, and a kernel-mode read (writev) pays it separately.  A read
 * from user mode by any thread of the process does, once for all threads.
 * So the helper populates a stretch and then reads one byte of each page.
 *
 * The helper never writes, and reads with one asm load per page whose
 * value is discarded: the owner may be writing the same page at the same
 * time, which is harmless to the hardware and invisible to the compiler
 * and the sanitizers (a C load would be a data race in the C memory
 * model).  Memory a lane covers stays mapped while the helper is in it:
 * tsl__prefault_drop() waits for the helper to leave (a Dekker pair of
 * sequentially consistent flags), and every free of lane memory drops it
 * first (tsl__prefault_forget).
 */
#include "config.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

#include "common.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23   /* Linux 5.14 */
#endif

#define PAGE ((size_t)4096)
/* the helper stays this far ahead of a forward lane's published front
 * (which trails the owner by at most TSL_PREFAULT_PUBLISH) ... */
#define GAP ((size_t)16 << 10)
/* ... and never further than this: what a forward lane's owner may not
 * use (an arena chunk sized by a guess) is never touched past it */
#define AHEAD ((size_t)128 << 10)
/* pages per step: the helper checks for stop and new lanes between steps
 * (a step is about 25 us), so stopping it waits at most one step */
#define STEP ((size_t)4 * PAGE)

#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))
#define HAVE_PREFAULT 1
#else
#define HAVE_PREFAULT 0
#endif

struct lane {
	_Atomic(unsigned char *) base; /* NULL: no work (set last) */
	size_t cap;
	bool backward;                 /* whole block, from its end */
	_Atomic size_t front;          /* forward: bytes the owner reached */
	_Atomic unsigned gen;          /* bumped at every (re)assignment */
	_Atomic int busy;              /* the helper is in this lane */
};

struct tsl_prefault {
	pthread_t thread;
	_Atomic int stop;
	_Atomic int sleeping;
	_Atomic uint32_t seq;          /* futex word: bumped by owners */
	_Atomic uint64_t pages;        /* pages the helper read */
	size_t lane_min;               /* smaller blocks get no lane */
	struct lane lanes[TSL_PF_LANES];
};

static __thread tsl_prefault *tls_pf;

static inline void touch(const unsigned char *p)
{
#if defined(__x86_64__)
	unsigned char v;

	__asm__ volatile("movb (%1), %0" : "=q"(v) : "r"(p) : "memory");
	(void)v;
#elif defined(__aarch64__)
	unsigned v;

	__asm__ volatile("ldrb %w0, [%1]" : "=r"(v) : "r"(p) : "memory");
	(void)v;
#else
	(void)p;
#endif
}

static inline void relax(void)
{
#if defined(__x86_64__)
	__asm__ volatile("pause");
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

/* Make [p, p + len) present: populate (writable) then read each page. */
static void fault_in(tsl_prefault *pf, unsigned char *p, size_t len)
{
	uintptr_t from = (uintptr_t)p & ~(uintptr_t)(PAGE - 1);
	uintptr_t to = ((uintptr_t)p + len + PAGE - 1) &
		~(uintptr_t)(PAGE - 1);

	if (to <= from)
		return;
	(void)madvise((void *)from, (size_t)(to - from), MADV_POPULATE_WRITE);
	for (uintptr_t a = from; a < to; a += PAGE)
		touch((const unsigned char *)a);
	atomic_fetch_add_explicit(&pf->pages, (to - from) / PAGE,
		memory_order_relaxed);
}

struct lane_pos {
	unsigned gen;
	size_t pos;      /* forward: done up to; backward: done down to */
};

/* One step in lane i; false when it has nothing to do now. */
static bool lane_step(tsl_prefault *pf, int i, struct lane_pos *st)
{
	struct lane *l = &pf->lanes[i];
	unsigned char *base;
	bool did = false;

	atomic_store(&l->busy, 1);
	base = atomic_load(&l->base);
	if (base) {
		unsigned g = atomic_load(&l->gen);
		size_t cap = l->cap, f;

		if (g != st->gen) {
			st->gen = g;
			st->pos = l->backward ? cap : 0;
		}
		f = atomic_load_explicit(&l->front, memory_order_relaxed);
		if (l->backward) {
			if (st->pos > f) {
				size_t from = st->pos - f > STEP ?
					st->pos - STEP : f;

				fault_in(pf, base + from, st->pos - from);
				st->pos = from;
				did = true;
			}
		} else if (f < cap) {
			size_t from = cap - f > GAP ? f + GAP : cap;
			size_t to = cap - f > AHEAD ? f + AHEAD : cap;

			if (from < st->pos)
				from = st->pos;
			if (from < to) {
				if (to - from > STEP)
					to = from + STEP;
				fault_in(pf, base + from, to - from);
				st->pos = to;
				did = true;
			}
		}
	}
	atomic_store(&l->busy, 0);
	return did;
}

static void wait_for_work(tsl_prefault *pf, uint32_t seen)
{
#ifdef __linux__
	struct timespec ts = { 0, 1000000 };   /* 1 ms at most */

	(void)syscall(SYS_futex, (uint32_t *)&pf->seq, FUTEX_WAIT_PRIVATE,
		seen, &ts, NULL, 0);
#else
	(void)pf;
	(void)seen;
#endif
}

static void *helper(void *arg)
{
	tsl_prefault *pf = arg;
	struct lane_pos st[TSL_PF_LANES];

	memset(st, 0, sizeof st);
	for (int i = 0; i < TSL_PF_LANES; i++)
		st[i].gen = UINT_MAX;
	while (!atomic_load(&pf->stop)) {
		uint32_t seen = atomic_load(&pf->seq);
		bool did = false;

		for (int i = 0; i < TSL_PF_LANES; i++)
			did |= lane_step(pf, i, &st[i]);
		if (did)
			continue;
		atomic_store(&pf->sleeping, 1);
		if (!atomic_load(&pf->stop) && atomic_load(&pf->seq) == seen)
			wait_for_work(pf, seen);
		atomic_store(&pf->sleeping, 0);
	}
	return NULL;
}

static void kick(tsl_prefault *pf)
{
	atomic_fetch_add(&pf->seq, 1);
#ifdef __linux__
	if (atomic_load(&pf->sleeping))
		(void)syscall(SYS_futex, (uint32_t *)&pf->seq,
			FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
#endif
}

/* ---- the rule ------------------------------------------------------------ */

int tsl__prefault_rule(uint64_t expect, long cpus, const char *env)
{
	if (env && env[0] == '0' && !env[1])
		return 0;
	if (!HAVE_PREFAULT)
		return 0;
	if (env && env[0] == '1' && !env[1])
		return 1;
	return cpus >= 2 && expect >= TSL_PREFAULT_MIN;
}

static long cpus_usable(void)
{
#ifdef __linux__
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof set, &set) == 0)
		return CPU_COUNT(&set);
#endif
	return sysconf(_SC_NPROCESSORS_ONLN);
}

/* ---- the owner's side ------------------------------------------------------ */

tsl_prefault *tsl__prefault_begin(uint64_t expect, bool off)
{
	tsl_prefault *pf;
	pthread_attr_t attr;
	const char *env;
	int rc;

	env = getenv("TSL_PREFAULT");
	if (off || tls_pf || !tsl__prefault_rule(expect, cpus_usable(), env))
		return NULL;
	pf = calloc(1, sizeof *pf);
	if (!pf)
		return NULL;
	/* TSL_PREFAULT=1 (tests, benchmarks): every block is a lane */
	pf->lane_min = env && !strcmp(env, "1") ? 1 : TSL_POPULATE_WINDOW;
	if (pthread_attr_init(&attr)) {
		free(pf);
		return NULL;
	}
	/* it needs a few hundred bytes: a small stack is fewer pages */
	(void)pthread_attr_setstacksize(&attr, (size_t)64 << 10);
	rc = pthread_create(&pf->thread, &attr, helper, pf);
	pthread_attr_destroy(&attr);
	if (rc) {
		free(pf);
		return NULL;   /* a hint: the load goes on without it */
	}
	tls_pf = pf;
	return pf;
}

uint64_t tsl__prefault_end(tsl_prefault *pf)
{
	uint64_t pages;

	if (!pf)
		return 0;
	atomic_store(&pf->stop, 1);
	kick(pf);
	pthread_join(pf->thread, NULL);
	pages = atomic_load(&pf->pages);
	if (tls_pf == pf)
		tls_pf = NULL;
	free(pf);
	return pages;
}

void tsl__prefault_drop(int lane)
{
	tsl_prefault *pf = tls_pf;
	struct lane *l;

	if (!pf)
		return;
	l = &pf->lanes[lane];
	atomic_store(&l->base, NULL);
	while (atomic_load(&l->busy))
		relax();
}

bool tsl__prefault_lane(int lane, void *base, size_t cap, bool backward)
{
	tsl_prefault *pf = tls_pf;
	struct lane *l;

	if (!pf)
		return false;
	tsl__prefault_drop(lane);
	if (cap < pf->lane_min)
		return false;
	l = &pf->lanes[lane];
	l->cap = cap;
	l->backward = backward;
	atomic_store_explicit(&l->front, 0, memory_order_relaxed);
	atomic_fetch_add(&l->gen, 1);
	atomic_store(&l->base, (unsigned char *)base);
	kick(pf);
	return true;
}

void tsl__prefault_front(int lane, size_t front)
{
	tsl_prefault *pf = tls_pf;

	if (!pf)
		return;
	atomic_store_explicit(&pf->lanes[lane].front, front,
		memory_order_relaxed);
	kick(pf);
}

void tsl__prefault_forget(const void *p, size_t len)
{
	tsl_prefault *pf = tls_pf;

	if (!pf)
		return;
	for (int i = 0; i < TSL_PF_LANES; i++) {
		const unsigned char *b = atomic_load(&pf->lanes[i].base);

		if (b && (const unsigned char *)p < b + pf->lanes[i].cap &&
			b < (const unsigned char *)p + len)
			tsl__prefault_drop(i);
	}
}

bool tsl__prefault_active(void)
{
	return tls_pf != NULL;
}

uint64_t tsl__prefault_pages(void)
{
	return tls_pf ? atomic_load(&tls_pf->pages) : 0;
}

bool tsl__prefault_waiting(void)
{
	return tls_pf && atomic_load(&tls_pf->sleeping);
}
