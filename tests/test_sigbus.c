/*
 * test_sigbus.c - a file truncated under the mapping: tsload notices before
 * it hands out a view (TSL_EIO instead of SIGBUS), and TSL_OPEN_COPY is
 * immune.
 */
#include "config.h"

#include "testutil.h"

/* Copy a fixture to a temporary file we may truncate. */
static char *copy_fixture(const char *name)
{
	char *src = data_path(name), *path;
	size_t n = 0;
	void *d = read_file(src, &n);

	assert_non_null(d);
	path = write_temp_file(d, n);
	assert_non_null(path);
	free(d);
	free(src);
	return path;
}

static void truncated_after_open__eio(void **state)
{
	char *path = copy_fixture("good-scripted-mlp.pt");
	tsl_model *m;
	tsl_error err;
	const void *p;
	size_t n, i, count;
	int failures = 0;

	(void)state;
	assert_int_equal(tsl_load_path(&m, path, NULL, &err), TSL_OK);
	assert_int_equal(truncate(path, 256), 0);
	count = tsl_model_storage_count(m);
	assert_true(count > 0);
	for (i = 0; i < count; i++) {
		int rc = tsl_storage_data(tsl_model_storage(m, i), &p, &n, &err);

		if (rc != TSL_OK) {
			assert_int_equal(rc, TSL_EIO);
			assert_non_null(strstr(err.message, "shrank"));
			/* the names were in the central directory, at the
			 * end of the file: the record is named by its place
			 * in the index, "#<n>", read from no lost page */
			assert_int_equal(err.record[0], '#');
			assert_true(err.record[1] >= '0' && err.record[1] <= '9');
			/* asked again: the failure is kept, nothing faults */
			assert_int_equal(tsl_storage_data(tsl_model_storage(m,
				i), &p, &n, &err), rc);
			assert_int_equal(err.record[0], '#');
			failures++;
		}
	}
	assert_int_equal((size_t)failures, count);
	tsl_model_free(m);
	remove_temp_file(path);
}

static void truncated_after_open_copy_mode__ok(void **state)
{
	char *path = copy_fixture("good-scripted-mlp.pt");
	tsl_options opts = TSL_OPTIONS_INIT;
	tsl_model *m;
	tsl_error err;
	const void *p;
	size_t n, i;

	(void)state;
	opts.flags = TSL_OPEN_COPY;
	assert_int_equal(tsl_load_path(&m, path, &opts, &err), TSL_OK);
	assert_int_equal(truncate(path, 0), 0);
	for (i = 0; i < tsl_model_storage_count(m); i++)
		assert_int_equal(tsl_storage_data(tsl_model_storage(m, i), &p, &n,
			&err), TSL_OK);
	tsl_model_free(m);
	remove_temp_file(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(truncated_after_open__eio),
		cmocka_unit_test(truncated_after_open_copy_mode__ok),
	};

	return cmocka_run_group_tests_name("sigbus", tests, NULL, NULL);
}
