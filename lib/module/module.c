/* module.c - the public module API: attributes, methods, paths, iteration
 * in PyTorch's orders. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "model.h"

TSL_API const char *tsl_module_type(const tsl_module *mod)
{
	if (!mod)
		return NULL;
	return mod->slot ? mod->slot->qname : tsl__legacy_module(mod)->type;
}

/* The "training" attribute's value when it is a bool, else -1 (read
 * from the attribute, not kept per module). */
TSL_API int tsl_module_training(const tsl_module *mod)
{
	tsl_attr a;

	if (!mod)
		return -1;
	if (!mod->slot)
		return tsl__legacy_module(mod)->training;
	if (mod->slot->training == SIZE_MAX)
		return -1;
	tsl__module_attr(mod, mod->slot->training, &a);
	if (a.value && a.value->kind == TSL_VALUE_BOOL)
		return a.value->u.b ? 1 : 0;
	return -1;
}

TSL_API const tsl_value *tsl_module_value(const tsl_module *mod)
{
	return mod ? tsl__module_value(mod) : NULL;
}

TSL_API const tsl_value *tsl_module_state(const tsl_module *mod)
{
	if (!mod)
		return NULL;
	if (!mod->slot)
		return tsl__legacy_module(mod)->state;
	return mod->slot->has_state ? mod->state : NULL;
}

TSL_API size_t tsl_module_attr_count(const tsl_module *mod)
{
	return mod ? tsl__module_nattrs(mod) : 0;
}

void tsl__module_attr(const struct tsl_module *mod, size_t i, tsl_attr *out)
{
	const struct cls_slot *slot = mod->slot;
	const tsl_value *dict;
	const tsl_class_attr *ca;

	if (!slot) {
		*out = tsl__legacy_module(mod)->attrs[i];
		return;
	}
	/* with __getstate__ the state is opaque: no values; else they are
	 * in the module's slots (vals) or in place in its state dict */
	dict = slot->has_state ? NULL : mod->state;
	ca = &slot->cls->attrs[i];
	out->name = ca->name;
	out->type = ca->type;
	out->value = slot->has_state ? NULL : mod->vals ? mod->vals[i] :
		dict->u.seq.items[2 * i + 1];
	if (tsl__class_attr_is_parameter(slot->cls, i))
		out->kind = TSL_ATTR_PARAMETER;
	else if (tsl__class_attr_is_buffer(slot->cls, i))
		out->kind = TSL_ATTR_BUFFER;
	else if (out->value && out->value->kind == TSL_VALUE_MODULE)
		out->kind = TSL_ATTR_MODULE;
	else
		out->kind = TSL_ATTR_ATTRIBUTE;
}

TSL_API int tsl_module_attr(const tsl_module *mod, size_t i, tsl_attr *out)
{
	if (!mod || !out || i >= tsl__module_nattrs(mod))
		return TSL_EINVAL;
	tsl__module_attr(mod, i, out);
	return TSL_OK;
}

TSL_API int tsl_module_methods_load(const tsl_module *mod, tsl_error *err)
{
	if (!mod)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"module is NULL");
	return tsl__module_methods(mod, err);
}

TSL_API size_t tsl_module_method_count(const tsl_module *mod)
{
	tsl_method *ms;
	const tsl_class_method **src;
	size_t n;

	if (!mod || tsl__module_methods(mod, NULL) != TSL_OK)
		return 0;
	tsl__module_method_table(mod, &ms, &src, &n);
	return n;
}

TSL_API int tsl_module_method(const tsl_module *mod, size_t i,
	tsl_method *out)
{
	int rc;

	if (!mod || !out)
		return TSL_EINVAL;
	tsl_method *ms;
	const tsl_class_method **src;
	size_t n;

	if ((rc = tsl__module_methods(mod, NULL)) != TSL_OK)
		return rc;
	tsl__module_method_table(mod, &ms, &src, &n);
	if (i >= n)
		return TSL_EINVAL;
	*out = ms[i];
	return TSL_OK;
}

TSL_API int tsl_module_method_source(const tsl_module *mod, size_t i,
	const char **src, size_t *len, tsl_error *err)
{
	int rc;

	if (!mod || !src || !len)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"NULL argument");
	tsl_method *ms;
	const tsl_class_method **srcs;
	size_t n;

	if ((rc = tsl__module_methods(mod, err)) != TSL_OK)
		return rc;
	tsl__module_method_table(mod, &ms, &srcs, &n);
	if (i >= n)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"bad module or method index");
	*src = srcs[i]->src;
	*len = srcs[i]->src_len;
	return TSL_OK;
}

/* One step of a dotted path: attribute of a module or object, or a string
 * key of a dict, or an index of a list/tuple. */
static const tsl_value *step(const tsl_value *v, const char *name, size_t n)
{
	size_t i;

	if (!v)
		return NULL;
	if (v->kind == TSL_VALUE_MODULE) {
		const struct tsl_module *mod = tsl__vmodule(v);

		for (i = 0; i < tsl__module_nattrs(mod); i++) {
			tsl_attr a;

			tsl__module_attr(mod, i, &a);
			if (strlen(a.name) == n && memcmp(a.name, name, n) == 0)
				return a.value;
		}
		return NULL;
	}
	if (v->kind == TSL_VALUE_OBJECT)
		v = v->u.obj.state;
	if (v && v->kind == TSL_VALUE_DICT) {
		for (i = 0; i < v->len; i++) {
			const tsl_value *k = v->u.seq.items[2 * i];

			if (k->kind == TSL_VALUE_STRING && k->len == n &&
				memcmp(k->u.s, name, n) == 0)
				return v->u.seq.items[2 * i + 1];
		}
		return NULL;
	}
	if (v && (v->kind == TSL_VALUE_LIST || v->kind == TSL_VALUE_TUPLE)) {
		char *end;
		char buf[24];
		unsigned long long idx;

		if (n == 0 || n >= sizeof buf)
			return NULL;
		memcpy(buf, name, n);
		buf[n] = '\0';
		idx = strtoull(buf, &end, 10);
		if (*end || idx >= v->len)
			return NULL;
		return v->u.seq.items[idx];
	}
	return NULL;
}

TSL_API const tsl_value *tsl_module_find(const tsl_module *mod,
	const char *path)
{
	const tsl_value *v;
	const char *p, *dot;

	if (!mod || !path)
		return NULL;
	v = tsl__module_value(mod);
	if (!*path)
		return v;
	for (p = path;; p = dot + 1) {
		dot = strchr(p, '.');
		v = step(v, p, dot ? (size_t)(dot - p) : strlen(p));
		if (!v || !dot)
			return v;
	}
}

TSL_API const tsl_tensor *tsl_module_find_tensor(const tsl_module *mod,
	const char *path)
{
	const tsl_value *v = tsl_module_find(mod, path);

	return v && v->kind == TSL_VALUE_TENSOR ? tsl__vtensor(v) : NULL;
}

/* ---- iteration ---------------------------------------------------------- */

struct walk {
	char *name;
	size_t len, cap;
	tsl_pmap seen;            /* identities already yielded (dedupe) */
	int dedupe;
	/* what a walk yields: named tensors (what: W_PARAMS | W_BUFFERS) or,
	 * with mcb, named modules */
	int what;
	tsl_named_tensor_cb tcb;
	tsl_named_module_cb mcb;
	void *payload;
};

static int push_name(struct walk *w, const char *part, size_t *saved)
{
	size_t pl = strlen(part), need = w->len + pl + 2;

	*saved = w->len;
	if (need > w->cap) {
		size_t cap = need * 2;
		char *p = realloc(w->name, cap);

		if (!p)
			return TSL_ENOMEM;
		w->name = p;
		w->cap = cap;
	}
	if (w->len)
		w->name[w->len++] = '.';
	memcpy(w->name + w->len, part, pl + 1);
	w->len += pl;
	return TSL_OK;
}

/* Back to the name as it was before push_name. */
static void pop_name(struct walk *w, size_t saved)
{
	w->len = saved;
	w->name[w->len] = '\0';
}

/* 1 if p was yielded before, 0 if it is new (now recorded), -1 on out
 * of memory. */
static int seen(struct walk *w, const void *p)
{
	return tsl__pmap_put(&w->seen, p, 0);
}

enum { W_PARAMS = 1, W_BUFFERS = 2 };

/* A module's own parameters, then its own buffers (state_dict's order). */
static int own_tensors(struct walk *w, const struct tsl_module *mod)
{
	size_t i, saved;
	int rc;

	for (int pass = 0; pass < 2; pass++) {
		tsl_attr_kind k = pass == 0 ? TSL_ATTR_PARAMETER : TSL_ATTR_BUFFER;

		if (!(w->what & (pass == 0 ? W_PARAMS : W_BUFFERS)))
			continue;
		for (i = 0; i < tsl__module_nattrs(mod); i++) {
			tsl_attr at, *a = &at;
			int s;

			tsl__module_attr(mod, i, &at);
			if (a->kind != k || !a->value ||
				a->value->kind != TSL_VALUE_TENSOR ||
				!tsl__vtensor(a->value))
				continue;
			if (w->dedupe) {
				s = seen(w, tsl__vtensor(a->value));
				if (s < 0)
					return TSL_ENOMEM;
				if (s)
					continue;
			}
			if (push_name(w, a->name, &saved))
				return TSL_ENOMEM;
			rc = w->tcb(w->payload, w->name, tsl__vtensor(a->value));
			pop_name(w, saved);
			if (rc)
				return rc;
		}
	}
	return TSL_OK;
}

/* One walk for both kinds: the module itself (once per identity, for
 * named_modules) or its own tensors, then its children in slot order. */
static int walk(struct walk *w, const struct tsl_module *mod, int depth)
{
	size_t i, saved;
	int rc, s;

	if (depth > 10000)
		return TSL_ELIMIT;
	if (w->mcb) {
		s = seen(w, mod);
		if (s < 0)
			return TSL_ENOMEM;
		if (s)
			return TSL_OK;
		rc = w->mcb(w->payload, w->name, mod);
	} else {
		rc = own_tensors(w, mod);
	}
	if (rc)
		return rc;
	for (i = 0; i < tsl__module_nattrs(mod); i++) {
		tsl_attr at, *a = &at;

		tsl__module_attr(mod, i, &at);
		if (!a->value || a->value->kind != TSL_VALUE_MODULE)
			continue;
		if (push_name(w, a->name, &saved))
			return TSL_ENOMEM;
		rc = walk(w, tsl__vmodule(a->value), depth + 1);
		pop_name(w, saved);
		if (rc)
			return rc;
	}
	return TSL_OK;
}

static int run_walk(const tsl_module *mod, int what, int dedupe,
	tsl_named_tensor_cb tcb, tsl_named_module_cb mcb, void *payload)
{
	struct walk w;
	int rc;

	if (!mod || (!tcb && !mcb))
		return TSL_EINVAL;
	memset(&w, 0, sizeof w);
	w.dedupe = dedupe;
	w.what = what;
	w.tcb = tcb;
	w.mcb = mcb;
	w.payload = payload;
	w.name = calloc(1, 64);
	if (!w.name)
		return TSL_ENOMEM;
	w.cap = 64;
	rc = walk(&w, mod, 0);
	free(w.name);
	tsl__pmap_free(&w.seen);
	return rc;
}

TSL_API int tsl_module_named_parameters(const tsl_module *mod,
	tsl_named_tensor_cb cb, void *payload)
{
	return run_walk(mod, W_PARAMS, 1, cb, NULL, payload);
}

TSL_API int tsl_module_named_buffers(const tsl_module *mod,
	tsl_named_tensor_cb cb, void *payload)
{
	return run_walk(mod, W_BUFFERS, 1, cb, NULL, payload);
}

TSL_API int tsl_module_state_dict(const tsl_module *mod,
	tsl_named_tensor_cb cb, void *payload)
{
	return run_walk(mod, W_PARAMS | W_BUFFERS, 0, cb, NULL, payload);
}

TSL_API int tsl_module_named_modules(const tsl_module *mod,
	tsl_named_module_cb cb, void *payload)
{
	if (!cb)
		return TSL_EINVAL;
	return run_walk(mod, 0, 0, NULL, cb, payload);
}

/* modules are many: a module is its value's 24-byte payload (value.h) */
_Static_assert(sizeof(struct tsl_module) <= sizeof(((tsl_value *)0)->u),
	"struct tsl_module does not fit in its value");
