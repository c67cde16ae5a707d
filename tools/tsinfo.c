/* tsinfo - inspect TorchScript archives and torch.save checkpoints: their
 * records, their module tree (or value tree), or the canonical JSON dump. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_msg.h"
#include "tsinfo.h"

/* The library's words for tsinfo's (see cli_msg.h). */
static const struct tsl_cli_word tsinfo_words[] = {
	{ "(use tsl_archive_open_reader for pipes and sockets)",
		"(tsinfo reads pipes given as - or /dev/stdin)" },
	{ NULL, NULL }
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tsinfo [OPTIONS] ARCHIVE...\n"
		"  ARCHIVE is a file, or - for standard input (a pipe: cat m.pt | tsinfo -)\n"
		"  (default)            the module tree: types, methods, parameters and\n"
		"                       buffers (dtype, shape, elements, size), packed\n"
		"                       weights of quantized layers, attributes, traced\n"
		"                       inputs, constants, extra files; for a checkpoint, every\n"
		"                       tensor at its dotted path and the other values\n"
		"  --json               the canonical JSON dump (doc/tsinfo-json.md)\n"
		"  --records            the archive's records: name, method, sizes,\n"
		"                       data offset and alignment\n"
		"  --map-location DEV   as torch.jit.load's map_location (cpu, cuda:0...);\n"
		"                       also --map-location=DEV\n"
		"  --restore-shapes     as torch.jit.load's _restore_shapes: method\n"
		"                       arguments get the traced inputs' dtype and shape\n"
		"  --no-hash            skip tensor hashes (reads no tensor bytes)\n"
		"  --checkpoint         also read torch.save zip checkpoints (their\n"
		"                       value tree); without it they are refused\n"
		"  --version            print the library version\n"
		"  -h, --help           print this help\n"
		"--json and --records exclude each other.  With several archives, each\n"
		"is printed in turn (a '==> NAME <==' line before each, except with\n"
		"--json, which prints one JSON document per archive).  Exit status: 0,\n"
		"1 if an archive could not be read, 2 for a usage error.\n");
}

/* "tsinfo: NAME: message [record R, offset N]" in tsinfo's words. */
static void report(const char *name, const tsl_error *err)
{
	char msg[sizeof err->message + 64];

	tsl_cli_message(msg, sizeof msg, err->message, tsinfo_words);
	fprintf(stderr, "tsinfo: %s: %s", name, msg);
	if (err->record[0])
		fprintf(stderr, " [record %s", err->record);
	if (err->record[0] && err->offset != UINT64_MAX)
		fprintf(stderr, ", offset %" PRIu64, err->offset);
	fputs(err->record[0] ? "]\n" : "\n", stderr);
}

static int list_records(const char *name, tsl_archive *ar)
{
	size_t i, n = tsl_archive_record_count(ar);
	tsl_error err;

	printf("# %s: prefix '%s', format version %" PRIu64 ", %zu records, %s\n",
		tsl_file_kind_name(tsl_archive_kind(ar)), tsl_archive_prefix(ar),
		tsl_archive_format_version(ar), n,
		tsl_archive_big_endian(ar) ? "big-endian" : "little-endian");
	printf("%-8s %12s %12s %12s %5s  %s\n", "method", "size", "compressed",
		"data_offset", "align", "name");
	for (i = 0; i < n; i++) {
		tsl_record_info r;
		uint64_t off;
		unsigned align = 0;

		if (tsl_archive_record(ar, i, &r) != TSL_OK)
			return 1;
		if (tsl_archive_record_data_offset(ar, i, &off, &err) != TSL_OK) {
			report(name, &err);
			return 1;
		}
		for (align = 1; align < 4096 && off % (align * 2) == 0; align *= 2)
			;
		printf("%-8s %12" PRIu64 " %12" PRIu64 " %12" PRIu64 " %5u  %s\n",
			r.method == 0 ? "stored" : r.method == 8 ? "deflate" : "other",
			r.size, r.compressed_size, off, align, r.name);
	}
	return 0;
}

/* n scaled by `base` until below it, with the unit of that step:
 * "5 B", "1.5 KiB" (base 1024); "640", "11.7M" (base 1000). */
static void scaled(char *buf, size_t cap, uint64_t n, double base,
	const char *const *u, int nu)
{
	double v = (double)n;
	int i = 0;

	while (v >= base && i < nu - 1) {
		v /= base;
		i++;
	}
	snprintf(buf, cap, i ? "%.1f%s" : "%.0f%s", v, u[i]);
}

/* Bytes in binary units, always with a unit: "5 B", "1.5 KiB". */
static void human(char *buf, size_t cap, uint64_t n)
{
	static const char *const u[] = { " B", " KiB", " MiB", " GiB",
		" TiB" };

	scaled(buf, cap, n, 1024, u, 5);
}

/* A count in decimal units: "640", "11.7M". */
static void count_str(char *buf, size_t cap, uint64_t n)
{
	static const char *const u[] = { "", "K", "M", "G", "T", "P" };

	scaled(buf, cap, n, 1000, u, 6);
}

static void shape_str(char *buf, size_t cap, const tsl_tensor *t)
{
	size_t n = tsl_tensor_ndim(t), o = 0;
	const int64_t *s = tsl_tensor_shape(t);

	o += (size_t)snprintf(buf + o, cap - o, "[");
	for (size_t i = 0; i < n && o < cap; i++)
		o += (size_t)snprintf(buf + o, cap - o, "%s%" PRId64,
			i ? ", " : "", s[i]);
	if (o < cap)
		snprintf(buf + o, cap - o, "]");
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p) {
		fputs("tsinfo: out of memory\n", stderr);
		exit(1);
	}
	return p;
}

/* ------------------------------------------------------------------------ */
/* Tensor tables: rows collected first, so that columns line up            */
/* ------------------------------------------------------------------------ */

struct row {
	char *name;
	const tsl_tensor *t;
};

struct table {
	struct row *rows;
	size_t n, cap;
};

static void table_add(struct table *tb, const char *name, const tsl_tensor *t)
{
	if (tb->n == tb->cap) {
		size_t cap = tb->cap ? 2 * tb->cap : 64;
		struct row *r = realloc(tb->rows, cap * sizeof *r);

		if (!r) {
			fputs("tsinfo: out of memory\n", stderr);
			exit(1);
		}
		tb->rows = r;
		tb->cap = cap;
	}
	tb->rows[tb->n].name = xstrdup(name);
	tb->rows[tb->n].t = t;
	tb->n++;
}

static void table_free(struct table *tb)
{
	for (size_t i = 0; i < tb->n; i++)
		free(tb->rows[i].name);
	free(tb->rows);
	tb->rows = NULL;
	tb->n = tb->cap = 0;
}

/* Bytes a tensor's elements take (packed for quint4x2 / quint2x4): a
 * sparse tensor's are its indices' and values'. */
static uint64_t tensor_bytes(const tsl_tensor *t)
{
	uint64_t n;

	if (!t)
		return 0;
	if (tsl_tensor_layout(t) == TSL_LAYOUT_SPARSE_COO)
		return tensor_bytes(tsl_tensor_sparse_indices(t)) +
			tensor_bytes(tsl_tensor_sparse_values(t));
	return tsl_tensor_nbytes(t, &n, NULL) == TSL_OK ? n : UINT64_MAX;
}

static const char *dtype_str(const tsl_tensor *t)
{
	const char *d = tsl_dtype_name(tsl_tensor_dtype(t));

	return d ? d : "?";
}

/* Names longer than this get a line of their own. */
#define NAME_MAX_COL 48

/* What follows a row's device: "  sparse_coo", or for a quantized tensor
 * its scheme ("  quantized per_tensor_affine scale=0.1 zero_point=3",
 * "  quantized per_channel_affine axis=0"), else "". */
static void mark_str(char *buf, size_t cap, const tsl_tensor *t)
{
	static const char *const schemes[] = { "per_tensor_affine",
		"per_channel_affine", "per_tensor_symmetric",
		"per_channel_symmetric", "per_channel_affine_float_qparams" };
	tsl_qscheme q = tsl_tensor_qscheme(t);

	if (tsl_tensor_layout(t) == TSL_LAYOUT_SPARSE_COO)
		snprintf(buf, cap, "  sparse_coo");
	else if (q == TSL_QSCHEME_PER_TENSOR_AFFINE ||
		q == TSL_QSCHEME_PER_TENSOR_SYMMETRIC)
		snprintf(buf, cap, "  quantized %s scale=%.6g zero_point=%"
			PRId64, schemes[q], tsl_tensor_q_scale(t),
			tsl_tensor_q_zero_point(t));
	else if (q >= 0 && (size_t)q < sizeof schemes / sizeof *schemes)
		snprintf(buf, cap, "  quantized %s axis=%" PRId64, schemes[q],
			tsl_tensor_q_axis(t));
	else if (q != TSL_QSCHEME_NONE)
		snprintf(buf, cap, "  quantized");
	else
		buf[0] = 0;
}

/* The sums of a table's rows. */
static void table_sums(const struct table *tb, uint64_t *numel,
	uint64_t *bytes)
{
	*numel = *bytes = 0;
	for (size_t i = 0; i < tb->n; i++) {
		*numel += tsl_tensor_numel(tb->rows[i].t);
		*bytes += tensor_bytes(tb->rows[i].t);
	}
}

/* The parameters' line when a model also holds packed weights:
 * "(0 parameters, 57 packed weights (2.2M elements, 2.4 MiB))", the
 * elements and bytes of both together. */
static void weights_print(const struct table *tp, const struct table *pk)
{
	uint64_t n1, b1, n2, b2;
	char size[32], el[32];

	table_sums(tp, &n1, &b1);
	table_sums(pk, &n2, &b2);
	human(size, sizeof size, b1 + b2);
	count_str(el, sizeof el, n1 + n2);
	printf("  (%zu parameter%s, %zu packed weight%s (%s elements, %s))\n",
		tp->n, tp->n == 1 ? "" : "s", pk->n, pk->n == 1 ? "" : "s", el,
		size);
}

/* Print the rows, then "(N what, E elements, B)" -- or, when packed holds
 * rows (the parameters of a quantized model), weights_print's line. */
static void table_print(const struct table *tb, const char *one,
	const char *many, const struct table *packed)
{
	char mark[160];

	size_t wn = 4, wd = 5, ws = 5, i;
	uint64_t count = 0, numel = 0, bytes = 0;
	char shape[256], size[32], el[32];

	for (i = 0; i < tb->n; i++) {
		size_t l = strlen(tb->rows[i].name);

		if (l > wn && l <= NAME_MAX_COL)
			wn = l;
		if (strlen(dtype_str(tb->rows[i].t)) > wd)
			wd = strlen(dtype_str(tb->rows[i].t));
		shape_str(shape, sizeof shape, tb->rows[i].t);
		if (strlen(shape) > ws)
			ws = strlen(shape);
	}
	if (tb->n)
		printf("  %-*s  %-*s  %-*s  %9s  %10s  %s\n", (int)wn, "name",
			(int)wd, "dtype", (int)ws, "shape", "elements", "size",
			"device");
	for (i = 0; i < tb->n; i++) {
		const tsl_tensor *t = tb->rows[i].t;
		uint64_t b = tensor_bytes(t);
		const char *name = tb->rows[i].name;

		shape_str(shape, sizeof shape, t);
		human(size, sizeof size, b);
		count_str(el, sizeof el, tsl_tensor_numel(t));
		if (strlen(name) > wn) {
			printf("  %s\n", name);
			name = "";
		}
		mark_str(mark, sizeof mark, t);
		printf("  %-*s  %-*s  %-*s  %9s  %10s  %s%s\n", (int)wn, name,
			(int)wd, dtype_str(t), (int)ws, shape, el, size,
			tsl_tensor_device(t), mark);
		count++;
		numel += tsl_tensor_numel(t);
		bytes += b;
	}
	if (packed && packed->n) {
		weights_print(tb, packed);
		return;
	}
	human(size, sizeof size, bytes);
	count_str(el, sizeof el, numel);
	printf("  (%" PRIu64 " %s, %s elements, %s)\n", count,
		count == 1 ? one : many, el, size);
}


static int add_row(void *payload, const char *name, const tsl_tensor *t)
{
	table_add(payload, name, t);
	return 0;
}

/* The tensors found nowhere in the state_dict that tsinfo shows: those
 * inside a __getstate__ state (the packed weights of quantized layers)
 * and the tensor constants. */
struct extra_tensors {
	struct table packed, constants;
};

static int add_extra(void *payload, const tsl_tensor_entry *e)
{
	struct extra_tensors *x = payload;

	if (e->origin == TSL_ORIGIN_STATE)
		table_add(&x->packed, e->name, e->tensor);
	else if (e->origin == TSL_ORIGIN_CONSTANT)
		table_add(&x->constants, e->name, e->tensor);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Values in one line                                                        */
/* ------------------------------------------------------------------------ */

/* The shortest %g text that reads back as d (as Python's repr). */
static void shortest(char *buf, size_t cap, double d)
{
	for (int p = 1; p <= 17; p++) {
		snprintf(buf, cap, "%.*g", p, d);
		if (strtod(buf, NULL) == d)
			return;
	}
}

static int is_scalar(const tsl_value *v)
{
	switch (tsl_value_kind_of(v)) {
	case TSL_VALUE_NONE: case TSL_VALUE_BOOL: case TSL_VALUE_INT:
	case TSL_VALUE_FLOAT: case TSL_VALUE_COMPLEX: case TSL_VALUE_STRING:
	case TSL_VALUE_DEVICE: case TSL_VALUE_ENUM:
		return 1;
	default:
		return 0;
	}
}

static void value_str(char *buf, size_t cap, const tsl_value *v);

/* A list or tuple of scalars in one line: "[0, 1, 2]", "(1, 'two')";
 * 0 when v holds anything else. */
static int scalars_str(char *buf, size_t cap, const tsl_value *v)
{
	tsl_value_kind k = tsl_value_kind_of(v);
	size_t i, n = tsl_value_len(v), o;
	char item[128];

	if ((k != TSL_VALUE_LIST && k != TSL_VALUE_TUPLE) || n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (!is_scalar(tsl_value_item(v, i)))
			return 0;
	o = (size_t)snprintf(buf, cap, "%c", k == TSL_VALUE_LIST ? '[' : '(');
	for (i = 0; i < n && o + 8 < cap; i++) {
		value_str(item, sizeof item, tsl_value_item(v, i));
		if (o + strlen(item) + 16 > 100 || o + strlen(item) + 16 > cap) {
			o += (size_t)snprintf(buf + o, cap - o, "%s... %zu items",
				i ? ", " : "", n);
			break;
		}
		o += (size_t)snprintf(buf + o, cap - o, "%s%s", i ? ", " : "",
			item);
	}
	if (o + 2 < cap)
		snprintf(buf + o, cap - o, "%c", k == TSL_VALUE_LIST ? ']' : ')');
	return 1;
}

static void value_str(char *buf, size_t cap, const tsl_value *v)
{
	tsl_value_kind k = tsl_value_kind_of(v);
	const char *s;
	size_t len;
	double re, im;

	switch (k) {
	case TSL_VALUE_NONE:
		snprintf(buf, cap, "None");
		break;
	case TSL_VALUE_BOOL:
		snprintf(buf, cap, "%s", tsl_value_bool(v) ? "True" : "False");
		break;
	case TSL_VALUE_INT:
		snprintf(buf, cap, "%" PRId64, tsl_value_int(v));
		break;
	case TSL_VALUE_FLOAT:
		shortest(buf, cap, tsl_value_float(v));
		break;
	case TSL_VALUE_COMPLEX:
		tsl_value_complex(v, &re, &im);
		snprintf(buf, cap, "(%.17g%+.17gj)", re, im);
		break;
	case TSL_VALUE_STRING:
	case TSL_VALUE_DEVICE:
		s = tsl_value_string(v, &len);
		if (len > 60)
			snprintf(buf, cap, "'%.57s...' (%zu bytes)", s, len);
		else
			snprintf(buf, cap, "'%s'", s);
		break;
	case TSL_VALUE_BYTES:
		tsl_value_string(v, &len);
		snprintf(buf, cap, "bytes (%zu)", len);
		break;
	case TSL_VALUE_LIST:
	case TSL_VALUE_TUPLE:
	case TSL_VALUE_DICT:
		if (scalars_str(buf, cap, v))
			break;
		snprintf(buf, cap, "%s of %zu", tsl_value_kind_name(k),
			tsl_value_len(v));
		break;
	case TSL_VALUE_ENUM:
		snprintf(buf, cap, "%s.%s", tsl_value_type_name(v),
			tsl_value_enum_name(v));
		break;
	case TSL_VALUE_OBJECT:
	case TSL_VALUE_MODULE:
		snprintf(buf, cap, "%s", tsl_value_type_name(v));
		break;
	case TSL_VALUE_TENSOR:
		if (!tsl_value_tensor(v)) {
			snprintf(buf, cap, "undefined tensor");
			break;
		}
		{
			char sh[200];

			shape_str(sh, sizeof sh, tsl_value_tensor(v));
			snprintf(buf, cap, "%s%s", dtype_str(tsl_value_tensor(v)),
				sh);
		}
		break;
	default:
		snprintf(buf, cap, "%s", tsl_value_kind_name(k));
	}
}

/* ------------------------------------------------------------------------ */
/* Checkpoints: the value tree                                               */
/* ------------------------------------------------------------------------ */

struct walk {
	struct table tensors;
	size_t values, shown;     /* other values met, printed */
	size_t steps;             /* values visited, along every path */
	int depth;
};

#define VALUES_SHOWN 200
#define WALK_DEPTH 200
/* A saved object whose values are shared along very many paths (40 lists
 * of [a, a] have 2^40) is not walked to its end: only this many values,
 * which is more than VALUES_SHOWN lines need. */
#define WALK_STEPS 1000000

static void walk_line(struct walk *w, const char *path, const char *what)
{
	w->values++;
	if (w->shown >= VALUES_SHOWN)
		return;
	w->shown++;
	printf("  %s: %s\n", *path ? path : "(top)", what);
}

/* path + "." + key, malloc'd ("key" alone at the top). */
static char *join(const char *path, const char *key)
{
	size_t a = strlen(path), b = strlen(key);
	char *s = malloc(a + b + 2);

	if (!s) {
		fputs("tsinfo: out of memory\n", stderr);
		exit(1);
	}
	if (a) {
		memcpy(s, path, a);
		s[a] = '.';
		memcpy(s + a + 1, key, b + 1);
	} else {
		memcpy(s, key, b + 1);
	}
	return s;
}

/* The values that are not tensors, a line "path: value" each; containers
 * are entered (the tensors are listed before, from tsl_model_tensor_at). */
static void walk_value(struct walk *w, const char *path, const tsl_value *v)
{
	tsl_value_kind k = tsl_value_kind_of(v);
	char buf[256], key[128];
	size_t i, n;

	if (++w->steps > WALK_STEPS)
		return;
	if (w->depth > WALK_DEPTH) {
		walk_line(w, path, "(nested too deep)");
		return;
	}
	w->depth++;
	switch (k) {
	case TSL_VALUE_TENSOR:
		if (!tsl_value_tensor(v))
			walk_line(w, path, "undefined tensor");
		break;
	case TSL_VALUE_LIST:
	case TSL_VALUE_TUPLE:
	case TSL_VALUE_DICT:
		if (scalars_str(buf, sizeof buf, v)) {
			walk_line(w, path, buf);
			break;
		}
		n = tsl_value_len(v);
		if (n == 0) {
			snprintf(buf, sizeof buf, "empty %s",
				tsl_value_kind_name(k));
			walk_line(w, path, buf);
		}
		for (i = 0; i < n; i++) {
			const tsl_value *kv = k == TSL_VALUE_DICT ?
				tsl_value_key(v, i) : NULL;
			const char *ks = key;
			char *p;

			if (!kv)
				snprintf(key, sizeof key, "%zu", i);
			else if (tsl_value_kind_of(kv) == TSL_VALUE_STRING)
				ks = tsl_value_string(kv, NULL);   /* whole */
			else
				value_str(key, sizeof key, kv);
			p = join(path, ks);
			walk_value(w, p, tsl_value_item(v, i));
			free(p);
		}
		break;
	case TSL_VALUE_OBJECT:
		snprintf(buf, sizeof buf, "%s object", tsl_value_type_name(v));
		walk_line(w, path, buf);
		n = tsl_value_len(v);
		for (i = 0; i < n; i++) {
			char *p = join(path, tsl_value_attr_name(v, i));

			walk_value(w, p, tsl_value_attr(v, i));
			free(p);
		}
		if (tsl_value_state(v)) {
			char *p = join(path, "__getstate__");

			walk_value(w, p, tsl_value_state(v));
			free(p);
		}
		break;
	default:
		value_str(buf, sizeof buf, v);
		walk_line(w, path, buf);
	}
	w->depth--;
}

static int print_checkpoint(tsl_model *m)
{
	const tsl_value *v = tsl_model_value(m);
	struct walk w;
	tsl_error err;
	size_t n;

	memset(&w, 0, sizeof w);
	/* the tensors under the names tsconvert and tsl_model_tensor_at
	 * give them (every path of a shared container, within a budget) */
	if (tsl_model_tensor_count(m, &n, &err) != TSL_OK) {
		fprintf(stderr, "tsinfo: cannot list the tensors: %s\n",
			err.message);
		return 1;
	}
	printf("%s\n\nTensors:\n", tsl_file_kind_name(tsl_model_kind(m)));
	for (size_t i = 0; i < n; i++) {
		tsl_tensor_entry e;

		if (tsl_model_tensor_at(m, i, &e) == TSL_OK)
			table_add(&w.tensors, *e.name ? e.name : "(top)",
				e.tensor);
	}
	table_print(&w.tensors, "tensor", "tensors", NULL);
	printf("\nOther values:\n");
	walk_value(&w, "", v);
	if (w.steps > WALK_STEPS)
		printf("  (stopped after %d values: the saved object shares "
			"values along too many paths)\n", WALK_STEPS);
	else if (w.values > w.shown)
		printf("  ... and %zu more (--json shows them all)\n",
			w.values - w.shown);
	if (!w.values)
		printf("  (none)\n");
	table_free(&w.tensors);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* TorchScript: the module tree                                              */
/* ------------------------------------------------------------------------ */

static int print_module(void *payload, const char *name, const tsl_module *m)
{
	size_t i, n;
	int depth = 0, ind;
	tsl_error err;

	(void)payload;
	for (const char *p = name; *p; p++)
		depth += *p == '.';
	ind = 2 * (depth + (*name != 0));
	printf("%*s%s: %s\n", ind, "", *name ? name : "(root)",
		tsl_module_type(m));
	if (tsl_module_methods_load(m, &err) != TSL_OK)
		printf("%*s  (methods unreadable: %s)\n", ind, "", err.message);
	n = tsl_module_method_count(m);
	for (i = 0; i < n; i++) {
		tsl_method me;

		if (tsl_module_method(m, i, &me) != TSL_OK)
			continue;
		printf("%*s  def %s(", ind, "", me.name);
		for (size_t a = 0; a < me.nargs; a++) {
			printf("%s%s: %s", a ? ", " : "", me.arg_names[a],
				a == 0 ? "Self" : me.arg_types[a]);
			if (me.arg_shapes && me.arg_shapes[a])
				printf(" (%s)", me.arg_shapes[a]);
		}
		printf(") -> %s\n", me.return_types[0]);
	}
	return 0;
}

struct attrs {
	size_t n;
};

/* The plain attributes (not parameters, buffers or submodules; nn.Module's
 * own `training` and `_is_full_backward_hook` left out) of every module, at
 * their dotted paths. */
static int print_attrs(void *payload, const char *name, const tsl_module *m)
{
	struct attrs *a = payload;
	size_t i, n = tsl_module_attr_count(m);
	char buf[256];

	for (i = 0; i < n; i++) {
		tsl_attr at;
		char *p;

		if (tsl_module_attr(m, i, &at) != TSL_OK ||
			at.kind != TSL_ATTR_ATTRIBUTE ||
			strcmp(at.name, "training") == 0 ||
			strcmp(at.name, "_is_full_backward_hook") == 0)
			continue;
		if (at.value)
			value_str(buf, sizeof buf, at.value);
		else
			snprintf(buf, sizeof buf, "(in __getstate__)");
		p = join(name, at.name);
		printf("  %s: %s = %s\n", p, at.type ? at.type : "?", buf);
		free(p);
		a->n++;
	}
	return 0;
}

static void print_traced_inputs(tsl_model *m)
{
	const tsl_value *ti = tsl_model_traced_inputs(m);
	char buf[256];

	if (!ti)
		return;
	printf("\nTraced inputs:\n");
	for (size_t i = 0; i < tsl_value_len(ti); i++) {
		const tsl_value *k = tsl_value_key(ti, i);
		const tsl_value *l = tsl_value_item(ti, i);

		printf("  %s(", tsl_value_kind_of(k) == TSL_VALUE_STRING ?
			tsl_value_string(k, NULL) : "?");
		for (size_t j = 0; j < tsl_value_len(l); j++) {
			value_str(buf, sizeof buf, tsl_value_item(l, j));
			printf("%s%s", j ? ", " : "", buf);
		}
		printf(")\n");
	}
}

static int print_tree(tsl_model *m)
{
	const tsl_module *root = tsl_model_root(m);
	tsl_archive *ar = tsl_model_archive(m);
	struct table tp = { NULL, 0, 0 }, tb = { NULL, 0, 0 };
	struct attrs at = { 0 };
	struct extra_tensors x;
	tsl_error terr;
	char size[32], el[32];
	uint64_t numel, bytes;
	size_t i, n;

	printf("%s, format version %" PRIu64 ", prefix '%s'\n\nModules:\n",
		tsl_file_kind_name(tsl_archive_kind(ar)),
		tsl_archive_format_version(ar), tsl_archive_prefix(ar));
	tsl_module_named_modules(root, print_module, NULL);
	memset(&x, 0, sizeof x);
	memset(&terr, 0, sizeof terr);
	if (tsl_model_tensors(m, add_extra, &x, &terr) != TSL_OK)
		fprintf(stderr, "tsinfo: warning: packed weights and tensor "
			"constants not listed: %s\n", terr.message);
	printf("\nParameters:\n");
	tsl_module_named_parameters(root, add_row, &tp);
	table_print(&tp, "parameter", "parameters", &x.packed);
	printf("\nBuffers:\n");
	tsl_module_named_buffers(root, add_row, &tb);
	table_print(&tb, "buffer", "buffers", NULL);
	if (x.packed.n) {
		printf("\nPacked weights (in __getstate__ state):\n");
		table_print(&x.packed, "packed weight", "packed weights",
			NULL);
	}
	table_free(&tp);
	table_free(&tb);
	printf("\nAttributes:\n");
	tsl_module_named_modules(root, print_attrs, &at);
	printf("  (%zu attribute%s)\n", at.n, at.n == 1 ? "" : "s");
	print_traced_inputs(m);
	printf("\nConstants: %zu", tsl_value_len(tsl_model_constants(m)));
	if (x.constants.n) {
		table_sums(&x.constants, &numel, &bytes);
		human(size, sizeof size, bytes);
		count_str(el, sizeof el, numel);
		printf(" (%zu tensor%s, %s elements, %s)", x.constants.n,
			x.constants.n == 1 ? "" : "s", el, size);
	}
	printf("\n");
	table_free(&x.packed);
	table_free(&x.constants);
	n = tsl_archive_extra_count(ar);
	printf("\nExtra files: %zu\n", n);
	for (i = 0; i < n; i++) {
		const void *d;
		size_t sz;
		tsl_error err;

		if (tsl_archive_extra_read(ar, tsl_archive_extra_name(ar, i), &d,
			&sz, &err) == TSL_OK) {
			human(size, sizeof size, sz);
			printf("  %-40s %10s\n", tsl_archive_extra_name(ar, i),
				size);
		}
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Input: a file, or a pipe read to its end                                  */
/* ------------------------------------------------------------------------ */

static int64_t fd_read(void *payload, void *buf, size_t size)
{
	ssize_t n;

	do
		n = read(*(int *)payload, buf, size);
	while (n < 0 && errno == EINTR);
	return n;
}

static int64_t no_seek(void *payload, int64_t offset, int whence)
{
	(void)payload;
	(void)offset;
	(void)whence;
	return -1;   /* a stream: the library reads it to its end now */
}

static int64_t no_tell(void *payload)
{
	(void)payload;
	return -1;
}

/* Open NAME ("-": standard input).  A regular file or block device is
 * mapped; anything else (a pipe, /dev/stdin on a pipe, a socket) is read
 * to its end as a stream. */
static int open_input(const char *name, const tsl_options *opts,
	tsl_archive **ar, tsl_error *err)
{
	int fd = strcmp(name, "-") == 0 ? 0 : open(name, O_RDONLY | O_CLOEXEC);
	struct stat st;
	int rc;

	if (fd < 0 || fstat(fd, &st) != 0) {
		memset(err, 0, sizeof *err);
		err->code = TSL_EIO;
		err->offset = UINT64_MAX;
		snprintf(err->message, sizeof err->message, "%s",
			strerror(errno));
		if (fd > 0)
			close(fd);
		return TSL_EIO;
	}
	if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode) || S_ISDIR(st.st_mode)) {
		rc = tsl_archive_open_fd(ar, fd, opts, err);
	} else {
		tsl_reader r = { fd_read, no_seek, no_tell, &fd };

		rc = tsl_archive_open_reader(ar, &r, opts, err);
	}
	if (fd > 0)
		close(fd);
	return rc;
}

/* ------------------------------------------------------------------------ */

struct run {
	int records, json, hashes;
	tsl_options opts;
};

static int run_one(const struct run *r, const char *name)
{
	tsl_archive *ar;
	tsl_model *m;
	tsl_error err;
	int rc;

	memset(&err, 0, sizeof err);
	if (open_input(name, &r->opts, &ar, &err) != TSL_OK) {
		report(name, &err);
		return 1;
	}
	if (r->records) {
		rc = list_records(name, ar);
		tsl_archive_free(ar);
		return rc;
	}
	memset(&err, 0, sizeof err);
	rc = tsl_model_load(&m, ar, &r->opts, &err);
	tsl_archive_free(ar);
	if (rc < 0) {
		report(name, &err);
		return 1;
	}
	if (err.code > 0) {     /* a warning: the model is loaded */
		char msg[sizeof err.message + 64];

		tsl_cli_message(msg, sizeof msg, err.message, tsinfo_words);
		fprintf(stderr, "tsinfo: %s: warning: %s\n", name, msg);
	}
	if (r->json)
		rc = tsinfo_dump_json(stdout, m, r->hashes, &err);
	else if (!tsl_model_root(m))
		rc = print_checkpoint(m);
	else
		rc = print_tree(m);
	if (rc) {
		report(name, &err);
		rc = 1;
	}
	tsl_model_free(m);
	return rc;
}

/* --name VALUE or --name=VALUE: the value (i advanced past it), else NULL. */
static const char *opt_value(int argc, char **argv, int *i, const char *opt)
{
	size_t n = strlen(opt);

	if (strncmp(argv[*i], opt, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		fprintf(stderr, "tsinfo: option '%s' needs a value\n", opt);
		exit(2);
	}
	return argv[++*i];
}

int main(int argc, char **argv)
{
	struct run r;
	const char **paths, *v;
	int npaths = 0, i, rc = 0, opts_done = 0;

	memset(&r, 0, sizeof r);
	r.hashes = 1;
	r.opts = (tsl_options)TSL_OPTIONS_INIT;
	paths = calloc((size_t)argc + 1, sizeof *paths);
	if (!paths)
		return 1;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (opts_done || a[0] != '-' || strcmp(a, "-") == 0)
			paths[npaths++] = a;
		else if (strcmp(a, "--") == 0)
			opts_done = 1;
		else if (strcmp(a, "--records") == 0)
			r.records = 1;
		else if (strcmp(a, "--json") == 0)
			r.json = 1;
		else if (strcmp(a, "--no-hash") == 0)
			r.hashes = 0;
		else if (strcmp(a, "--checkpoint") == 0)
			r.opts.flags |= TSL_OPEN_CHECKPOINTS;
		else if (strcmp(a, "--restore-shapes") == 0)
			r.opts.restore_shapes = 1;
		else if ((v = opt_value(argc, argv, &i, "--map-location")))
			r.opts.map_location = v;
		else if (strcmp(a, "--version") == 0) {
			printf("tsinfo (tsload) %s\n", tsl_version());
			free(paths);
			return 0;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			free(paths);
			return 0;
		} else {
			fprintf(stderr, "tsinfo: unknown option '%s' (tsinfo "
				"--help lists them)\n", a);
			free(paths);
			return 2;
		}
	}
	if (r.json && r.records) {
		fprintf(stderr, "tsinfo: --json and --records exclude each "
			"other: give one\n");
		free(paths);
		return 2;
	}
	if (!npaths) {
		usage(stderr);
		free(paths);
		return 2;
	}
	for (i = 0; i < npaths; i++) {
		if (npaths > 1 && !r.json)
			printf("%s==> %s <==\n", i ? "\n" : "", paths[i]);
		fflush(stdout);
		if (run_one(&r, paths[i]))
			rc = 1;
		fflush(stdout);
	}
	free(paths);
	return rc;
}
