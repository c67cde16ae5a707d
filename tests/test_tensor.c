/*
 * test_tensor.c - lib/tensor's consumer services: contiguity, byte sizes,
 * the row-major gather with dtype conversion and dequantization (against
 * values torch computed: tests/data/gather.expected, written with
 * tests/data/gather.pt by tests/gen/gen_gather.py; float8 against the OCP
 * definitions: tests/gen/gen_float8.py), dtype names, and the
 * list of every tensor of a model (tsl_model_tensors).
 */
#include "config.h"

#include <xxhash.h>

#include "testutil.h"

static tsl_model *load(const char *name, uint32_t flags)
{
	tsl_options o = TSL_OPTIONS_INIT;
	tsl_error err;
	tsl_model *m = NULL;
	char *p = data_path(name);
	int rc;

	o.flags = flags;
	o.map_location = "cpu";
	rc = tsl_load_path(&m, p, &o, &err);
	if (rc < 0)
		fail_msg("%s: %s", name, err.message);
	free(p);
	return m;
}

/* The entry named `name`, or fail. */
static tsl_tensor_entry entry(tsl_model *m, const char *name)
{
	tsl_tensor_entry e;
	size_t n;

	assert_int_equal(tsl_model_tensor_count(m, &n, NULL), TSL_OK);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(tsl_model_tensor_at(m, i, &e), TSL_OK);
		if (strcmp(e.name, name) == 0)
			return e;
	}
	fail_msg("no tensor named %s", name);
	memset(&e, 0, sizeof(e));
	return e;
}

static int unhex(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return 0;
}

/* Every line of an .expected file: gather the named tensor to the target
 * dtype and compare the bytes.  Returns the number of lines checked. */
static size_t check_gathers(const char *archive, const char *expected)
{
	tsl_model *m = load(archive, TSL_OPEN_CHECKPOINTS);
	char *path = data_path(expected);
	size_t fsize = 0, checked = 0;
	char *text = (char *)read_file_or_fail(path, &fsize);
	char *line, *save = NULL;

	text = realloc(text, fsize + 1);
	assert_non_null(text);
	text[fsize] = '\0';
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char name[64], target[16];
		size_t nbytes;
		int pos = 0;
		tsl_dtype to;
		tsl_tensor_entry e;
		uint8_t *want, *got;
		uint64_t size;
		tsl_error err;
		int rc;

		assert_int_equal(sscanf(line, "%63s %15s %zu %n", name, target,
			&nbytes, &pos), 3);
		e = entry(m, name);
		to = strcmp(target, "float32") == 0 ? TSL_FLOAT32 :
			strcmp(target, "float64") == 0 ? TSL_FLOAT64 :
			strcmp(target, "int64") == 0 ? TSL_INT64 :
			tsl_tensor_dtype(e.tensor);
		assert_int_equal(e.origin, TSL_ORIGIN_CHECKPOINT);
		assert_int_equal(e.state_dict, 1);
		assert_int_equal(tsl_tensor_gather_size(e.tensor, to, &size,
			NULL), TSL_OK);
		if (size != nbytes)
			fail_msg("%s -> %s: %llu bytes, torch %zu", name,
				target, (unsigned long long)size, nbytes);
		want = malloc(nbytes + 1);
		got = malloc(nbytes + 1);
		assert_non_null(want);
		assert_non_null(got);
		assert_int_equal(unhex(line + pos, want, nbytes), 0);
		rc = tsl_tensor_gather(e.tensor, to, got, nbytes, &err);
		if (rc)
			fail_msg("%s -> %s: %s", name, target, err.message);
		for (size_t i = 0; i < nbytes; i++)
			if (got[i] != want[i])
				fail_msg("%s -> %s: byte %zu is %02x, torch %02x",
					name, target, i, got[i], want[i]);
		/* the same bytes in pieces of 7 elements (quantized and
		 * converted ones included); packed quint4x2 / quint2x4
		 * elements as stored in pieces of 8 (a piece starts on a
		 * byte), their offsets and sizes in bits */
		{
			int packed = (to == TSL_QUINT4X2 || to == TSL_QUINT2X4);
			uint64_t n = tsl_tensor_numel(e.tensor), ebits =
				packed ? (to == TSL_QUINT4X2 ? 4 : 2) :
				n ? nbytes / n * 8 : 0, step = packed ? 8 : 7;

			memset(got, 0xa5, nbytes);
			for (uint64_t first = 0; first < n; first += step) {
				uint64_t cnt = n - first < step ? n - first :
					step;

				rc = tsl_tensor_gather_range(e.tensor, to, first,
					cnt, got + first * ebits / 8,
					(cnt * ebits + 7) / 8, &err);
				if (rc)
					fail_msg("%s -> %s [%llu, +%llu): %s",
						name, target,
						(unsigned long long)first,
						(unsigned long long)cnt,
						err.message);
			}
			assert_memory_equal(got, want, nbytes);
			assert_int_equal(tsl_tensor_gather_range(e.tensor, to,
				n, 1, got, nbytes, &err), TSL_EINVAL);
			assert_int_equal(tsl_tensor_gather_range(e.tensor, to,
				n, 0, got, nbytes, &err), TSL_OK);
		}
		/* too small a buffer is refused */
		if (nbytes)
			assert_int_equal(tsl_tensor_gather(e.tensor, to, got,
				nbytes - 1, &err), TSL_EINVAL);
		free(want);
		free(got);
		checked++;
	}
	free(text);
	free(path);
	tsl_model_free(m);
	return checked;
}

/* gather.pt against torch's values (tests/gen/gen_gather.py). */
static void test_gather_against_torch(void **state)
{
	(void)state;
	/* every tensor of the file, most of them more than once */
	assert_true(check_gathers("gather.pt", "gather.expected") >= 60);
}

/* float8 to float32: every byte value, and a transposed view, against the
 * OCP definitions (tests/gen/gen_float8.py; torch 1.13 has no float8). */
static void test_gather_float8(void **state)
{
	(void)state;
	assert_int_equal(check_gathers("float8-e4m3fn.pt",
		"float8-e4m3fn.expected"), 2);
	assert_int_equal(check_gathers("float8-e5m2.pt",
		"float8-e5m2.expected"), 2);
}

static void test_contiguity_and_sizes(void **state)
{
	tsl_model *m = load("gather.pt", TSL_OPEN_CHECKPOINTS);
	const tsl_tensor *tr = entry(m, "f32_transposed").tensor;
	const tsl_tensor *ex = entry(m, "f32_expanded").tensor;
	const tsl_tensor *sc = entry(m, "f32_scalar").tensor;
	const tsl_tensor *em = entry(m, "f32_empty").tensor;
	const tsl_tensor *i64 = entry(m, "i64").tensor;
	const tsl_tensor *q8 = entry(m, "q8_pt").tensor;
	const void *p;
	size_t size;
	uint64_t nb;
	uint8_t buf[64];
	tsl_error err;

	(void)state;
	assert_int_equal(tsl_tensor_is_contiguous(tr), 0);
	assert_int_equal(tsl_tensor_is_contiguous(ex), 0);
	assert_int_equal(tsl_tensor_is_contiguous(sc), 1);
	assert_int_equal(tsl_tensor_is_contiguous(em), 1);
	assert_int_equal(tsl_tensor_is_contiguous(i64), 1);
	assert_int_equal(tsl_tensor_is_contiguous(NULL), 0);
	assert_int_equal(tsl_tensor_nbytes(i64, &nb, NULL), TSL_OK);
	assert_int_equal(nb, 40);
	assert_int_equal(tsl_tensor_nbytes(em, &nb, NULL), TSL_OK);
	assert_int_equal(nb, 0);
	assert_int_equal(tsl_tensor_nbytes(q8, &nb, NULL), TSL_OK);
	assert_int_equal(nb, 60);
	/* zero copy: the pointer into the storage, equal to a gather */
	assert_int_equal(tsl_tensor_contiguous_data(i64, &p, &size, &err),
		TSL_OK);
	assert_int_equal(size, 40);
	assert_int_equal(tsl_tensor_gather(i64, TSL_INT64, buf, sizeof(buf),
		&err), TSL_OK);
	assert_memory_equal(p, buf, 40);
	{
		const void *d;

		assert_int_equal(tsl_tensor_data(i64, &d, NULL), TSL_OK);
		assert_ptr_equal(d, p);
	}
	assert_int_equal(tsl_tensor_contiguous_data(tr, &p, &size, &err),
		TSL_EUNSUPPORTED);
	assert_true(err.message[0] != '\0');
	/* conversions that do not exist */
	assert_int_equal(tsl_tensor_gather(i64, TSL_INT8, buf, sizeof(buf),
		&err), TSL_EUNSUPPORTED);
	assert_non_null(strstr(err.message, "int64"));
	assert_int_equal(tsl_tensor_gather(q8, TSL_INT64, buf, sizeof(buf),
		&err), TSL_EUNSUPPORTED);
	assert_int_equal(tsl_dtype_can_gather(TSL_COMPLEX64, TSL_FLOAT32), 0);
	assert_int_equal(tsl_dtype_can_gather(TSL_COMPLEX64, TSL_COMPLEX64), 1);
	assert_int_equal(tsl_dtype_can_gather(TSL_FLOAT8_E4M3FN, TSL_FLOAT32),
		1);
	assert_int_equal(tsl_dtype_can_gather(TSL_FLOAT32, TSL_INT64), 0);
	assert_int_equal(tsl_dtype_can_gather(TSL_DTYPE_COUNT, TSL_FLOAT32), 0);
	tsl_model_free(m);
}

/* dtype names as safetensors and numpy spell them. */
static void test_dtype_names(void **state)
{
	(void)state;
	assert_string_equal(tsl_dtype_safetensors_name(TSL_FLOAT32), "F32");
	assert_string_equal(tsl_dtype_safetensors_name(TSL_BFLOAT16), "BF16");
	assert_string_equal(tsl_dtype_safetensors_name(TSL_FLOAT16), "F16");
	assert_string_equal(tsl_dtype_safetensors_name(TSL_FLOAT8_E4M3FN),
		"F8_E4M3");
	assert_string_equal(tsl_dtype_safetensors_name(TSL_FLOAT8_E5M2),
		"F8_E5M2");
	assert_string_equal(tsl_dtype_safetensors_name(TSL_BOOL), "BOOL");
	assert_string_equal(tsl_dtype_safetensors_name(TSL_UINT64), "U64");
	assert_string_equal(tsl_dtype_safetensors_name(TSL_INT8), "I8");
	assert_null(tsl_dtype_safetensors_name(TSL_COMPLEX64));
	assert_null(tsl_dtype_safetensors_name(TSL_QINT8));
	assert_null(tsl_dtype_safetensors_name(TSL_FLOAT8_E4M3FNUZ));
	assert_null(tsl_dtype_safetensors_name(TSL_DTYPE_COUNT));
	assert_string_equal(tsl_dtype_numpy_typestr(TSL_FLOAT32), "<f4");
	assert_string_equal(tsl_dtype_numpy_typestr(TSL_BOOL), "|b1");
	assert_string_equal(tsl_dtype_numpy_typestr(TSL_COMPLEX128), "<c16");
	assert_string_equal(tsl_dtype_numpy_typestr(TSL_UINT8), "|u1");
	assert_null(tsl_dtype_numpy_typestr(TSL_BFLOAT16));
	assert_null(tsl_dtype_numpy_typestr(TSL_QUINT8));
	assert_string_equal(tsl_tensor_origin_name(TSL_ORIGIN_STATE), "state");
	assert_string_equal(tsl_tensor_origin_name((tsl_tensor_origin)99),
		"unknown");
}

/* Big-endian archive: gathered bytes are in host order, the same as the
 * element hash (checked against libtorch by the conformance test). */
static void test_gather_big_endian(void **state)
{
	tsl_model *m = load("good-bigendian.pt", 0);
	size_t n, checked = 0;

	(void)state;
	assert_int_equal(tsl_model_tensor_count(m, &n, NULL), TSL_OK);
	assert_true(n > 0);
	for (size_t i = 0; i < n; i++) {
		tsl_tensor_entry e;
		uint64_t size, h;
		void *buf;

		assert_int_equal(tsl_model_tensor_at(m, i, &e), TSL_OK);
		assert_int_equal(tsl_tensor_gather_size(e.tensor,
			tsl_tensor_dtype(e.tensor), &size, NULL), TSL_OK);
		buf = malloc(size + 1);
		assert_non_null(buf);
		assert_int_equal(tsl_tensor_gather(e.tensor,
			tsl_tensor_dtype(e.tensor), buf, size, NULL), TSL_OK);
		assert_int_equal(tsl_tensor_xxh3(e.tensor, &h, NULL), TSL_OK);
		assert_int_equal(XXH3_64bits(buf, size), h);
		free(buf);
		checked++;
	}
	assert_int_equal(checked, n);
	tsl_model_free(m);
}

/* The walk of a quantized model: the packed parameters' tensors are listed
 * under the names of their __getstate__ state. */
static void test_walk_quantized(void **state)
{
	tsl_model *m = load("good-quant-static.pt", 0);
	tsl_tensor_entry e;
	size_t n, n2;

	(void)state;
	assert_int_equal(tsl_model_tensor_count(m, &n, NULL), TSL_OK);
	assert_int_equal(tsl_model_tensor_count(m, &n2, NULL), TSL_OK);
	assert_int_equal(n, n2);
	e = entry(m, "quant.scale");
	assert_int_equal(e.origin, TSL_ORIGIN_BUFFER);
	assert_int_equal(e.state_dict, 1);
	e = entry(m, "conv.__getstate__.10");
	assert_int_equal(e.origin, TSL_ORIGIN_STATE);
	assert_int_equal(e.state_dict, 0);
	assert_int_equal(tsl_tensor_dtype(e.tensor), TSL_QINT8);
	assert_int_equal(tsl_tensor_qscheme(e.tensor),
		TSL_QSCHEME_PER_CHANNEL_AFFINE);
	e = entry(m, "fc._packed_params._packed_params.__getstate__.0");
	assert_int_equal(e.origin, TSL_ORIGIN_STATE);
	assert_int_equal(tsl_tensor_dtype(e.tensor), TSL_QINT8);
	assert_int_equal(tsl_model_tensor_at(m, n, &e), TSL_EINVAL);
	tsl_model_free(m);

	m = load("good-quant-dynamic.pt", 0);
	assert_int_equal(tsl_model_tensor_count(m, &n, NULL), TSL_OK);
	{
		size_t state_n = 0;

		for (size_t i = 0; i < n; i++) {
			assert_int_equal(tsl_model_tensor_at(m, i, &e), TSL_OK);
			if (e.origin == TSL_ORIGIN_STATE &&
			    tsl_tensor_qscheme(e.tensor) != TSL_QSCHEME_NONE)
				state_n++;
		}
		assert_true(state_n >= 1);
	}
	tsl_model_free(m);
}

struct count_cb {
	size_t n, stop_at;
};

static int count_cb(void *payload, const tsl_tensor_entry *e)
{
	struct count_cb *c = payload;

	assert_non_null(e->name);
	assert_non_null(e->tensor);
	return ++c->n == c->stop_at ? 7 : 0;
}

/* Views of one storage share its number; equal views are aliases. */
static void test_walk_views(void **state)
{
	tsl_model *m = load("good-views.pt", 0);
	tsl_tensor_entry base, tr, a, b, param;
	struct count_cb c = { 0, 0 };
	size_t n;

	(void)state;
	assert_int_equal(tsl_model_tensor_count(m, &n, NULL), TSL_OK);
	base = entry(m, "base");
	tr = entry(m, "transposed");
	a = entry(m, "shared_a");
	b = entry(m, "shared_b");
	param = entry(m, "param");
	assert_int_equal(param.origin, TSL_ORIGIN_PARAMETER);
	assert_int_equal(base.origin, TSL_ORIGIN_BUFFER);
	assert_int_equal(base.storage, tr.storage);
	assert_int_equal(a.storage, b.storage);
	assert_int_not_equal(a.storage, base.storage);
	/* different views of one storage are not aliases */
	assert_int_equal(tr.alias_of, SIZE_MAX);
	assert_int_equal(tsl_model_tensors(m, count_cb, &c, NULL), 0);
	assert_int_equal(c.n, n);
	c.n = 0;
	c.stop_at = 2;
	assert_int_equal(tsl_model_tensors(m, count_cb, &c, NULL), 7);
	assert_int_equal(c.n, 2);
	assert_int_equal(tsl_model_tensors(m, NULL, NULL, NULL), TSL_EINVAL);
	tsl_model_free(m);

	/* a checkpoint that saves one tensor under two keys: both listed,
	 * the second an alias of the first */
	m = load("ckpt-containers.pt", TSL_OPEN_CHECKPOINTS);
	assert_int_equal(tsl_model_tensor_count(m, &n, NULL), TSL_OK);
	a = entry(m, "1.1");
	b = entry(m, "1.2");
	assert_int_equal(a.storage, b.storage);
	a = entry(m, "3.list.1");
	assert_int_equal(a.origin, TSL_ORIGIN_CHECKPOINT);
	tsl_model_free(m);
}

/* Constants of a frozen module, and a legacy archive. */
static void test_walk_constants_legacy(void **state)
{
	tsl_model *m = load("good-frozen.pt", 0);
	tsl_tensor_entry e;
	size_t n, consts = 0;

	(void)state;
	assert_int_equal(tsl_model_tensor_count(m, &n, NULL), TSL_OK);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(tsl_model_tensor_at(m, i, &e), TSL_OK);
		if (e.origin == TSL_ORIGIN_CONSTANT) {
			assert_true(strncmp(e.name, "CONSTANTS.c", 11) == 0);
			assert_int_equal(e.state_dict, 0);
			consts++;
		}
	}
	assert_true(consts >= 2);
	e = entry(m, "CONSTANTS.c0");
	assert_int_equal(e.origin, TSL_ORIGIN_CONSTANT);
	tsl_model_free(m);

	m = load("legacy/legacy-plain.pt", 0);
	assert_int_equal(tsl_model_tensor_count(m, &n, NULL), TSL_OK);
	assert_true(n > 0);
	assert_int_equal(tsl_model_tensor_at(m, 0, &e), TSL_OK);
	assert_int_equal(e.state_dict, 1);
	tsl_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gather_against_torch),
		cmocka_unit_test(test_gather_float8),
		cmocka_unit_test(test_contiguity_and_sizes),
		cmocka_unit_test(test_dtype_names),
		cmocka_unit_test(test_gather_big_endian),
		cmocka_unit_test(test_walk_quantized),
		cmocka_unit_test(test_walk_views),
		cmocka_unit_test(test_walk_constants_legacy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
