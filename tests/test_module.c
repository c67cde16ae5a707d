/*
 * test_module.c - the module tree API: iteration in PyTorch's orders
 * (named_parameters, named_buffers, named_modules, state_dict keys, as
 * torch.jit.load's module gives them: tests/data/<fixture>.orders, made by
 * tests/gen/gen_orders.py), lookup by dotted path, attributes and methods.
 */
#include "config.h"

#include <pthread.h>

#include "testutil.h"

#include "module/model.h"   /* where a module's values are (slots) */

static const char *const fixtures[] = {
	"good-scripted-mlp.pt", "good-resnet-script.pt", "good-resnet-trace.pt",
	"good-mobilenet-script.pt", "good-lstm.pt", "good-gru.pt",
	"good-transformer-layer.pt", "good-views.pt", "good-dtypes.pt",
	"good-hooks.pt",
};

struct names {
	char **v;
	size_t n, cap;
};

static void names_add(struct names *s, const char *name)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->v = realloc(s->v, s->cap * sizeof *s->v);
		assert_non_null(s->v);
	}
	s->v[s->n] = strdup(name);
	assert_non_null(s->v[s->n]);
	s->n++;
}

static void names_free(struct names *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof *s);
}

/* The "= name" lines of one [section] of an .orders file. */
static void expected(const char *fixture, const char *section,
	struct names *out)
{
	char file[256], *path, *text, *line, *save = NULL;
	char head[64];
	size_t n = 0;
	int in = 0;

	snprintf(file, sizeof file, "%s.orders", fixture);
	path = data_path(file);
	text = (char *)read_file(path, &n);
	assert_non_null(text);
	text = realloc(text, n + 1);
	text[n] = '\0';
	snprintf(head, sizeof head, "[%s]", section);
	for (line = strtok_r(text, "\n", &save); line;
		line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '[')
			in = strcmp(line, head) == 0;
		else if (in && line[0] == '=' && line[1] == ' ')
			names_add(out, line + 2);
	}
	free(text);
	free(path);
}

static int add_tensor(void *payload, const char *name, const tsl_tensor *t)
{
	assert_non_null(t);
	names_add(payload, name);
	return 0;
}

static int add_module(void *payload, const char *name, const tsl_module *m)
{
	assert_non_null(tsl_module_type(m));
	names_add(payload, name);
	return 0;
}

static void check_same(const char *fixture, const char *what,
	struct names *want, struct names *got)
{
	size_t i;

	if (want->n != got->n)
		print_error("%s %s: %zu names, PyTorch has %zu\n", fixture, what,
			got->n, want->n);
	assert_int_equal(got->n, want->n);
	for (i = 0; i < want->n; i++) {
		if (strcmp(want->v[i], got->v[i]) != 0)
			print_error("%s %s[%zu]: '%s', PyTorch has '%s'\n",
				fixture, what, i, got->v[i], want->v[i]);
		assert_string_equal(got->v[i], want->v[i]);
	}
}

/* Twice per fixture: by default and with TSL_OPEN_HUGE_PAGES (another
 * allocator under the same tree: the orders must not change). */
static void orders__equal_pytorch(void **state)
{
	(void)state;
	for (size_t k = 0; k < 2 * sizeof fixtures / sizeof fixtures[0]; k++) {
		size_t f = k / 2;
		char *path = data_path(fixtures[f]);
		const tsl_module *root;
		tsl_model *m;
		tsl_error err;
		tsl_options o = TSL_OPTIONS_INIT;
		struct names want = { 0 }, got = { 0 };

		o.flags = k % 2 ? TSL_OPEN_HUGE_PAGES : 0;
		assert_int_equal(tsl_load_path(&m, path, &o, &err), TSL_OK);
		root = tsl_model_root(m);

		expected(fixtures[f], "named_parameters", &want);
		assert_int_equal(tsl_module_named_parameters(root, add_tensor,
			&got), 0);
		check_same(fixtures[f], "named_parameters", &want, &got);
		names_free(&want);
		names_free(&got);

		expected(fixtures[f], "named_buffers", &want);
		assert_int_equal(tsl_module_named_buffers(root, add_tensor, &got),
			0);
		check_same(fixtures[f], "named_buffers", &want, &got);
		names_free(&want);
		names_free(&got);

		expected(fixtures[f], "named_modules", &want);
		assert_int_equal(tsl_module_named_modules(root, add_module, &got),
			0);
		check_same(fixtures[f], "named_modules", &want, &got);
		names_free(&want);
		names_free(&got);

		expected(fixtures[f], "state_dict", &want);
		assert_int_equal(tsl_module_state_dict(root, add_tensor, &got), 0);
		check_same(fixtures[f], "state_dict", &want, &got);
		/* every state_dict key is also a dotted path to the tensor */
		for (size_t i = 0; i < want.n; i++)
			assert_non_null(tsl_module_find_tensor(root, want.v[i]));
		names_free(&want);
		names_free(&got);

		tsl_model_free(m);
		free(path);
	}
}

static int stop_at_second(void *payload, const char *name,
	const tsl_tensor *t)
{
	int *count = payload;

	(void)name;
	(void)t;
	return ++*count == 2 ? 42 : 0;
}

static void iteration__callback_stops__its_value(void **state)
{
	char *path = data_path("good-resnet-script.pt");
	tsl_model *m;
	tsl_error err;
	int count = 0;

	(void)state;
	assert_int_equal(tsl_load_path(&m, path, NULL, &err), TSL_OK);
	assert_int_equal(tsl_module_named_parameters(tsl_model_root(m),
		stop_at_second, &count), 42);
	assert_int_equal(count, 2);
	tsl_model_free(m);
	free(path);
}

static void find__paths(void **state)
{
	char *path = data_path("good-resnet-script.pt");
	const tsl_module *root;
	const tsl_tensor *t;
	const tsl_value *v;
	tsl_model *m;
	tsl_error err;

	(void)state;
	assert_int_equal(tsl_load_path(&m, path, NULL, &err), TSL_OK);
	root = tsl_model_root(m);
	t = tsl_module_find_tensor(root, "layer1.0.conv1.weight");
	assert_non_null(t);
	assert_int_equal(tsl_tensor_dtype(t), TSL_FLOAT32);
	assert_int_equal(tsl_tensor_ndim(t), 4);
	assert_int_equal(tsl_tensor_shape(t)[0], 8);
	v = tsl_module_find(root, "layer1.0");
	assert_int_equal(tsl_value_kind_of(v), TSL_VALUE_MODULE);
	assert_string_equal(tsl_module_type(tsl_value_module(v)),
		"__torch__.torchvision.models.resnet.BasicBlock");
	v = tsl_module_find(root, "layer1.0.bn1.training");
	assert_int_equal(tsl_value_kind_of(v), TSL_VALUE_BOOL);
	assert_true(tsl_module_find(root, "") == tsl_module_value(root));
	assert_null(tsl_module_find(root, "layer1.7"));
	assert_null(tsl_module_find(root, "layer1.0.conv1.weight.x"));
	assert_null(tsl_module_find(root, "nope"));
	assert_null(tsl_module_find_tensor(root, "layer1.0"));
	assert_null(tsl_module_find(NULL, "x"));
	tsl_model_free(m);
	free(path);
}

static void attrs_and_methods(void **state)
{
	char *path = data_path("good-scripted-mlp.pt");
	const tsl_module *root;
	tsl_model *m;
	tsl_error err;
	tsl_method me;
	tsl_attr a;
	size_t i, n, params = 0;
	const char *src;
	size_t len;
	int found_forward = 0;

	(void)state;
	assert_int_equal(tsl_load_path(&m, path, NULL, &err), TSL_OK);
	root = tsl_model_root(m);
	n = tsl_module_attr_count(root);
	assert_true(n > 0);
	for (i = 0; i < n; i++) {
		assert_int_equal(tsl_module_attr(root, i, &a), TSL_OK);
		assert_non_null(a.name);
		assert_non_null(a.type);
		if (a.kind == TSL_ATTR_MODULE) {
			assert_int_equal(tsl_value_kind_of(a.value),
				TSL_VALUE_MODULE);
			params += tsl_module_attr_count(tsl_value_module(a.value));
		}
	}
	assert_int_equal(tsl_module_attr(root, n, &a), TSL_EINVAL);
	assert_true(params > 0);
	n = tsl_module_method_count(root);
	for (i = 0; i < n; i++) {
		assert_int_equal(tsl_module_method(root, i, &me), TSL_OK);
		if (strcmp(me.name, "forward") == 0) {
			found_forward = 1;
			assert_true(me.nargs >= 2);
			assert_string_equal(me.arg_names[0], "self");
			assert_string_equal(me.arg_types[0], tsl_module_type(root));
			assert_int_equal(me.nreturns, 1);
			assert_int_equal(tsl_module_method_source(root, i, &src,
				&len, &err), TSL_OK);
			assert_true(len > 10);
			assert_true(memcmp(src, "  def forward", 13) == 0);
		}
	}
	assert_true(found_forward);
	/* sorted by name */
	for (i = 1; i < n; i++) {
		tsl_method prev;

		tsl_module_method(root, i - 1, &prev);
		tsl_module_method(root, i, &me);
		assert_true(strcmp(prev.name, me.name) < 0);
	}
	assert_int_equal(tsl_module_training(root), 1);
	tsl_model_free(m);
	free(path);
}

/* Per module: whether its state dict was handed back to the pickle
 * machine (model.c, object_built), and that the value API reads the same
 * attributes, in the same order, from a module either way. */
struct slots_seen {
	size_t modules, in_slots, kept;
};

static int check_slots(void *payload, const char *name, const tsl_module *mod)
{
	struct slots_seen *s = payload;
	const tsl_value *v = tsl_module_value(mod);
	size_t i, n = tsl_module_attr_count(mod);
	tsl_attr a;

	(void)name;
	s->modules++;
	if (v->u.mod.state) {
		s->kept++;
	} else {
		/* no dict: the values are in the module's slots */
		assert_non_null(mod->vals);
		s->in_slots++;
	}
	if (tsl_module_state(mod)) {
		/* __getstate__: its state is opaque and stays */
		assert_non_null(v->u.mod.state);
		assert_int_equal(tsl_value_len(v), 0);
		return 0;
	}
	assert_int_equal(tsl_value_len(v), n);
	for (i = 0; i < n; i++) {
		assert_int_equal(tsl_module_attr(mod, i, &a), TSL_OK);
		assert_string_equal(tsl_value_attr_name(v, i), a.name);
		assert_ptr_equal(tsl_value_attr(v, i), a.value);
		assert_ptr_equal(tsl_module_find(mod, a.name), a.value);
	}
	assert_null(tsl_value_attr_name(v, n));
	assert_null(tsl_value_attr(v, n));
	return 0;
}

static void slots__value_api_agrees(void **state)
{
	static const char *const files[] = { "good-resnet-script.pt",
		"good-resnet-trace.pt", "good-scripted-mlp.pt",
		"good-class-objects.pt", "good-hooks.pt" };
	size_t total_in_slots = 0, total_kept = 0;

	(void)state;
	for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
		char *path = data_path(files[f]);
		struct slots_seen s = { 0 };
		tsl_model *m;
		tsl_error err;

		assert_int_equal(tsl_load_path(&m, path, NULL, &err), TSL_OK);
		assert_int_equal(tsl_module_named_modules(tsl_model_root(m),
			check_slots, &s), 0);
		assert_int_equal(s.modules, s.in_slots + s.kept);
		print_message("    %s: %zu modules, %zu in slots\n", files[f], s.modules, s.in_slots);
		total_in_slots += s.in_slots;
		total_kept += s.kept;
		tsl_model_free(m);
		free(path);
	}
	/* the second and later modules of a class are made at BUILD (13
	 * of the scripted resnet's 44: torch mangles a class per shape of
	 * Conv2d, and the traced one has a class per module, so none);
	 * the __getstate__ modules of class-objects keep their state */
	assert_true(total_in_slots >= 10);
	assert_true(total_kept >= 1);
}

/* Methods are parsed on first use: a broken signature does not stop the
 * load, and is reported by tsl_module_methods_load (and as "no methods"). */
static void methods__broken_signature__reported_on_use(void **state)
{
	char *path = data_path("bad-method.pt");
	const tsl_module *root, *seq;
	tsl_model *m;
	tsl_error err;
	tsl_method me;

	(void)state;
	assert_int_equal(tsl_load_path(&m, path, NULL, &err), TSL_OK);
	root = tsl_model_root(m);
	memset(&err, 0, sizeof err);
	assert_int_equal(tsl_module_methods_load(root, &err), TSL_EFORMAT);
	assert_non_null(strstr(err.record, "code/__torch__.py"));
	assert_true(err.message[0] != '\0');
	assert_int_equal(tsl_module_method_count(root), 0);
	assert_int_equal(tsl_module_method(root, 0, &me), TSL_EFORMAT);
	/* asked again: the same answer, not a second parse */
	assert_int_equal(tsl_module_methods_load(root, &err), TSL_EFORMAT);
	/* the other classes are fine */
	seq = tsl_value_module(tsl_module_find(root, "layers"));
	assert_non_null(seq);
	assert_int_equal(tsl_module_methods_load(seq, &err), TSL_OK);
	assert_true(tsl_module_method_count(seq) > 0);
	tsl_model_free(m);
	free(path);
}

/* Methods are parsed on first use, under a lock: threads racing on the
 * same classes must all see the same tables. */
struct race {
	const tsl_module *mods[256];
	size_t n;
	size_t counts[8][256];
};

static int collect_module(void *payload, const char *name,
	const tsl_module *mod)
{
	struct race *r = payload;

	(void)name;
	if (r->n < 256)
		r->mods[r->n++] = mod;
	return 0;
}

static struct race *race_arg;
static int race_next;

static void *race_worker(void *arg)
{
	int t = __atomic_fetch_add(&race_next, 1, __ATOMIC_SEQ_CST);
	struct race *r = race_arg;

	(void)arg;
	for (size_t i = 0; i < r->n; i++) {
		size_t k = (i + (size_t)t * 7) % r->n;
		tsl_method me;

		r->counts[t][k] = tsl_module_method_count(r->mods[k]);
		if (r->counts[t][k])
			tsl_module_method(r->mods[k], 0, &me);
	}
	return NULL;
}

static void methods__threads_race__same_tables(void **state)
{
	char *path = data_path("good-mobilenet-trace.pt");
	struct race *r = calloc(1, sizeof *r);
	pthread_t th[8];
	tsl_model *m;
	tsl_error err;

	(void)state;
	assert_non_null(r);
	assert_int_equal(tsl_load_path(&m, path, NULL, &err), TSL_OK);
	tsl_module_named_modules(tsl_model_root(m), collect_module, r);
	assert_true(r->n > 10);
	race_arg = r;
	race_next = 0;
	for (int t = 0; t < 8; t++)
		assert_int_equal(pthread_create(&th[t], NULL, race_worker, NULL),
			0);
	for (int t = 0; t < 8; t++)
		pthread_join(th[t], NULL);
	for (size_t i = 0; i < r->n; i++) {
		assert_true(r->counts[0][i] > 0);
		for (int t = 1; t < 8; t++)
			assert_int_equal(r->counts[t][i], r->counts[0][i]);
	}
	tsl_model_free(m);
	free(r);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(methods__threads_race__same_tables),
		cmocka_unit_test(methods__broken_signature__reported_on_use),
		cmocka_unit_test(orders__equal_pytorch),
		cmocka_unit_test(iteration__callback_stops__its_value),
		cmocka_unit_test(find__paths),
		cmocka_unit_test(attrs_and_methods),
		cmocka_unit_test(slots__value_api_agrees),
	};

	return cmocka_run_group_tests_name("module", tests, NULL, NULL);
}
