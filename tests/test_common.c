/*
 * test_common.c - lib/common: the dtype table (every dtype has every fact,
 * and they agree with what PyTorch says in tests/data/dtypes.tsv), the
 * huge-page rule, and populating ahead.
 */
#include "config.h"

#include <inttypes.h>

#include <sys/resource.h>

#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "common/common.h"
#include "tsload_dlpack.h"

/* Every row has every fact, and the facts agree with each other. */
static void test_dtype_every_fact(void **state)
{
	(void)state;
	for (int d = 0; d < TSL_DTYPE_COUNT; d++) {
		const char *name = tsl_dtype_name((tsl_dtype)d);
		const char *st = tsl__dtype_storage_name(d);
		const char *sf = tsl__dtype_safetensors(d);
		const char *np = tsl__dtype_numpy(d);
		size_t size = tsl_dtype_size((tsl_dtype)d);
		size_t swap = tsl__dtype_swap_width(d);
		uint8_t code = 0xff, bits = 0;
		char cls[64];

		assert_non_null(name);
		assert_string_not_equal(name, "unknown");
		assert_non_null(st);
		assert_true(size >= 1 && size <= 16);
		assert_true(swap >= 1 && size % swap == 0);
		/* complex numbers swap per component, the rest per element */
		if (!strncmp(name, "complex", 7))
			assert_int_equal(swap * 2, size);
		else
			assert_int_equal(swap, size);
		/* names are found again, and each belongs to one dtype only */
		assert_int_equal(tsl__dtype_from_name(name, strlen(name)), d);
		snprintf(cls, sizeof cls, "%sStorage", st);
		assert_int_equal(tsl__dtype_from_storage_class(cls, strlen(cls)),
			d);
		for (int e = 0; e < d; e++) {
			assert_string_not_equal(name,
				tsl_dtype_name((tsl_dtype)e));
			assert_string_not_equal(st, tsl__dtype_storage_name(e));
			if (sf && tsl__dtype_safetensors(e))
				assert_string_not_equal(sf,
					tsl__dtype_safetensors(e));
		}
		/* DLPack: one element per lane, as many bits as bytes say */
		if (tsl__dtype_dlpack(d, &code, &bits)) {
			assert_int_equal(bits, size * 8);
			assert_true(code == kDLInt || code == kDLUInt ||
				code == kDLFloat || code == kDLBfloat ||
				code == kDLComplex);
			assert_int_equal(code == kDLComplex,
				!strncmp(name, "complex", 7));
		} else {
			/* only sub-byte, bit and float8 types lack one */
			assert_true(!strncmp(name, "bits", 4) ||
				!strncmp(name, "float8", 6) ||
				strstr(name, "x") != NULL);
		}
		/* safetensors: the letter of the kind and, where the name
		 * has a width, the element's bits */
		if (sf) {
			unsigned w = 0;

			assert_true(strchr("FIUCB", sf[0]) != NULL);
			if (sscanf(sf + (sf[0] == 'B' && sf[1] == 'F' ? 2 : 1),
				"%u", &w) == 1 && strncmp(sf, "F8_", 3))
				assert_int_equal(w, size * 8);
		}
		/* numpy: byte order, kind, element size */
		if (np) {
			unsigned n = 0;

			assert_true(np[0] == '<' || np[0] == '|');
			assert_int_equal(np[0] == '|', size == 1);
			assert_true(strchr("iufcb", np[1]) != NULL);
			assert_int_equal(sscanf(np + 2, "%u", &n), 1);
			assert_int_equal(n, size);
		}
	}
}

/* Values that are no dtype: "unknown", never NULL; no fact. */
static void test_dtype_out_of_range(void **state)
{
	const int bad[] = { -1, TSL_DTYPE_COUNT, TSL_DTYPE_COUNT + 1, 255,
		-2147483647 - 1 };
	uint8_t code = 7, bits = 7;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_string_equal(tsl_dtype_name((tsl_dtype)bad[i]),
			"unknown");
		assert_int_equal(tsl_dtype_size((tsl_dtype)bad[i]), 0);
		assert_null(tsl__dtype_storage_name(bad[i]));
		assert_int_equal(tsl__dtype_swap_width(bad[i]), 0);
		assert_false(tsl__dtype_dlpack(bad[i], &code, &bits));
		assert_null(tsl__dtype_safetensors(bad[i]));
		assert_null(tsl__dtype_numpy(bad[i]));
	}
	assert_int_equal(code, 7);
	assert_int_equal(bits, 7);
	/* names that are not, or only nearly, a dtype's */
	assert_int_equal(tsl__dtype_from_storage_class("Storage", 7), -1);
	assert_int_equal(tsl__dtype_from_storage_class("FloatStorag", 11), -1);
	assert_int_equal(tsl__dtype_from_storage_class("XFloatStorage", 13),
		-1);
	assert_int_equal(tsl__dtype_from_storage_class("UntypedStorage", 14),
		-1);
	assert_int_equal(tsl__dtype_from_storage_class("floatStorage", 12),
		-1);
	assert_int_equal(tsl__dtype_from_storage_class("", 0), -1);
	assert_int_equal(tsl__dtype_from_name("float", 5), -1);
	assert_int_equal(tsl__dtype_from_name("float32x", 8), -1);
	assert_int_equal(tsl__dtype_from_name("unknown", 7), -1);
	assert_int_equal(tsl__dtype_from_name("", 0), -1);
}

/* The table against PyTorch 1.13 (tests/gen/gen_dtypes.py). */
static void test_dtype_torch(void **state)
{
	char *path = data_path("dtypes.tsv");
	FILE *f = fopen(path, "r");
	char line[256];
	int rows = 0;

	(void)state;
	assert_non_null(f);
	while (fgets(line, sizeof line, f)) {
		char name[64], storage[64], np[16];
		unsigned size;
		int d;

		if (line[0] == '#')
			continue;
		assert_int_equal(sscanf(line, "%63s %u %63s %15s", name, &size,
			storage, np), 4);
		d = tsl__dtype_from_name(name, strlen(name));
		assert_true(d >= 0);
		assert_string_equal(tsl_dtype_name((tsl_dtype)d), name);
		assert_int_equal(tsl_dtype_size((tsl_dtype)d), size);
		if (strcmp(storage, "-"))
			assert_int_equal(tsl__dtype_from_storage_class(storage,
				strlen(storage)), d);
		if (strcmp(np, "-")) {
			assert_non_null(tsl__dtype_numpy(d));
			assert_string_equal(tsl__dtype_numpy(d), np);
		}
		rows++;
	}
	fclose(f);
	free(path);
	assert_true(rows >= 18);
}

/* The automatic huge-page rule: THP must be offered, free page reporting
 * must be off; TSL_HUGE_PAGES=0/1 wins; other values are ignored. */
static void test_huge_pages_rule(void **state)
{
	(void)state;
	assert_int_equal(tsl__huge_pages_rule(
		"always [madvise] never\n", false, NULL), 1);
	assert_int_equal(tsl__huge_pages_rule(
		"[always] madvise never\n", false, NULL), 1);
	assert_int_equal(tsl__huge_pages_rule(
		"always madvise [never]\n", false, NULL), 0);
	assert_int_equal(tsl__huge_pages_rule(
		"always [madvise] never\n", true, NULL), 0);
	assert_int_equal(tsl__huge_pages_rule(NULL, false, NULL), 0);
	assert_int_equal(tsl__huge_pages_rule(
		"always [madvise] never\n", true, "1"), 1);
	assert_int_equal(tsl__huge_pages_rule(
		"always [madvise] never\n", false, "0"), 0);
	assert_int_equal(tsl__huge_pages_rule(NULL, false, "1"), 1);
	assert_int_equal(tsl__huge_pages_rule(
		"always [madvise] never\n", true, "yes"), 0);
	assert_int_equal(tsl__huge_pages_rule(
		"always [madvise] never\n", false, ""), 1);
	/* the process-wide answer is one of the two, and stable */
	int a = tsl_huge_pages_auto();
	assert_true(a == 0 || a == 1);
	assert_int_equal(tsl_huge_pages_auto(), a);
}

/* Populating ahead never goes past the block; the window is half of what
 * is asked (at least TSL_POPULATE_MIN, at most TSL_POPULATE_WINDOW), so
 * that beyond the first pages at most a third of what is populated is
 * unused; the mark only moves forward. */
/* tsl__put_dec writes what "%" PRIu64 does, without the NUL. */
static void test_put_dec(void **state)
{
	static const uint64_t v[] = { 0, 1, 9, 10, 99, 100, 4096, 1000009,
		4294967295u, 4294967296u, UINT64_MAX / 10, UINT64_MAX };
	char got[24], want[24];

	(void)state;
	for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
		size_t n;

		memset(got, '#', sizeof got);
		n = tsl__put_dec(got, v[i]);
		snprintf(want, sizeof want, "%" PRIu64, v[i]);
		assert_int_equal(n, strlen(want));
		assert_memory_equal(got, want, n);
		assert_int_equal(got[n], '#');   /* nothing written past it */
	}
}

static void test_populate_ahead(void **state)
{
	size_t cap = 4 * TSL_POPULATE_WINDOW, done = 0;
	unsigned char *p = tsl__big_calloc(cap, 1, TSL_PAGES_SMALL);

	(void)state;
	assert_non_null(p);
	tsl__populate_ahead(p, cap, &done, 100);   /* small use: nothing */
	assert_int_equal(done, 0);
	tsl__populate_ahead(p, cap, &done, TSL_POPULATE_START);
	assert_int_equal(done, TSL_POPULATE_START + TSL_POPULATE_MIN);
	tsl__populate_ahead(p, cap, &done, 50);   /* behind: nothing */
	assert_int_equal(done, TSL_POPULATE_START + TSL_POPULATE_MIN);
	tsl__populate_ahead(p, cap, &done, 4 * TSL_POPULATE_MIN);   /* half */
	assert_int_equal(done, 6 * TSL_POPULATE_MIN);
	assert_true(6 * TSL_POPULATE_MIN - 4 * TSL_POPULATE_MIN <=
		6 * TSL_POPULATE_MIN / 3);
	tsl__populate_ahead(p, cap, &done, 2 * TSL_POPULATE_WINDOW + 1);
	assert_int_equal(done, 3 * TSL_POPULATE_WINDOW + 1);   /* capped */
	tsl__populate_ahead(p, cap, &done, cap - 10);
	assert_int_equal(done, cap);
	tsl__populate_ahead(p, cap, &done, cap + 100);   /* past: capped */
	assert_int_equal(done, cap);
	for (size_t i = 0; i < cap; i += 4096)
		assert_int_equal(p[i], 0);   /* populated pages read zero */
	tsl__big_free(p);
	done = 0;
	p = tsl__big_alloc(3 * 4096, TSL_PAGES_SMALL);   /* from the heap */
	assert_non_null(p);
	tsl__populate_ahead(p, 3 * 4096, &done, 4096);   /* under the start */
	assert_int_equal(done, 0);
	p = tsl__big_grow(p, 3 * 4096, 6 * 4096, 1, TSL_PAGES_SMALL);
	assert_non_null(p);
	tsl__populate_ahead(p, 6 * 4096, &done, 5 * 4096);   /* whole block */
	assert_int_equal(done, 6 * 4096);
	memset(p, 7, 6 * 4096);   /* the heap block is intact and writable */
	tsl__big_free(p);
	/* a mapped block in small pages grows by mremap: its 1,024 written
	 * pages move, none is copied (a copy would fault each one in) */
	{
		size_t n = (size_t)4 << 20;
		struct rusage r0, r1;
		uint8_t *q;

		p = tsl__big_calloc(n, 1, TSL_PAGES_SMALL);
		assert_non_null(p);
		memset(p, 3, n);
		getrusage(RUSAGE_SELF, &r0);
		q = tsl__big_grow(p, n, 2 * n, 1, TSL_PAGES_SMALL);
		getrusage(RUSAGE_SELF, &r1);
		assert_non_null(q);
		assert_true(r1.ru_minflt - r0.ru_minflt < 64);
		assert_int_equal(q[0], 3);
		assert_int_equal(q[n - 1], 3);
		assert_int_equal(q[n], 0);
		assert_int_equal(q[2 * n - 1], 0);
		/* asked no bigger: the same block */
		assert_ptr_equal(tsl__big_grow(q, 2 * n, n, 1, TSL_PAGES_SMALL),
			q);
		tsl__big_free(q);
	}
}

/* Limits kept in 16 bits (a value's height, a tensor's rank) are capped. */
static void test_limit_caps(void **state)
{
	tsl_options o = TSL_OPTIONS_INIT;
	tsl_limits lim;

	(void)state;
	o.max_rank = UINT32_MAX;
	o.max_depth = 70000;
	assert_int_equal(tsl__limits_from_options(&lim, &o, NULL), TSL_OK);
	assert_int_equal(lim.max_rank, TSL_MAX_RANK_CAP);
	assert_int_equal(lim.max_rank, 65535);
	assert_int_equal(lim.max_depth, TSL_MAX_DEPTH_CAP);
	o.max_rank = 100;
	o.max_depth = 0;   /* the default */
	assert_int_equal(tsl__limits_from_options(&lim, &o, NULL), TSL_OK);
	assert_int_equal(lim.max_rank, 100);
	assert_int_equal(lim.max_depth, 1000);
}

/* ---- the prefault helper ------------------------------------------------ */

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Wait (up to 20 s) until the helper has read at least `pages` pages and
 * then waits for work with its count still: true if it did. */
static bool helper_settles(uint64_t pages)
{
	uint64_t last = UINT64_MAX;

	for (int i = 0; i < 20000; i++) {
		uint64_t now = tsl__prefault_pages();

		if (now >= pages && now == last && tsl__prefault_waiting())
			return true;
		last = now;
		nap_ms(1);
	}
	return false;
}

/* Pages of [p, p + len) that are resident. */
static size_t resident_pages(const void *p, size_t len)
{
	uintptr_t from = (uintptr_t)p & ~(uintptr_t)4095;
	size_t n = ((uintptr_t)p + len - from + 4095) / 4096, r = 0;
	unsigned char *vec = malloc(n);

	assert_non_null(vec);
	assert_int_equal(mincore((void *)from, n * 4096, vec), 0);
	for (size_t i = 0; i < n; i++)
		r += vec[i] & 1;
	free(vec);
	return r;
}

static void test_prefault_rule(void **state)
{
	(void)state;
	/* never with TSL_PREFAULT=0 */
	assert_int_equal(tsl__prefault_rule(UINT64_MAX, 16, "0"), 0);
	/* automatic: two CPUs and enough memory expected */
	assert_int_equal(tsl__prefault_rule(TSL_PREFAULT_MIN - 1, 16, NULL), 0);
	assert_int_equal(tsl__prefault_rule(UINT64_MAX, 1, NULL), 0);
	assert_int_equal(tsl__prefault_rule(UINT64_MAX, 1, "yes"), 0);
#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))
	assert_int_equal(tsl__prefault_rule(TSL_PREFAULT_MIN, 2, NULL), 1);
	assert_int_equal(tsl__prefault_rule(TSL_PREFAULT_MIN, 2, ""), 1);
	/* TSL_PREFAULT=1: always, even for one CPU and a tiny load */
	assert_int_equal(tsl__prefault_rule(0, 1, "1"), 1);
#else
	assert_int_equal(tsl__prefault_rule(UINT64_MAX, 16, "1"), 0);
#endif
}

/* TSL_OPEN_NO_PREFAULT reaches the limits, and a begin told `off` starts
 * nothing, whatever the environment says. */
static void test_prefault_off(void **state)
{
	tsl_options o = TSL_OPTIONS_INIT;
	tsl_limits lim;

	(void)state;
	assert_int_equal(tsl__limits_from_options(&lim, &o, NULL), TSL_OK);
	assert_false(lim.no_prefault);

	o.flags = TSL_OPEN_NO_PREFAULT;
	assert_int_equal(tsl__limits_from_options(&lim, &o, NULL), TSL_OK);
	assert_true(lim.no_prefault);
	setenv("TSL_PREFAULT", "1", 1);
	assert_null(tsl__prefault_begin(UINT64_MAX, true));
	assert_false(tsl__prefault_active());
	unsetenv("TSL_PREFAULT");
	/* with no helper, the lane calls are no-ops */
	tsl__prefault_lane(TSL_PF_ARENA, &lim, sizeof lim, false);
	tsl__prefault_front(TSL_PF_ARENA, 8);
	tsl__prefault_drop(TSL_PF_ARENA);
	assert_int_equal(tsl__prefault_end(NULL), 0);
}

#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))
/* An arena filled with a helper: every byte as written (the helper only
 * reads), the helper did read pages, and stayed within its bound ahead of
 * what was used (plus the arena's own populate window). */
static void test_prefault_arena(void **state)
{
	tsl_prefault *pf;
	tsl_arena a;
	unsigned char *first = NULL;
	size_t n = 0, bytes = (size_t)3 << 20;
	unsigned char **ptrs = calloc(bytes / 1000 + 1, sizeof *ptrs);

	(void)state;
	assert_non_null(ptrs);
	setenv("TSL_PREFAULT", "1", 1);
	pf = tsl__prefault_begin(0, false);
	unsetenv("TSL_PREFAULT");
	assert_non_null(pf);
	assert_true(tsl__prefault_active());
	tsl__arena_init(&a, 0);
	tsl__arena_expect(&a, (uint64_t)16 << 20);   /* one 16 MiB chunk */
	for (size_t used = 0; used + 1000 <= bytes; used += 1000) {
		unsigned char *p = tsl__arena_alloc(&a, 1000);

		assert_non_null(p);
		if (!first)
			first = p;
		for (int k = 0; k < 1000; k++)
			assert_int_equal(p[k], 0);   /* zeroed, as promised */
		memset(p, (int)(n % 251) + 1, 1000);
		ptrs[n++] = p;
	}
	assert_true(helper_settles(1));
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < 1000; k += 97)
			assert_int_equal(ptrs[i][k], (int)(i % 251) + 1);
	/* resident: what was used, the populate window past it, and at most
	 * the helper's 128 KiB ahead of the last published front (which is
	 * never past what was used) */
	assert_true(resident_pages(first, (size_t)16 << 20) * 4096 <=
		n * 1000 + TSL_POPULATE_WINDOW + ((size_t)128 << 10) +
		2 * 4096);
	assert_true(tsl__prefault_end(pf) > 0);
	assert_false(tsl__prefault_active());
	/* trimmed when the load is done: what was populated or prefaulted
	 * past the use goes back, what was used stays */
	assert_true(resident_pages(first, (size_t)16 << 20) * 4096 >
		n * 1000 + 8192);
	tsl__arena_trim(&a);
	assert_true(resident_pages(first, (size_t)16 << 20) * 4096 <=
		n * 1000 + 4096);
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < 1000; k += 97)
			assert_int_equal(ptrs[i][k], (int)(i % 251) + 1);
	/* and the arena goes on: zeroed memory past the use, as before */
	for (int i = 0; i < 300; i++) {
		unsigned char *p = tsl__arena_alloc(&a, 1000);

		assert_non_null(p);
		for (int k = 0; k < 1000; k++)
			assert_int_equal(p[k], 0);
		memset(p, 0xee, 1000);
	}
	tsl__arena_free(&a);
	free(ptrs);
}

/* Blocks freed while the helper works in them (a memo that grows, a
 * decoded record freed): the free waits for the helper to leave, so it
 * never reads unmapped memory (ASan and valgrind watch this test). */
static void test_prefault_free_in_lane(void **state)
{
	tsl_prefault *pf;
	uint64_t before;

	(void)state;
	setenv("TSL_PREFAULT", "1", 1);
	pf = tsl__prefault_begin(0, false);
	unsetenv("TSL_PREFAULT");
	assert_non_null(pf);
	for (int round = 0; round < 40; round++) {
		size_t len = (size_t)(1 + round % 4) << 20;
		/* a backward lane: the whole block, from its end */
		unsigned char *p;

		before = tsl__prefault_pages();   /* before the lanes exist */
		p = tsl__big_alloc(len, TSL_PAGES_SMALL);
		unsigned char *q = tsl__big_calloc(len, 1, TSL_PAGES_SMALL);

		assert_non_null(p);
		assert_non_null(q);
		memset(p, 0x5a, 4096);
		/* a forward lane, front at the start */
		tsl__prefault_lane(TSL_PF_MEMO, q, len, false);
		tsl__prefault_front(TSL_PF_MEMO, 0);
		if (round % 8 == 0) {
			for (int i = 0; i < 10000 &&
				tsl__prefault_pages() == before; i++)
				nap_ms(1);
			assert_true(tsl__prefault_pages() > before);
		}
		assert_int_equal(p[0], 0x5a);
		tsl__big_free(p);   /* while the helper may be in it */
		tsl__big_free(q);
	}
	/* a backward lane read whole: every page of it resident */
	{
		size_t len = (size_t)2 << 20;
		unsigned char *p = tsl__big_alloc(len, TSL_PAGES_SMALL);

		assert_non_null(p);
		assert_true(helper_settles(1));
		assert_int_equal(resident_pages(p, len),
			((uintptr_t)p + len + 4095) / 4096 -
			(uintptr_t)p / 4096);
		tsl__big_free(p);
	}
	assert_true(tsl__prefault_end(pf) > 0);
}
#endif

/* Within tsl__reuse_begin/end a freed big block is taken by the next
 * big_alloc (grown when too small), and the last kept one is unmapped at
 * the end; outside, a freed block is unmapped at once. */
static void test_reuse(void **state)
{
	size_t mb = (size_t)1 << 20;
	unsigned char *a, *b, *c, *d;
	unsigned char vec[1];

	(void)state;
	tsl__reuse_begin();
	a = tsl__big_alloc(mb, TSL_PAGES_SMALL);
	assert_non_null(a);
	memset(a, 1, mb);
	tsl__big_free(a);
	b = tsl__big_alloc(mb / 2, TSL_PAGES_SMALL);   /* smaller: the same */
	assert_ptr_equal(b, a);
	/* a new mapping would read zero: these are a's pages, kept */
	assert_int_equal(b[0], 1);
	assert_int_equal(b[mb / 2 - 1], 1);
	memset(b, 2, mb / 2);
	tsl__big_free(b);
	c = tsl__big_alloc(3 * mb, TSL_PAGES_SMALL);   /* bigger: grown */
	assert_non_null(c);
	assert_int_equal(c[0], 2);                     /* b's pages moved */
	assert_int_equal(c[mb / 2 - 1], 2);
	memset(c, 3, 3 * mb);                          /* all of it writable */
	assert_int_equal(c[3 * mb - 1], 3);
	tsl__big_free(c);
	/* a small block is not kept: malloc'd, freed as always */
	d = tsl__big_alloc(1000, TSL_PAGES_SMALL);
	assert_non_null(d);
	tsl__big_free(d);
	tsl__reuse_end();
	/* the kept block (c's) is gone */
	assert_int_equal(mincore((void *)((uintptr_t)c & ~(uintptr_t)4095),
		4096, vec), -1);
	/* outside: unmapped at the free */
	a = tsl__big_alloc(mb, TSL_PAGES_SMALL);
	assert_non_null(a);
	tsl__big_free(a);
	assert_int_equal(mincore((void *)((uintptr_t)a & ~(uintptr_t)4095),
		4096, vec), -1);
}

/* The pointer map shared by the module walk, the tensor list, the
 * storages' side table and the pickle's class set. */
static void test_pmap(void **state)
{
	static char keys[300];
	tsl_pmap m = { 0 };

	(void)state;
	assert_int_equal(tsl__pmap_get(&m, &keys[0]), SIZE_MAX);
	for (size_t i = 0; i < 300; i++)
		assert_int_equal(tsl__pmap_put(&m, &keys[i], i * 2), 0);
	/* present: unchanged, reported */
	assert_int_equal(tsl__pmap_put(&m, &keys[7], 99), 1);
	assert_int_equal(m.count, 300);
	for (size_t i = 0; i < 300; i++)   /* found after growing past 64 */
		assert_int_equal(tsl__pmap_get(&m, &keys[i]), i * 2);
	assert_int_equal(tsl__pmap_get(&m, &m), SIZE_MAX);
	tsl__pmap_free(&m);
	assert_int_equal(tsl__pmap_get(&m, &keys[0]), SIZE_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pmap),
		cmocka_unit_test(test_dtype_every_fact),
		cmocka_unit_test(test_dtype_out_of_range),
		cmocka_unit_test(test_dtype_torch),
		cmocka_unit_test(test_huge_pages_rule),
		cmocka_unit_test(test_put_dec),
		cmocka_unit_test(test_populate_ahead),
		cmocka_unit_test(test_reuse),
		cmocka_unit_test(test_limit_caps),
		cmocka_unit_test(test_prefault_rule),
		cmocka_unit_test(test_prefault_off),
#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))
		cmocka_unit_test(test_prefault_arena),
		cmocka_unit_test(test_prefault_free_in_lane),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
