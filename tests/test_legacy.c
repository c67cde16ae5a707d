/*
 * test_legacy.c - legacy TorchScript archives (PyTorch 1.0-1.2, model.json;
 * lib/module/legacy.c).
 *
 *  - every legacy file of the shared real corpus loads (skipped with a
 *    message when ../shared is absent): kind, root type, methods, tensors
 *    and their hashes (values computed independently from the raw archive
 *    by tests/gen/legacy_expected.py; tests/test_legacy.sh compares all of
 *    tsinfo --json with them)
 *  - the synthetic archives of tests/data/legacy (tests/gen/gen_legacy.py):
 *    the module tree, slot kinds, attribute values, tensor-table references
 *    (1.1 TensorID / IntList, 1.2 build_tensor_from_id), storage sharing,
 *    quantized tensors, __getstate__ state, saved devices
 *  - malformed model.json, made here in memory from a valid one: every case
 *    fails with its code (mostly TSL_EFORMAT, record "model.json") and a
 *    message, never a crash
 */
#include "config.h"

#include <stdbool.h>

#include "testutil.h"
#include "zip/zip.h"

/* ---- a small zip writer (stored records) ------------------------------- */

typedef struct zw {
	uint8_t *b;
	size_t len, cap;
	uint8_t *cd;
	size_t cdlen, cdcap;
	unsigned n;
} zw;

static void zw_put(uint8_t **b, size_t *len, size_t *cap, const void *p,
	size_t n)
{
	if (*len + n > *cap) {
		*cap = (*len + n) * 2 + 256;
		*b = realloc(*b, *cap);
		assert_non_null(*b);
	}
	memcpy(*b + *len, p, n);
	*len += n;
}

static void le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void zw_add(zw *z, const char *name, const void *data, size_t n)
{
	char full[256];
	uint8_t h[46];
	size_t nl;
	uint32_t crc = tsl__crc32(0, data, n);
	size_t off = z->len;

	snprintf(full, sizeof full, "m/%s", name);
	nl = strlen(full);
	memset(h, 0, sizeof h);
	le(h, 0x04034b50u, 4);
	le(h + 4, 20, 2);
	le(h + 14, crc, 4);
	le(h + 18, n, 4);
	le(h + 22, n, 4);
	le(h + 26, nl, 2);
	zw_put(&z->b, &z->len, &z->cap, h, 30);
	zw_put(&z->b, &z->len, &z->cap, full, nl);
	zw_put(&z->b, &z->len, &z->cap, data, n);
	memset(h, 0, sizeof h);
	le(h, 0x02014b50u, 4);
	le(h + 4, 20, 2);
	le(h + 6, 20, 2);
	le(h + 16, crc, 4);
	le(h + 20, n, 4);
	le(h + 24, n, 4);
	le(h + 28, nl, 2);
	le(h + 42, off, 4);
	zw_put(&z->cd, &z->cdlen, &z->cdcap, h, 46);
	zw_put(&z->cd, &z->cdlen, &z->cdcap, full, nl);
	z->n++;
}

static void zw_str(zw *z, const char *name, const char *s)
{
	zw_add(z, name, s, strlen(s));
}

static uint8_t *zw_finish(zw *z, size_t *size)
{
	uint8_t e[22];
	size_t cdoff = z->len;

	zw_put(&z->b, &z->len, &z->cap, z->cd, z->cdlen);
	memset(e, 0, sizeof e);
	le(e, 0x06054b50u, 4);
	le(e + 8, z->n, 2);
	le(e + 10, z->n, 2);
	le(e + 12, z->cdlen, 4);
	le(e + 16, cdoff, 4);
	zw_put(&z->b, &z->len, &z->cap, e, 22);
	free(z->cd);
	*size = z->len;
	return z->b;
}

/* ---- loading helpers ---------------------------------------------------- */

static int load_buffer(const uint8_t *b, size_t n, const tsl_options *o,
	tsl_model **m, tsl_error *err)
{
	tsl_archive *ar = NULL;
	int rc;

	memset(err, 0, sizeof *err);
	*m = NULL;
	rc = tsl_archive_open_buffer(&ar, b, n, o, err);
	if (rc)
		return rc;
	assert_int_equal(tsl_archive_kind(ar), TSL_KIND_TORCHSCRIPT_LEGACY);
	rc = tsl_model_load(m, ar, o, err);
	tsl_archive_free(ar);
	return rc;
}

#define T0 "{\"dims\":[\"2\",\"2\"],\"strides\":[\"2\",\"1\"],\"offset\":\"0\"," \
	"\"requiresGrad\":true,\"dataType\":\"FLOAT\",\"data\":{\"key\":" \
	"\"tensors/0\"},\"device\":\"cpu\"}"
#define MOD(body) "{\"protoVersion\":\"3\",\"mainModule\":{\"name\":\"m\"," \
	"\"torchscriptArena\":{\"key\":\"code/m.py\"}" body "}," \
	"\"producerName\":\"pytorch\",\"tensors\":[" T0 "]}"
#define GOOD MOD(",\"parameters\":[{\"name\":\"w\",\"tensorId\":\"0\"}]," \
	"\"attributes\":[{\"type\":\"Tensor\",\"name\":\"t\",\"id\":\"0\"}]")

static const char FOUR_FLOATS[16] = { 0 };

/* An archive with `json` as model.json, tensors/0 (16 bytes), tensors/1
 * (3 bytes), attributes.pkl (`attrs` when not NULL, else a 1-tuple holding
 * tensor 0 as 1.2 wrote it when the JSON has tensor T0, else an empty
 * tuple) and code/m.py. */
static uint8_t *make(const char *json, const char *attrs, size_t attrs_len,
	size_t *size)
{
	static const char pkl[] = "\x80\x02(ctorch.jit._pickle\n"
		"build_tensor_from_id\n(K\x00tRt.";
	zw z;

	memset(&z, 0, sizeof z);
	zw_str(&z, "version", "1\n");
	zw_add(&z, "tensors/0", FOUR_FLOATS, sizeof FOUR_FLOATS);
	zw_add(&z, "tensors/1", "abc", 3);
	if (attrs)
		zw_add(&z, "attributes.pkl", attrs, attrs_len);
	else if (strstr(json, T0))
		zw_add(&z, "attributes.pkl", pkl, sizeof pkl - 1);
	else
		zw_add(&z, "attributes.pkl", "\x80\x02).", 4);
	zw_str(&z, "code/m.py", "op_version_set = 1\ndef forward(self,\n"
		"    x: Tensor) -> Tensor:\n  return x\n");
	zw_str(&z, "model.json", json);
	return zw_finish(&z, size);
}

static void expect_fail(const char *json, int code, const char *record,
	const tsl_options *o)
{
	size_t n;
	uint8_t *b = make(json, NULL, 0, &n);
	tsl_model *m;
	tsl_error err;
	int rc = load_buffer(b, n, o, &m, &err);

	if (rc != code || err.code != code || !err.message[0])
		fail_msg("%s: expected %s, got %s (%s)", json,
			tsl_status_name(code), tsl_status_name(rc), err.message);
	if (record && strcmp(err.record, record) != 0)
		fail_msg("%s: record '%s', expected '%s' (%s)", json, err.record,
			record, err.message);
	if (getenv("TSL_TEST_VERBOSE"))
		print_message("%-12s %-16s %s\n", tsl_status_name(rc),
			err.record, err.message);
	assert_null(m);
	free(b);
}

/* ---- tests -------------------------------------------------------------- */

static void test_minimal_good(void **state)
{
	size_t n;
	uint8_t *b = make(GOOD, NULL, 0, &n);
	tsl_model *m;
	tsl_error err;
	const tsl_module *root;
	const tsl_tensor *w, *t;
	tsl_method me;

	(void)state;
	assert_int_equal(load_buffer(b, n, NULL, &m, &err), TSL_OK);
	assert_int_equal(tsl_model_kind(m), TSL_KIND_TORCHSCRIPT_LEGACY);
	root = tsl_model_root(m);
	assert_string_equal(tsl_module_type(root), "__torch__.m");
	assert_int_equal(tsl_module_attr_count(root), 2);
	w = tsl_module_find_tensor(root, "w");
	t = tsl_module_find_tensor(root, "t");
	assert_non_null(w);
	assert_ptr_equal(w, t);   /* the same table entry */
	assert_int_equal(tsl_tensor_requires_grad(w), 1);
	assert_int_equal(tsl_model_storage_count(m), 1);
	assert_string_equal(tsl_storage_record(tsl_tensor_storage(w)),
		"tensors/0");
	assert_int_equal(tsl_module_method_count(root), 1);
	assert_int_equal(tsl_module_method(root, 0, &me), TSL_OK);
	assert_string_equal(me.name, "forward");
	assert_string_equal(me.arg_types[0], "__torch__.m");
	assert_int_equal(tsl_value_len(tsl_model_constants(m)), 1);
	tsl_model_free(m);
	free(b);
}

#define VIEW 1000   /* TSL_EFORMAT naming record tensors/0 */

static void test_malformed(void **state)
{
	static const struct { const char *json; int code; } cases[] = {
		/* not JSON, or not one JSON object */
		{ "", TSL_EFORMAT },
		{ "{", TSL_EFORMAT },
		{ "[]", TSL_EFORMAT },
		{ "null", TSL_EFORMAT },
		{ GOOD "x", TSL_EFORMAT },
		{ GOOD GOOD, TSL_EFORMAT },
		{ "{\"a\":\"\xff\xfe\"}", TSL_EFORMAT },
		{ "{\"a\":1,}", TSL_EFORMAT },
		/* ModelDef */
		{ "{\"protoVersion\":\"3\"}", TSL_EFORMAT },
		{ "{\"mainModule\":[]}", TSL_EFORMAT },
		{ "{\"mainModule\":null}", TSL_EFORMAT },
		{ "{\"mainModule\":{}}", TSL_EFORMAT },
		{ "{\"mainModule\":{\"name\":7}}", TSL_EFORMAT },
		{ "{\"mainModule\":{\"name\":\"\"}}", TSL_EFORMAT },
		{ "{\"mainModule\":{\"name\":\"a\\u0000b\"}}", TSL_EFORMAT },
		{ "{\"mainModule\":{\"name\":\"m\"},\"tensors\":{}}", TSL_EFORMAT },
		{ "{\"mainModule\":{\"name\":\"m\"},\"tensors\":[1]}", TSL_EFORMAT },
		{ "{\"mainModule\":{\"name\":\"m\"},\"protoVersion\":\"9\"}",
			TSL_EVERSION },
		{ "{\"mainModule\":{\"name\":\"m\"},\"protoVersion\":\"x\"}",
			TSL_EFORMAT },
		{ "{\"mainModule\":{\"name\":\"m\"},\"protoVersion\":3.5}",
			TSL_EFORMAT },
		/* TensorDef */
		{ "{\"mainModule\":{\"name\":\"m\"},\"tensors\":[{\"data\":"
			"{\"key\":\"tensors/0\"}}]}", TSL_EFORMAT },
		{ "{\"mainModule\":{\"name\":\"m\"},\"tensors\":[{\"dataType\":"
			"\"FLOAT\"}]}", TSL_EFORMAT },
		{ "{\"mainModule\":{\"name\":\"m\"},\"tensors\":[{\"dataType\":"
			"\"FLOAT\",\"data\":{}}]}", TSL_EFORMAT },
		{ "{\"mainModule\":{\"name\":\"m\"},\"tensors\":[{\"dataType\":"
			"\"FLOAT\",\"data\":\"tensors/0\"}]}", TSL_EFORMAT },
		{ "{\"mainModule\":{\"name\":\"m\"},\"tensors\":[{\"dataType\":"
			"\"FLOAT\",\"data\":{\"key\":\"tensors/9\"}}]}", TSL_EFORMAT },
		{ "{\"mainModule\":{\"name\":\"m\"},\"tensors\":[{\"dataType\":"
			"\"FLOAT\",\"data\":{\"key\":7}}]}", TSL_EFORMAT },
		{ "{\"mainModule\":{\"name\":\"m\"},\"tensors\":[{\"dataType\":"
			"\"FOO\",\"data\":{\"key\":\"tensors/0\"}}]}", TSL_EFORMAT },
		{ "{\"mainModule\":{\"name\":\"m\"},\"tensors\":[{\"dataType\":"
			"true,\"data\":{\"key\":\"tensors/0\"}}]}", TSL_EFORMAT },
		{ "{\"mainModule\":{\"name\":\"m\"},\"tensors\":[{\"dataType\":"
			"\"STRING\",\"data\":{\"key\":\"tensors/0\"}}]}",
			TSL_EUNSUPPORTED },
		{ "{\"mainModule\":{\"name\":\"m\"},\"tensors\":[{\"dataType\":"
			"\"FLOAT\",\"isQuantized\":true,\"data\":{\"key\":"
			"\"tensors/0\"}}]}", TSL_EUNSUPPORTED },
		/* 3 bytes are no whole float */
		{ "{\"mainModule\":{\"name\":\"m\"},\"tensors\":[{\"dataType\":"
			"\"FLOAT\",\"data\":{\"key\":\"tensors/1\"}}]}", TSL_EFORMAT },
		/* the same record as two dtypes */
		{ "{\"mainModule\":{\"name\":\"m\"},\"tensors\":[" T0 ",{"
			"\"dataType\":\"INT32\",\"data\":{\"key\":\"tensors/0\"}}]}",
			TSL_EFORMAT },
		{ "{\"mainModule\":{\"name\":\"m\"},\"tensors\":[{\"dims\":\"2\","
			"\"dataType\":\"FLOAT\",\"data\":{\"key\":\"tensors/0\"}}]}",
			TSL_EFORMAT },
		{ "{\"mainModule\":{\"name\":\"m\"},\"tensors\":[{\"dims\":[\"2\"],"
			"\"dataType\":\"FLOAT\",\"data\":{\"key\":\"tensors/0\"}}]}",
			TSL_EFORMAT },
		{ "{\"mainModule\":{\"name\":\"m\"},\"tensors\":[{\"dims\":[\"x\"],"
			"\"strides\":[\"1\"],\"dataType\":\"FLOAT\",\"data\":{\"key\":"
			"\"tensors/0\"}}]}", TSL_EFORMAT },
		{ "{\"mainModule\":{\"name\":\"m\"},\"tensors\":[{\"dims\":[\"-2\"],"
			"\"strides\":[\"1\"],\"dataType\":\"FLOAT\",\"data\":{\"key\":"
			"\"tensors/0\"}}]}", TSL_EFORMAT },
		{ "{\"mainModule\":{\"name\":\"m\"},\"tensors\":[{\"dims\":[2.0],"
			"\"strides\":[\"1\"],\"dataType\":\"FLOAT\",\"data\":{\"key\":"
			"\"tensors/0\"}}]}", TSL_EFORMAT },
		{ "{\"mainModule\":{\"name\":\"m\"},\"tensors\":[{\"dims\":"
			"[\"99999999999999999999\"],\"strides\":[\"1\"],\"dataType\":"
			"\"FLOAT\",\"data\":{\"key\":\"tensors/0\"}}]}", TSL_EFORMAT },
		{ "{\"mainModule\":{\"name\":\"m\"},\"tensors\":[{\"dims\":"
			"[99999999999999999999],\"strides\":[\"1\"],\"dataType\":"
			"\"FLOAT\",\"data\":{\"key\":\"tensors/0\"}}]}", TSL_EFORMAT },
		{ "{\"mainModule\":{\"name\":\"m\"},\"tensors\":[{\"dims\":[\" 1\"],"
			"\"strides\":[\"1\"],\"dataType\":\"FLOAT\",\"data\":{\"key\":"
			"\"tensors/0\"}}]}", TSL_EFORMAT },
		{ "{\"mainModule\":{\"name\":\"m\"},\"tensors\":[{\"offset\":\"-1\","
			"\"dataType\":\"FLOAT\",\"data\":{\"key\":\"tensors/0\"}}]}",
			TSL_EFORMAT },
		{ "{\"mainModule\":{\"name\":\"m\"},\"tensors\":[{\"offset\":\"4\","
			"\"dataType\":\"FLOAT\",\"data\":{\"key\":\"tensors/0\"}}]}",
			VIEW },
		{ "{\"mainModule\":{\"name\":\"m\"},\"tensors\":[{\"requiresGrad\":"
			"\"yes\",\"dataType\":\"FLOAT\",\"data\":{\"key\":"
			"\"tensors/0\"}}]}", TSL_EFORMAT },
		{ "{\"mainModule\":{\"name\":\"m\"},\"tensors\":[{\"device\":5,"
			"\"dataType\":\"FLOAT\",\"data\":{\"key\":\"tensors/0\"}}]}",
			TSL_EFORMAT },
		/* huge dims: the view reaches far beyond its 16-byte record */
		{ "{\"mainModule\":{\"name\":\"m\"},\"tensors\":[{\"dims\":"
			"[\"1000000000000\",\"1000000000000\"],\"strides\":[\"1\",\"1\"],"
			"\"dataType\":\"FLOAT\",\"data\":{\"key\":\"tensors/0\"}}]}",
			VIEW },
		{ "{\"mainModule\":{\"name\":\"m\"},\"tensors\":[{\"dims\":"
			"[\"9223372036854775807\",\"9223372036854775807\"],\"strides\":"
			"[\"9223372036854775807\",\"1\"],\"dataType\":\"FLOAT\",\"data\":"
			"{\"key\":\"tensors/0\"}}]}", VIEW },
		/* ModuleDef */
		{ MOD(",\"parameters\":[{\"name\":\"w\",\"tensorId\":\"1\"}]"),
			TSL_EFORMAT },
		{ MOD(",\"parameters\":[{\"name\":\"w\",\"tensorId\":\"-1\"}]"),
			TSL_EFORMAT },
		{ MOD(",\"parameters\":[{\"name\":\"w\",\"tensorId\":"
			"\"18446744073709551616\"}]"), TSL_EFORMAT },
		{ MOD(",\"parameters\":[{\"name\":\"w\"}]"), TSL_EFORMAT },
		{ MOD(",\"parameters\":[{\"tensorId\":\"0\"}]"), TSL_EFORMAT },
		{ MOD(",\"parameters\":[{\"name\":\"w\",\"tensorId\":\"0\","
			"\"isBuffer\":\"true\"}]"), TSL_EFORMAT },
		{ MOD(",\"parameters\":[\"w\"]"), TSL_EFORMAT },
		{ MOD(",\"parameters\":{}"), TSL_EFORMAT },
		{ MOD(",\"parameters\":[{\"name\":\"w\",\"tensorId\":\"0\"},"
			"{\"name\":\"w\",\"tensorId\":\"0\"}]"), TSL_EFORMAT },
		{ MOD(",\"attributes\":[{\"type\":\"Tensor\",\"name\":\"t\","
			"\"id\":\"1\"}]"), TSL_EFORMAT },
		{ MOD(",\"attributes\":[{\"type\":\"Tensor\",\"name\":\"t\","
			"\"id\":\"-2\"}]"), TSL_EFORMAT },
		{ MOD(",\"attributes\":[{\"name\":\"t\",\"id\":\"0\"}]"),
			TSL_EFORMAT },
		{ MOD(",\"attributes\":[{\"type\":\"Tensor\",\"id\":\"0\"}]"),
			TSL_EFORMAT },
		{ MOD(",\"attributes\":[{\"type\":\"Tensor\",\"name\":\"t\"}]"),
			TSL_EFORMAT },
		{ MOD(",\"attributes\":[{\"type\":[],\"name\":\"t\",\"id\":\"0\"}]"),
			TSL_EFORMAT },
		{ MOD(",\"submodules\":[{\"name\":\"a\"},{\"name\":\"a\"}]"),
			TSL_EFORMAT },
		{ MOD(",\"submodules\":[{}]"), TSL_EFORMAT },
		{ MOD(",\"submodules\":[[]]"), TSL_EFORMAT },
		{ MOD(",\"submodules\":\"a\""), TSL_EFORMAT },
		{ MOD(",\"getStateAttributeId\":\"5\""), TSL_EFORMAT },
		{ "{\"mainModule\":{\"name\":\"m\",\"torchscriptArena\":{\"key\":"
			"\"code/none.py\"}}}", TSL_EFORMAT },
		{ "{\"mainModule\":{\"name\":\"m\",\"torchscriptArena\":\"x\"}}",
			TSL_EFORMAT },
		{ "{\"mainModule\":{\"name\":\"m\",\"torchscriptArena\":{}}}",
			TSL_EFORMAT },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		/* a view is checked against its record, which errors name */
		if (cases[i].code == VIEW)
			expect_fail(cases[i].json, TSL_EFORMAT, "tensors/0", NULL);
		else
			expect_fail(cases[i].json, cases[i].code, "model.json",
				NULL);
	}
}

static void test_malformed_pickle_and_limits(void **state)
{
	/* attributes.pkl: a tensor id beyond the table, not a tuple, a
	 * storage (legacy archives have none) */
	static const char bad_id[] = "\x80\x02(ctorch.jit._pickle\n"
		"build_tensor_from_id\n(K\x07tRt.";
	static const char not_seq[] = "\x80\x02K\x01.";
	static const char storage[] = "\x80\x02(X\x07\x00\x00\x00storage"
		"ctorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpu"
		"K\x04tQ.";
	static const struct { const char *p; size_t n; } pk[] = {
		{ bad_id, sizeof bad_id - 1 },
		{ not_seq, sizeof not_seq - 1 },
		{ storage, sizeof storage - 1 },
	};
	tsl_options o = TSL_OPTIONS_INIT;
	char deep[4096];
	size_t i, n, o2 = 0;
	tsl_model *m;
	tsl_error err;

	(void)state;
	for (i = 0; i < sizeof pk / sizeof pk[0]; i++) {
		uint8_t *b = make(GOOD, pk[i].p, pk[i].n, &n);
		int rc = load_buffer(b, n, NULL, &m, &err);

		if (rc == TSL_OK || err.code != rc || !err.message[0])
			fail_msg("attributes.pkl case %zu: %s (%s)", i,
				tsl_status_name(rc), err.message);
		assert_int_equal(rc, TSL_EFORMAT);
		assert_non_null(strstr(err.record, "attributes.pkl"));
		free(b);
	}
	/* no attributes.pkl but an attribute refers to it */
	{
		zw z;
		uint8_t *b;

		memset(&z, 0, sizeof z);
		zw_str(&z, "version", "1\n");
		zw_str(&z, "model.json", "{\"mainModule\":{\"name\":\"m\","
			"\"attributes\":[{\"type\":\"int\",\"name\":\"a\","
			"\"id\":\"0\"}]}}");
		b = zw_finish(&z, &n);
		assert_tsl_fail(load_buffer(b, n, NULL, &m, &err), err,
			TSL_EFORMAT);
		assert_string_equal(err.record, "model.json");
		free(b);
	}
	/* modules nested deeper than max_depth: TSL_ELIMIT */
	o.max_depth = 8;
	o2 += (size_t)snprintf(deep + o2, sizeof deep - o2,
		"{\"mainModule\":");
	for (i = 0; i < 20; i++)
		o2 += (size_t)snprintf(deep + o2, sizeof deep - o2,
			"{\"name\":\"m%zu\",\"submodules\":[", i);
	o2 += (size_t)snprintf(deep + o2, sizeof deep - o2, "{\"name\":\"x\"}");
	for (i = 0; i < 20; i++)
		o2 += (size_t)snprintf(deep + o2, sizeof deep - o2, "]}");
	snprintf(deep + o2, sizeof deep - o2, "}");
	expect_fail(deep, TSL_ELIMIT, "model.json", &o);
	/* the same within the default limits loads */
	{
		uint8_t *b = make(deep, NULL, 0, &n);
		const tsl_module *mm;

		assert_int_equal(load_buffer(b, n, NULL, &m, &err), TSL_OK);
		mm = tsl_module_value(tsl_model_root(m)) ?
			tsl_value_module(tsl_module_find(tsl_model_root(m),
			"m1.m2.m3.m4.m5.m6.m7.m8.m9.m10.m11.m12.m13.m14.m15.m16."
			"m17.m18.m19.x")) : NULL;
		assert_non_null(mm);
		assert_string_equal(tsl_module_type(mm), "__torch__.m0.m1.m2.m3."
			"m4.m5.m6.m7.m8.m9.m10.m11.m12.m13.m14.m15.m16.m17.m18.m19.x");
		tsl_model_free(m);
		free(b);
	}
	/* rank over max_rank: TSL_ELIMIT */
	o.max_depth = 0;
	o.max_rank = 1;
	expect_fail(GOOD, TSL_ELIMIT, "model.json", &o);
}

/* ---- the synthetic archives -------------------------------------------- */

static tsl_model *load_data(const char *name, const char *map_location)
{
	char rel[128];
	char *p;
	tsl_options o = TSL_OPTIONS_INIT;
	tsl_model *m = NULL;
	tsl_error err;
	int rc;

	snprintf(rel, sizeof rel, "legacy/%s", name);
	p = data_path(rel);
	o.map_location = map_location;
	rc = tsl_load_path(&m, p, &o, &err);
	if (rc)
		fail_msg("%s: %s: %s", p, tsl_status_name(rc), err.message);
	free(p);
	return m;
}

static const tsl_value *attr_value(const tsl_module *mod, const char *name,
	tsl_attr_kind kind, const char *type)
{
	tsl_attr a;

	for (size_t i = 0; i < tsl_module_attr_count(mod); i++) {
		assert_int_equal(tsl_module_attr(mod, i, &a), TSL_OK);
		if (strcmp(a.name, name) == 0) {
			assert_int_equal(a.kind, kind);
			if (type)
				assert_string_equal(a.type, type);
			return a.value;
		}
	}
	fail_msg("no attribute %s", name);
	return NULL;
}

struct names { char buf[1024]; size_t n; };

static int collect(void *payload, const char *name, const tsl_tensor *t)
{
	struct names *s = payload;

	(void)t;
	s->n += (size_t)snprintf(s->buf + s->n, sizeof s->buf - s->n, "%s ",
		name);
	return 0;
}

static void test_tree(void **state)
{
	tsl_model *m = load_data("legacy-tree.pt", NULL);
	const tsl_module *root = tsl_model_root(m), *bn, *fc1;
	const tsl_value *v, *consts = tsl_model_constants(m);
	const tsl_tensor *w, *wt;
	struct names s;
	const char *src;
	size_t len;
	tsl_method me;

	(void)state;
	assert_string_equal(tsl_module_type(root), "__torch__.legacy_tree");
	assert_int_equal(tsl_module_training(root), 1);
	/* slots: submodules, parameters/buffers, attributes */
	fc1 = tsl_value_module(attr_value(root, "fc1", TSL_ATTR_MODULE,
		"__torch__.legacy_tree.fc1"));
	bn = tsl_value_module(attr_value(root, "bn", TSL_ATTR_MODULE, NULL));
	assert_non_null(fc1);
	assert_int_equal(tsl_module_training(bn), 0);
	assert_int_equal(tsl_module_training(fc1), -1);
	assert_string_equal(tsl_module_type(tsl_value_module(tsl_module_find(
		root, "seq.0"))), "__torch__.legacy_tree.seq.0");
	assert_int_equal(tsl_module_method_count(tsl_value_module(
		tsl_module_find(root, "seq.0"))), 0);
	attr_value(bn, "running_mean", TSL_ATTR_BUFFER, "Tensor");
	attr_value(fc1, "weight", TSL_ATTR_PARAMETER, "Tensor");
	/* views of one record share its storage */
	w = tsl_module_find_tensor(root, "fc1.weight");
	wt = tsl_module_find_tensor(root, "wt");
	assert_non_null(w);
	assert_non_null(wt);
	assert_ptr_equal(tsl_tensor_storage(w), tsl_tensor_storage(wt));
	assert_ptr_equal(tsl_tensor_storage(w),
		tsl_tensor_storage(tsl_module_find_tensor(root, "sl")));
	assert_int_equal(tsl_tensor_storage_offset(
		tsl_module_find_tensor(root, "sl")), 5);
	assert_int_equal(tsl_tensor_strides(wt)[0], 1);
	assert_int_equal(tsl_tensor_strides(wt)[1], 4);
	assert_int_equal(tsl_tensor_requires_grad(w), 1);
	assert_int_equal(tsl_tensor_ndim(tsl_module_find_tensor(root,
		"bn.num_batches_tracked")), 0);
	/* 16 tensors on 13 records */
	assert_int_equal(tsl_value_len(consts), 16);
	assert_int_equal(tsl_model_storage_count(m), 13);
	/* attributes.pkl values and tensor-table references (1.1) */
	v = attr_value(root, "cfg", TSL_ATTR_ATTRIBUTE, "Dict[str, int]");
	assert_int_equal(tsl_value_kind_of(v), TSL_VALUE_DICT);
	assert_int_equal(tsl_value_int(tsl_value_item(v, 1)), 300);
	v = attr_value(root, "sizes", TSL_ATTR_ATTRIBUTE, "List[int]");
	assert_int_equal(tsl_value_len(v), 3);
	assert_string_equal(tsl_value_type_tag(v), "List[int]");
	v = attr_value(root, "mask", TSL_ATTR_ATTRIBUTE, "Tensor");
	assert_ptr_equal(v, tsl_value_item(consts, 9));
	assert_int_equal(tsl_tensor_dtype(tsl_value_tensor(v)), TSL_BOOL);
	v = attr_value(root, "extra", TSL_ATTR_ATTRIBUTE, "List[Tensor]");
	assert_ptr_equal(tsl_value_item(v, 0), tsl_value_item(consts, 7));
	assert_ptr_equal(tsl_value_item(v, 1), tsl_value_item(consts, 8));
	assert_string_equal(tsl_value_string(attr_value(root, "label",
		TSL_ATTR_ATTRIBUTE, "str"), NULL), "hello");
	/* the module value's state dict names the same slots */
	v = tsl_module_value(root);
	assert_int_equal(tsl_value_len(v), tsl_module_attr_count(root));
	assert_string_equal(tsl_value_attr_name(v, 0), "fc1");
	/* state_dict order: own parameters, own buffers, then children */
	memset(&s, 0, sizeof s);
	assert_int_equal(tsl_module_named_parameters(root, collect, &s), 0);
	assert_string_equal(s.buf, "wt fc1.weight fc1.bias seq.0.weight ");
	/* methods from the code file, self typed with the module type */
	assert_int_equal(tsl_module_method_count(root), 2);
	assert_int_equal(tsl_module_method(root, 1, &me), TSL_OK);
	assert_string_equal(me.name, "helper");
	assert_int_equal(me.nargs, 3);
	assert_string_equal(me.arg_types[0], "__torch__.legacy_tree");
	assert_string_equal(me.arg_types[2], "int");
	assert_string_equal(me.return_types[0], "List[Tensor]");
	assert_int_equal(tsl_module_method_source(root, 1, &src, &len, NULL),
		TSL_OK);
	assert_true(len > 10 && memcmp(src, "def helper(", 11) == 0);
	tsl_model_free(m);
}

static void test_quant_state_device(void **state)
{
	tsl_model *m;
	const tsl_module *root;
	const tsl_tensor *q, *g;
	const tsl_value *st;
	tsl_error err;
	char *p = data_path("legacy/legacy-q.pt");
	int count = 0, rc;

	(void)state;
	/* saved on cuda:0: without map_location that device must exist */
	rc = tsl_load_path(&m, p, NULL, &err);
	if (tsl_device_check("cuda:0", &count, NULL) == TSL_OK) {
		assert_int_equal(rc, TSL_OK);
		tsl_model_free(m);
	} else {
		assert_tsl_fail(rc, err, TSL_EDEVICE);
		assert_null(m);
	}
	free(p);
	m = load_data("legacy-q.pt", "cpu");
	root = tsl_model_root(m);
	st = tsl_module_state(root);
	assert_non_null(st);
	assert_int_equal(tsl_value_kind_of(st), TSL_VALUE_TUPLE);
	q = tsl_value_tensor(tsl_value_item(st, 0));
	assert_non_null(q);
	assert_int_equal(tsl_tensor_dtype(q), TSL_QUINT8);
	assert_int_equal(tsl_tensor_qscheme(q), TSL_QSCHEME_PER_TENSOR_AFFINE);
	assert_true(tsl_tensor_q_scale(q) == 0.5);
	assert_int_equal(tsl_tensor_q_zero_point(q), 3);
	assert_string_equal(tsl_value_type_tag(tsl_value_item(st, 1)),
		"List[int]");
	assert_int_equal(tsl_tensor_dtype(tsl_module_find_tensor(root, "qi")),
		TSL_QINT32);
	g = tsl_module_find_tensor(root, "gpu");
	assert_string_equal(tsl_tensor_saved_device(g), "cuda:0");
	assert_string_equal(tsl_tensor_device(g), "cpu");
	assert_int_equal(tsl_value_kind_of(attr_value(root, "opt",
		TSL_ATTR_ATTRIBUTE, "Optional[int]")), TSL_VALUE_NONE);
	tsl_model_free(m);
}

static void test_plain(void **state)
{
	tsl_model *m = load_data("legacy-plain.pt", NULL);
	const tsl_module *root = tsl_model_root(m);

	(void)state;
	/* the attribute named like the buffer is skipped, as libtorch does */
	assert_int_equal(tsl_module_attr_count(root), 3);
	attr_value(root, "buf", TSL_ATTR_BUFFER, "Tensor");
	assert_int_equal(tsl_value_int(attr_value(root, "count",
		TSL_ATTR_ATTRIBUTE, "int")), 5);
	assert_int_equal(tsl_value_kind_of(attr_value(root, "nothing",
		TSL_ATTR_ATTRIBUTE, NULL)), TSL_VALUE_NONE);
	assert_int_equal(tsl_module_method_count(root), 0);
	tsl_model_free(m);
}

/* ---- the shared real corpus --------------------------------------------- */

static void test_real_corpus(void **state)
{
	char *dir = shared_corpus_path("real"), *tsv, *line, *save = NULL;
	uint8_t *text;
	size_t size, nfiles = 0;

	(void)state;
	if (!dir) {
		print_message("note: ../shared/corpus/real not found; legacy "
			"corpus files skipped\n");
		skip();
	}
	tsv = tu_join(dir, "SOURCES.tsv");
	text = read_file_or_fail(tsv, &size);
	for (line = strtok_r((char *)text, "\n", &save); line;
		line = strtok_r(NULL, "\n", &save)) {
		char *f[8] = { 0 }, *p = line, *path;
		int nf = 0;
		tsl_model *m;
		tsl_error err;
		const tsl_module *root;
		tsl_method me;
		char want[256];
		int rc;

		while (nf < 8 && p) {
			f[nf++] = p;
			p = strchr(p, '\t');
			if (p)
				*p++ = '\0';
		}
		if (nf < 7 || strncmp(f[6], "legacy", 6) != 0)
			continue;
		path = tu_join(dir, f[0]);
		rc = tsl_load_path(&m, path, NULL, &err);
		if (rc)
			fail_msg("%s: %s: %s", f[0], tsl_status_name(rc),
				err.message);
		assert_int_equal(tsl_model_kind(m), TSL_KIND_TORCHSCRIPT_LEGACY);
		root = tsl_model_root(m);
		snprintf(want, sizeof want, "__torch__.%s",
			tsl_archive_prefix(tsl_model_archive(m)));
		assert_string_equal(tsl_module_type(root), want);
		assert_int_equal(tsl_module_method_count(root), 1);
		assert_int_equal(tsl_module_method(root, 0, &me), TSL_OK);
		assert_string_equal(me.name, "forward");
		assert_string_equal(me.arg_types[0], want);
		assert_int_equal(tsl_model_materialize(m, 2, &err), TSL_OK);
		if (strstr(f[0], "tests__foo.pt@")) {
			/* one float, 3.0 in the file: XXH3 computed by
			 * tests/gen/legacy_expected.py from the raw record */
			const tsl_tensor *t = tsl_module_find_tensor(root,
				"value");
			uint64_t h;

			assert_non_null(t);
			assert_int_equal(tsl_tensor_xxh3(t, &h, &err), TSL_OK);
			assert_true(h == 0x876e4a19a3920ea3ull);
		}
		tsl_model_free(m);
		free(path);
		nfiles++;
	}
	print_message("%zu legacy corpus files loaded\n", nfiles);
	assert_true(nfiles >= 3);
	free(text);
	free(tsv);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal_good),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_malformed_pickle_and_limits),
		cmocka_unit_test(test_tree),
		cmocka_unit_test(test_quant_state_device),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_real_corpus),
	};

	int rc = tu_corpus_part("test_real_corpus");

	if (rc)
		return rc;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
