/*
 * test_common.c - lib/common: the dtype table (every dtype has every fact,
 * and they agree with what PyTorch says in tests/data/dtypes.tsv), the
 * huge-page rule, and populating ahead.
 */
#include "config.h"

#include "testutil.h"

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

/* Populating ahead never goes past the block nor more than one window past
 * what is asked, and moves its mark only forward. */
static void test_populate_ahead(void **state)
{
	size_t cap = 4 * TSL_POPULATE_WINDOW, done = 0;
	unsigned char *p = tsl__big_calloc(cap, 1, TSL_PAGES_SMALL);

	(void)state;
	assert_non_null(p);
	tsl__populate_ahead(p, cap, &done, 100);   /* small use: nothing */
	assert_int_equal(done, 0);
	tsl__populate_ahead(p, cap, &done, TSL_POPULATE_MIN);
	assert_int_equal(done, TSL_POPULATE_MIN + TSL_POPULATE_WINDOW);
	tsl__populate_ahead(p, cap, &done, 50);   /* behind: nothing */
	assert_int_equal(done, TSL_POPULATE_MIN + TSL_POPULATE_WINDOW);
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
	tsl__populate_ahead(p, 3 * 4096, &done, 3 * 4096);   /* under the min */
	assert_int_equal(done, 0);
	tsl__big_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dtype_every_fact),
		cmocka_unit_test(test_dtype_out_of_range),
		cmocka_unit_test(test_dtype_torch),
		cmocka_unit_test(test_huge_pages_rule),
		cmocka_unit_test(test_populate_ahead),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
