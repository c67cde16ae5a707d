/* value_api.c - the public tsl_value accessors. */
#include "config.h"

#include "model.h"

#define IS(v, k) ((v) && (v)->kind == (k))

TSL_API tsl_value_kind tsl_value_kind_of(const tsl_value *v)
{
	return v && v->kind <= TSL_VALUE_TENSOR ? (tsl_value_kind)v->kind :
		TSL_VALUE_NONE;
}

TSL_API const char *tsl_value_kind_name(tsl_value_kind kind)
{
	static const char *const names[] = { "none", "bool", "int", "float",
		"complex", "string", "bytes", "list", "tuple", "dict", "device",
		"enum", "object", "module", "tensor" };

	if ((unsigned)kind < sizeof names / sizeof names[0])
		return names[kind];
	if ((int)kind == TSL__VALUE_GLOBAL)
		return "global";
	if ((int)kind == TSL__VALUE_STORAGE)
		return "storage";
	return "?";
}

TSL_API int tsl_value_bool(const tsl_value *v)
{
	return IS(v, TSL_VALUE_BOOL) ? v->u.b != 0 : 0;
}

TSL_API int64_t tsl_value_int(const tsl_value *v)
{
	return IS(v, TSL_VALUE_INT) ? v->u.i : 0;
}

TSL_API double tsl_value_float(const tsl_value *v)
{
	return IS(v, TSL_VALUE_FLOAT) ? v->u.f : 0.0;
}

TSL_API void tsl_value_complex(const tsl_value *v, double *re, double *im)
{
	if (re)
		*re = IS(v, TSL_VALUE_COMPLEX) ? v->u.c[0] : 0.0;
	if (im)
		*im = IS(v, TSL_VALUE_COMPLEX) ? v->u.c[1] : 0.0;
}

TSL_API const char *tsl_value_string(const tsl_value *v, size_t *len)
{
	if (v && (v->kind == TSL_VALUE_STRING || v->kind == TSL_VALUE_BYTES ||
		v->kind == TSL_VALUE_DEVICE)) {
		if (len)
			*len = v->len;
		return v->u.s;
	}
	if (len)
		*len = 0;
	return NULL;
}

/* A module whose attribute values are in its slots only: its state dict
 * was recycled once the module was made (model.c, object_built); it held
 * the class's attributes in slot order, so the slots read the same. */
static const struct tsl_module *slots_only(const tsl_value *v)
{
	return IS(v, TSL_VALUE_MODULE) && !v->u.mod.state && v->u.mod.slot &&
		v->u.mod.vals ? tsl__vmodule(v) : NULL;
}

static const tsl_value *obj_dict(const tsl_value *v)
{
	const tsl_value *st;

	if (!v || (v->kind != TSL_VALUE_OBJECT && v->kind != TSL_VALUE_MODULE))
		return NULL;
	if (v->flags & TSL__VFLAG_GETSTATE)
		return NULL;
	if (v->kind == TSL_VALUE_MODULE && tsl_module_state(tsl__vmodule(v)))
		return NULL;
	st = v->kind == TSL_VALUE_MODULE ? v->u.mod.state : v->u.obj.state;
	return IS(st, TSL_VALUE_DICT) ? st : NULL;
}

TSL_API size_t tsl_value_len(const tsl_value *v)
{
	const tsl_value *d;

	if (!v)
		return 0;
	switch (v->kind) {
	case TSL_VALUE_LIST:
	case TSL_VALUE_TUPLE:
	case TSL_VALUE_DICT:
		return v->len;
	case TSL_VALUE_OBJECT:
	case TSL_VALUE_MODULE:
		if (slots_only(v))
			return tsl__module_nattrs(tsl__vmodule(v));
		d = obj_dict(v);
		return d ? d->len : 0;
	default:
		return 0;
	}
}

TSL_API const tsl_value *tsl_value_item(const tsl_value *v, size_t i)
{
	if (!v || i >= v->len)
		return NULL;
	if (v->kind == TSL_VALUE_LIST || v->kind == TSL_VALUE_TUPLE)
		return v->u.seq.items[i];
	if (v->kind == TSL_VALUE_DICT)
		return v->u.seq.items[2 * i + 1];
	return NULL;
}

TSL_API const tsl_value *tsl_value_key(const tsl_value *v, size_t i)
{
	return IS(v, TSL_VALUE_DICT) && i < v->len ? v->u.seq.items[2 * i] :
		NULL;
}

TSL_API const char *tsl_value_type_name(const tsl_value *v)
{
	if (!v)
		return NULL;
	if (v->kind == TSL_VALUE_OBJECT)
		return v->u.obj.type;
	if (v->kind == TSL_VALUE_MODULE)
		return tsl_module_type(tsl__vmodule(v));
	if (v->kind == TSL_VALUE_ENUM)
		return v->u.enm.type;
	return NULL;
}

TSL_API const char *tsl_value_attr_name(const tsl_value *v, size_t i)
{
	const struct tsl_module *mod = slots_only(v);
	const tsl_value *d;

	if (mod)
		return i < tsl__module_nattrs(mod) ?
			mod->slot->cls->attrs[i].name : NULL;
	d = obj_dict(v);

	if (!d || i >= d->len || d->u.seq.items[2 * i]->kind != TSL_VALUE_STRING)
		return NULL;
	return d->u.seq.items[2 * i]->u.s;
}

TSL_API const tsl_value *tsl_value_attr(const tsl_value *v, size_t i)
{
	const struct tsl_module *mod = slots_only(v);
	const tsl_value *d;

	if (mod)
		return i < tsl__module_nattrs(mod) ? mod->vals[i] : NULL;
	d = obj_dict(v);

	return d && i < d->len ? d->u.seq.items[2 * i + 1] : NULL;
}

TSL_API const tsl_value *tsl_value_state(const tsl_value *v)
{
	if (IS(v, TSL_VALUE_MODULE))
		return tsl_module_state(tsl__vmodule(v));
	if (IS(v, TSL_VALUE_OBJECT) && (v->flags & TSL__VFLAG_GETSTATE))
		return v->u.obj.state;
	return NULL;
}

TSL_API const char *tsl_value_enum_name(const tsl_value *v)
{
	return IS(v, TSL_VALUE_ENUM) ? v->u.enm.name : NULL;
}

TSL_API const tsl_value *tsl_value_enum_value(const tsl_value *v)
{
	return IS(v, TSL_VALUE_ENUM) ? v->u.enm.value : NULL;
}

TSL_API const char *tsl_value_type_tag(const tsl_value *v)
{
	if (v && (v->kind == TSL_VALUE_LIST || v->kind == TSL_VALUE_DICT ||
		v->kind == TSL_VALUE_TUPLE))
		return v->u.seq.type_tag;
	return NULL;
}

TSL_API const tsl_tensor *tsl_value_tensor(const tsl_value *v)
{
	return IS(v, TSL_VALUE_TENSOR) ? tsl__vtensor(v) : NULL;
}

TSL_API const tsl_module *tsl_value_module(const tsl_value *v)
{
	return IS(v, TSL_VALUE_MODULE) ? tsl__vmodule(v) : NULL;
}
