/*
 * dump_json.c - the canonical JSON dump of a model (DUMP.md), written with
 * the public API only.
 */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsinfo.h"

struct dumper {
	FILE *f;
	int hashes;
	/* storage numbering: pointer -> id, open addressing */
	const tsl_storage **keys;
	int *ids;
	size_t mask, count;
	uint64_t budget;          /* nodes left: shared values could explode */
	int rc;
	tsl_error err;
};

static void jstr(FILE *f, const char *s, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		switch (c) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (c < 0x20 || c >= 0x7f)
				fprintf(f, "\\u%04x", c);
			else
				fputc(c, f);
		}
	}
	fputc('"', f);
}

static void jcstr(FILE *f, const char *s)
{
	jstr(f, s ? s : "", s ? strlen(s) : 0);
}

static void jdouble(FILE *f, double v)
{
	char b[64];

	if (isnan(v)) {
		fputs("{\"float\": \"nan\"}", f);
		return;
	}
	if (isinf(v)) {
		fputs(v > 0 ? "{\"float\": \"inf\"}" : "{\"float\": \"-inf\"}", f);
		return;
	}
	snprintf(b, sizeof b, "%.17g", v);
	fputs(b, f);
	if (!strpbrk(b, ".eE"))
		fputs(".0", f);
}

static int storage_id(struct dumper *d, const tsl_storage *s)
{
	size_t h, cap;

	if (d->count * 2 >= (d->keys ? d->mask + 1 : 0)) {
		const tsl_storage **ok = d->keys;
		int *oi = d->ids;
		size_t om = d->mask;

		cap = d->keys ? (d->mask + 1) * 2 : 256;
		d->keys = calloc(cap, sizeof *d->keys);
		d->ids = calloc(cap, sizeof *d->ids);
		if (!d->keys || !d->ids) {
			fprintf(stderr, "tsinfo: out of memory\n");
			exit(1);
		}
		d->mask = cap - 1;
		for (size_t i = 0; ok && i <= om; i++) {
			if (!ok[i])
				continue;
			h = ((uintptr_t)ok[i] >> 4) * 0x9e3779b97f4a7c15ull & d->mask;
			while (d->keys[h])
				h = (h + 1) & d->mask;
			d->keys[h] = ok[i];
			d->ids[h] = oi[i];
		}
		free(ok);
		free(oi);
	}
	h = ((uintptr_t)s >> 4) * 0x9e3779b97f4a7c15ull & d->mask;
	while (d->keys[h]) {
		if (d->keys[h] == s)
			return d->ids[h];
		h = (h + 1) & d->mask;
	}
	d->keys[h] = s;
	d->ids[h] = (int)d->count;
	return (int)d->count++;
}

static void int_list(FILE *f, const int64_t *v, size_t n)
{
	fputc('[', f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%" PRId64, i ? ", " : "", v[i]);
	fputc(']', f);
}

static const char *qscheme_name(tsl_qscheme q)
{
	switch (q) {
	case TSL_QSCHEME_PER_TENSOR_AFFINE: return "per_tensor_affine";
	case TSL_QSCHEME_PER_TENSOR_SYMMETRIC: return "per_tensor_symmetric";
	case TSL_QSCHEME_PER_CHANNEL_AFFINE: return "per_channel_affine";
	case TSL_QSCHEME_PER_CHANNEL_SYMMETRIC: return "per_channel_symmetric";
	case TSL_QSCHEME_PER_CHANNEL_AFFINE_FLOAT_QPARAMS:
		return "per_channel_affine_float_qparams";
	default: return "none";
	}
}

static void tensor(struct dumper *d, const tsl_tensor *t)
{
	FILE *f = d->f;
	size_t nd = tsl_tensor_ndim(t);
	tsl_qscheme q;

	fputs("{\"tensor\": {\"dtype\": ", f);
	jcstr(f, tsl_dtype_name(tsl_tensor_dtype(t)));
	if (tsl_tensor_layout(t) == TSL_LAYOUT_SPARSE_COO) {
		fputs(", \"layout\": \"sparse_coo\", \"shape\": ", f);
		int_list(f, tsl_tensor_shape(t), nd);
		fputs(", \"indices\": ", f);
		tensor(d, tsl_tensor_sparse_indices(t));
		fputs(", \"values\": ", f);
		tensor(d, tsl_tensor_sparse_values(t));
		fprintf(f, ", \"requires_grad\": %s, \"device\": ",
			tsl_tensor_requires_grad(t) ? "true" : "false");
		jcstr(f, tsl_tensor_device(t));
		fputs("}}", f);
		return;
	}
	fputs(", \"shape\": ", f);
	int_list(f, tsl_tensor_shape(t), nd);
	fputs(", \"stride\": ", f);
	int_list(f, tsl_tensor_strides(t), nd);
	fprintf(f, ", \"storage_offset\": %" PRId64 ", \"requires_grad\": %s, "
		"\"device\": ", tsl_tensor_storage_offset(t),
		tsl_tensor_requires_grad(t) ? "true" : "false");
	jcstr(f, tsl_tensor_device(t));
	fprintf(f, ", \"storage\": %d", storage_id(d, tsl_tensor_storage(t)));
	fputs(", \"saved_device\": ", f);
	jcstr(f, tsl_tensor_saved_device(t));
	if (d->hashes) {
		uint64_t h;

		if (tsl_tensor_xxh3(t, &h, &d->err) != TSL_OK) {
			if (!d->rc)
				d->rc = d->err.code;
		} else {
			fprintf(f, ", \"xxh3\": \"%016" PRIx64 "\"", h);
		}
	}
	q = tsl_tensor_qscheme(t);
	if (q == TSL_QSCHEME_PER_TENSOR_AFFINE ||
		q == TSL_QSCHEME_PER_TENSOR_SYMMETRIC) {
		fputs(", \"qscheme\": ", f);
		jcstr(f, qscheme_name(q));
		fputs(", \"scale\": ", f);
		jdouble(f, tsl_tensor_q_scale(t));
		fprintf(f, ", \"zero_point\": %" PRId64,
			tsl_tensor_q_zero_point(t));
	} else if (q != TSL_QSCHEME_NONE) {
		fputs(", \"qscheme\": ", f);
		jcstr(f, qscheme_name(q));
		fputs(", \"scales\": ", f);
		tensor(d, tsl_tensor_q_scales(t));
		fputs(", \"zero_points\": ", f);
		tensor(d, tsl_tensor_q_zero_points(t));
		fprintf(f, ", \"axis\": %" PRId64, tsl_tensor_q_axis(t));
	}
	fputs("}}", f);
}

static void value(struct dumper *d, const tsl_value *v);


static void module(struct dumper *d, const tsl_module *m)
{
	FILE *f = d->f;
	const tsl_value *state = tsl_module_state(m);
	size_t i, n;
	int tr = tsl_module_training(m);

	fputs("{\"module\": {\"type\": ", f);
	jcstr(f, tsl_module_type(m));
	fprintf(f, ", \"training\": %s",
		tr < 0 ? "null" : tr ? "true" : "false");
	if (state) {
		fputs(", \"state\": ", f);
		value(d, state);
	}
	fputs(", \"attributes\": [", f);
	n = tsl_module_attr_count(m);
	for (i = 0; i < n; i++) {
		static const char *const kinds[] = { "attribute", "parameter",
			"buffer", "module" };
		tsl_attr a;

		tsl_module_attr(m, i, &a);
		fputs(i ? ", {\"name\": " : "{\"name\": ", f);
		jcstr(f, a.name);
		fprintf(f, ", \"kind\": \"%s\", \"type\": ", kinds[a.kind]);
		jcstr(f, a.type);
		if (a.value) {
			fputs(", \"value\": ", f);
			value(d, a.value);
		}
		fputc('}', f);
	}
	fputs("], \"methods\": [", f);
	/* methods are parsed on first use: a malformed one fails the dump */
	if (tsl_module_methods_load(m, &d->err) != TSL_OK && !d->rc)
		d->rc = d->err.code;
	n = tsl_module_method_count(m);
	for (i = 0; i < n; i++) {
		tsl_method me;

		tsl_module_method(m, i, &me);
		fputs(i ? ", {\"name\": " : "{\"name\": ", f);
		jcstr(f, me.name);
		fputs(", \"args\": [", f);
		for (size_t a = 0; a < me.nargs; a++) {
			fputs(a ? ", [" : "[", f);
			jcstr(f, me.arg_names[a]);
			fputs(", ", f);
			jcstr(f, me.arg_types[a]);
			fputc(']', f);
		}
		fputs("], \"returns\": [", f);
		for (size_t r = 0; r < me.nreturns; r++) {
			if (r)
				fputs(", ", f);
			jcstr(f, me.return_types[r]);
		}
		fputs("]}", f);
	}
	fputs("]}}", f);
}

static void value(struct dumper *d, const tsl_value *v)
{
	FILE *f = d->f;
	size_t i, n, len;
	const char *s;
	double re, im;

	if (d->budget == 0) {
		if (!d->rc) {
			d->rc = TSL_ELIMIT;
			snprintf(d->err.message, sizeof d->err.message,
				"the dump would exceed its node budget (shared "
				"values repeated too often)");
		}
		fputs("null", f);
		return;
	}
	d->budget--;
	switch (tsl_value_kind_of(v)) {
	case TSL_VALUE_NONE:
		fputs("null", f);
		break;
	case TSL_VALUE_BOOL:
		fputs(tsl_value_bool(v) ? "true" : "false", f);
		break;
	case TSL_VALUE_INT:
		fprintf(f, "%" PRId64, tsl_value_int(v));
		break;
	case TSL_VALUE_FLOAT:
		jdouble(f, tsl_value_float(v));
		break;
	case TSL_VALUE_COMPLEX:
		tsl_value_complex(v, &re, &im);
		fputs("{\"complex\": [", f);
		jdouble(f, re);
		fputs(", ", f);
		jdouble(f, im);
		fputs("]}", f);
		break;
	case TSL_VALUE_STRING:
		s = tsl_value_string(v, &len);
		jstr(f, s, len);
		break;
	case TSL_VALUE_BYTES:
		s = tsl_value_string(v, &len);
		fputs("{\"bytes\": ", f);
		jstr(f, s, len);
		fputc('}', f);
		break;
	case TSL_VALUE_DEVICE:
		s = tsl_value_string(v, &len);
		fputs("{\"device\": ", f);
		jstr(f, s, len);
		fputc('}', f);
		break;
	case TSL_VALUE_LIST:
	case TSL_VALUE_TUPLE:
		n = tsl_value_len(v);
		fputs(tsl_value_kind_of(v) == TSL_VALUE_TUPLE ? "{\"tuple\": [" :
			"[", f);
		for (i = 0; i < n; i++) {
			if (i)
				fputs(", ", f);
			value(d, tsl_value_item(v, i));
		}
		fputs(tsl_value_kind_of(v) == TSL_VALUE_TUPLE ? "]}" : "]", f);
		break;
	case TSL_VALUE_DICT:
		n = tsl_value_len(v);
		fputs("{\"dict\": [", f);
		for (i = 0; i < n; i++) {
			fputs(i ? ", [" : "[", f);
			value(d, tsl_value_key(v, i));
			fputs(", ", f);
			value(d, tsl_value_item(v, i));
			fputc(']', f);
		}
		fputs("]}", f);
		break;
	case TSL_VALUE_ENUM:
		fputs("{\"enum\": {\"type\": ", f);
		jcstr(f, tsl_value_type_name(v));
		fputs(", \"name\": ", f);
		jcstr(f, tsl_value_enum_name(v));
		fputs(", \"value\": ", f);
		value(d, tsl_value_enum_value(v));
		fputs("}}", f);
		break;
	case TSL_VALUE_OBJECT:
		fputs("{\"object\": {\"type\": ", f);
		jcstr(f, tsl_value_type_name(v));
		if (tsl_value_state(v)) {
			fputs(", \"state\": ", f);
			value(d, tsl_value_state(v));
		} else {
			fputs(", \"attributes\": [", f);
			n = tsl_value_len(v);
			for (i = 0; i < n; i++) {
				fputs(i ? ", {\"name\": " : "{\"name\": ", f);
				jcstr(f, tsl_value_attr_name(v, i));
				fputs(", \"value\": ", f);
				value(d, tsl_value_attr(v, i));
				fputc('}', f);
			}
			fputc(']', f);
		}
		fputs("}}", f);
		break;
	case TSL_VALUE_MODULE:
		module(d, tsl_value_module(v));
		break;
	case TSL_VALUE_TENSOR:
		if (!tsl_value_tensor(v))
			fputs("{\"tensor\": null}", f);
		else
			tensor(d, tsl_value_tensor(v));
		break;
	}
}

int tsinfo_dump_json(FILE *f, tsl_model *m, int hashes, tsl_error *err)
{
	struct dumper d;
	tsl_archive *ar = tsl_model_archive(m);
	const tsl_value *c = tsl_model_constants(m);
	size_t i, n;

	memset(&d, 0, sizeof d);
	d.f = f;
	d.hashes = hashes;
	d.budget = 100000000;
	if (!tsl_model_root(m)) {
		/* a torch.save checkpoint: the value tree */
		fputs("{\"tsload_dump\": 1, \"kind\": \"torch.save\", "
			"\"value\": ", f);
		value(&d, tsl_model_value(m));
		fputs(", \"extra_files\": []}\n", f);
		goto out;
	}
	fputs("{\"tsload_dump\": 1, \"root\": ", f);
	module(&d, tsl_model_root(m));
	fputs(", \"constants\": [", f);
	n = tsl_value_len(c);
	for (i = 0; i < n; i++) {
		if (i)
			fputs(", ", f);
		value(&d, tsl_value_item(c, i));
	}
	fputs("], \"extra_files\": [", f);
	n = tsl_archive_extra_count(ar);
	for (i = 0; i < n; i++) {
		const char *name = tsl_archive_extra_name(ar, i);
		const void *data;
		size_t size;

		if (tsl_archive_extra_read(ar, name, &data, &size, &d.err)) {
			if (!d.rc)
				d.rc = d.err.code;
			continue;
		}
		fputs(i ? ", {\"name\": " : "{\"name\": ", f);
		jcstr(f, name);
		fprintf(f, ", \"size\": %zu", size);
		if (hashes)
			fprintf(f, ", \"xxh3\": \"%016" PRIx64 "\"",
				(uint64_t)XXH3_64bits(data, size));
		fputc('}', f);
	}
	fputs("]}\n", f);
out:
	free(d.keys);
	free(d.ids);
	if (d.rc && err)
		*err = d.err;
	return d.rc;
}
