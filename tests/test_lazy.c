/*
 * test_lazy.c - loading reads no tensor bytes.  Every page that lies wholly
 * inside a data/ or constants/ record is made PROT_NONE before the archive
 * (a private mapping of the fixture) is opened and its model loaded and
 * walked: touching one of those pages would kill the test with SIGSEGV.
 * Then the pages are given back and the tensors are hashed, to show the
 * protected pages were really the tensors' (a hash now reads them).
 */
#include "config.h"

#include <sys/mman.h>

#include "testutil.h"

/* fixtures whose tensors span whole pages; TSL_LAZY_EXTRA adds more
 * (colon-separated paths, e.g. the benchmark models) */
static const char *const fixtures[] = {
	"good-resnet-script.pt", "good-resnet-trace.pt",
	"good-mobilenet-script.pt", "good-mobilenet-trace.pt",
};

static int walk_value(const tsl_value *v, int depth);

static int walk_module(const tsl_module *m, int depth)
{
	size_t i, n = tsl_module_attr_count(m);
	int count = 0;

	for (i = 0; i < n; i++) {
		tsl_attr a;

		assert_int_equal(tsl_module_attr(m, i, &a), TSL_OK);
		if (a.value)
			count += walk_value(a.value, depth + 1);
	}
	for (i = 0; i < tsl_module_method_count(m); i++) {
		tsl_method me;

		assert_int_equal(tsl_module_method(m, i, &me), TSL_OK);
	}
	return count;
}

/* Count tensors, reading every piece of metadata the API offers. */
static int walk_value(const tsl_value *v, int depth)
{
	const tsl_tensor *t;
	size_t i, n;
	int count = 0;

	assert_true(depth < 200);
	switch (tsl_value_kind_of(v)) {
	case TSL_VALUE_MODULE:
		return walk_module(tsl_value_module(v), depth);
	case TSL_VALUE_LIST:
	case TSL_VALUE_TUPLE:
	case TSL_VALUE_DICT:
		n = tsl_value_len(v);
		for (i = 0; i < n; i++) {
			count += walk_value(tsl_value_item(v, i), depth + 1);
			if (tsl_value_kind_of(v) == TSL_VALUE_DICT)
				count += walk_value(tsl_value_key(v, i),
					depth + 1);
		}
		return count;
	case TSL_VALUE_OBJECT:
		if (tsl_value_state(v))
			return walk_value(tsl_value_state(v), depth + 1);
		for (i = 0; i < tsl_value_len(v); i++)
			count += walk_value(tsl_value_attr(v, i), depth + 1);
		return count;
	case TSL_VALUE_TENSOR:
		t = tsl_value_tensor(v);
		if (!t)
			return 0;
		assert_non_null(tsl_dtype_name(tsl_tensor_dtype(t)));
		(void)tsl_tensor_numel(t);
		(void)tsl_tensor_device(t);
		if (tsl_tensor_storage(t))
			assert_non_null(tsl_storage_record(
				tsl_tensor_storage(t)));
		return 1;
	default:
		return 0;
	}
}

static int hash_all(const tsl_value *v, int depth)
{
	size_t i, n;
	int count = 0;

	switch (tsl_value_kind_of(v)) {
	case TSL_VALUE_MODULE: {
		const tsl_module *m = tsl_value_module(v);

		for (i = 0; i < tsl_module_attr_count(m); i++) {
			tsl_attr a;

			tsl_module_attr(m, i, &a);
			if (a.value)
				count += hash_all(a.value, depth + 1);
		}
		return count;
	}
	case TSL_VALUE_LIST:
	case TSL_VALUE_TUPLE:
	case TSL_VALUE_DICT:
		n = tsl_value_len(v);
		for (i = 0; i < n; i++)
			count += hash_all(tsl_value_item(v, i), depth + 1);
		return count;
	case TSL_VALUE_OBJECT:
		if (tsl_value_state(v))
			return hash_all(tsl_value_state(v), depth + 1);
		return 0;
	case TSL_VALUE_TENSOR:
		if (tsl_value_tensor(v) &&
			tsl_tensor_storage(tsl_value_tensor(v))) {
			uint64_t h;
			tsl_error err;

			assert_int_equal(tsl_tensor_xxh3(tsl_value_tensor(v), &h,
				&err), TSL_OK);
			return 1;
		}
		return 0;
	default:
		return 0;
	}
}

static void check_one(const char *path, const char *label)
{
	long ps = sysconf(_SC_PAGESIZE);

	{
		size_t size = 0, i, nrec, protected_pages = 0, total_pages;
		uint8_t *file = read_file(path, &size), *map;
		tsl_archive *ar;
		tsl_model *m;
		tsl_error err;
		int tensors;

		assert_non_null(file);
		map = mmap(NULL, size, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		assert_true(map != MAP_FAILED);
		memcpy(map, file, size);
		free(file);
		total_pages = (size + (size_t)ps - 1) / (size_t)ps;

		/* the record layout, from a first look */
		assert_int_equal(tsl_archive_open_buffer(&ar, map, size, NULL,
			&err), TSL_OK);
		nrec = tsl_archive_record_count(ar);
		for (i = 0; i < nrec; i++) {
			tsl_record_info r;
			uint64_t off, a, b;

			assert_int_equal(tsl_archive_record(ar, i, &r), TSL_OK);
			if (strncmp(r.name, "data/", 5) != 0 &&
				strncmp(r.name, "constants/", 10) != 0)
				continue;
			assert_int_equal(tsl_archive_record_data_offset(ar, i,
				&off, &err), TSL_OK);
			a = (off + (uint64_t)ps - 1) / (uint64_t)ps * (uint64_t)ps;
			b = (off + r.size) / (uint64_t)ps * (uint64_t)ps;
			if (b > a) {
				assert_int_equal(mprotect(map + a, b - a,
					PROT_NONE), 0);
				protected_pages += (b - a) / (uint64_t)ps;
			}
		}
		tsl_archive_free(ar);

		/* now load for real: a touched tensor page is a SIGSEGV */
		assert_int_equal(tsl_archive_open_buffer(&ar, map, size, NULL,
			&err), TSL_OK);
		assert_int_equal(tsl_model_load(&m, ar, NULL, &err), TSL_OK);
		tensors = walk_value(tsl_module_value(tsl_model_root(m)), 0) +
			walk_value(tsl_model_constants(m), 0);
		print_message("%-28s %5d tensors, %zu of %zu pages protected, "
			"load touched none of them\n", label, tensors,
			protected_pages, total_pages);
		assert_true(tensors > 0);

		/* give the pages back: hashing reads the tensors */
		assert_int_equal(mprotect(map, size, PROT_READ), 0);
		assert_true(hash_all(tsl_module_value(tsl_model_root(m)), 0) +
			hash_all(tsl_model_constants(m), 0) > 0);
		tsl_model_free(m);
		tsl_archive_free(ar);
		munmap(map, size);
	}
}

static void load__touches_no_tensor_page(void **state)
{
	const char *extra = getenv("TSL_LAZY_EXTRA");

	(void)state;
	for (size_t f = 0; f < sizeof fixtures / sizeof fixtures[0]; f++) {
		char *path = data_path(fixtures[f]);

		check_one(path, fixtures[f]);
		free(path);
	}
	if (extra && *extra) {
		char *list = strdup(extra), *save = NULL, *p;

		assert_non_null(list);
		for (p = strtok_r(list, ":", &save); p;
			p = strtok_r(NULL, ":", &save))
			check_one(p, strrchr(p, '/') ? strrchr(p, '/') + 1 : p);
		free(list);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(load__touches_no_tensor_page),
	};

	return cmocka_run_group_tests_name("lazy", tests, NULL, NULL);
}
