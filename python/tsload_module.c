/*
 * tsload_module.c - `import tsload`: the loader from Python.
 *
 * A CPython extension written against tsload's public API only
 * (include/tsload.h, include/tsload_dlpack.h) and Python's limited API
 * (3.11: the first version whose limited API has the buffer protocol, which
 * is how numpy.asarray(tensor) gets a zero-copy view).  One binary
 * (tsload.abi3.so) serves every CPython from 3.11 on.
 *
 * Objects and lifetimes:
 *   Model    owns a tsl_model (and the bytes it was read from, if any).
 *   Tensor   borrows a tsl_tensor from a Model and holds a reference to it.
 *   Module   borrows a tsl_module from a Model and holds a reference to it.
 * A buffer exported by a Tensor (numpy.asarray) holds the Tensor, so the
 * Model lives as long as any array made from it.  Model.close() frees the C
 * model at once unless it is "pinned" (a buffer is exported, or another
 * thread is inside a call that released the GIL); the last unpin frees it.
 * Every use of a closed model raises tsload.ClosedError.  DLPack capsules
 * hold their own reference to the C model (tsl_tensor_to_dlpack).
 *
 * Threads: the GIL is released around loading and around materializing a
 * storage (tsl_tensor_data, tsl_tensor_to_dlpack); everything else runs
 * under the GIL.  The pins make close() from another thread safe.
 */
#define PY_SSIZE_T_CLEAN
#define Py_LIMITED_API 0x030B0000
#include <Python.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tsload.h>
#include <tsload_dlpack.h>

/* Module-wide objects, made once in PyInit_tsload (single-phase init: the
 * module does not support subinterpreters). */
static PyTypeObject *Model_Type, *Tensor_Type, *Module_Type;
static PyObject *Error, *ClosedError;
static PyObject *status_errors[16];   /* indexed by -status */
static PyObject *SimpleNamespace;

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

/* Raise the tsload.Error subclass of err->code, with its status name, record
 * and offset as attributes.  Returns NULL. */
static PyObject *raise_tsl(int code, const tsl_error *err)
{
	PyObject *cls = Error, *exc, *v, *msgo;
	const char *msg = err && err->message[0] ? err->message :
		tsl_status_name(code);

	if (code < 0 && -code < (int)(sizeof status_errors /
		sizeof status_errors[0]) && status_errors[-code])
		cls = status_errors[-code];
	/* messages quote names from the archive: any bytes */
	msgo = PyUnicode_DecodeUTF8(msg, (Py_ssize_t)strnlen(msg, 256),
		"backslashreplace");
	if (!msgo)
		return NULL;
	exc = PyObject_CallFunctionObjArgs(cls, msgo, NULL);
	if (!exc) {
		Py_DECREF(msgo);
		return NULL;
	}
	v = NULL;
	if (!(v = PyUnicode_FromString(tsl_status_name(code))) ||
		PyObject_SetAttrString(exc, "status", v) < 0)
		goto fail;
	Py_CLEAR(v);
	if (err && err->record[0])
		v = PyUnicode_DecodeUTF8(err->record, (Py_ssize_t)strnlen(
			err->record, sizeof err->record), "surrogateescape");
	else
		v = Py_NewRef(Py_None);
	if (!v || PyObject_SetAttrString(exc, "record", v) < 0)
		goto fail;
	Py_CLEAR(v);
	if (err && err->offset != UINT64_MAX)
		v = PyLong_FromUnsignedLongLong(err->offset);
	else
		v = Py_NewRef(Py_None);
	if (!v || PyObject_SetAttrString(exc, "offset", v) < 0)
		goto fail;
	Py_CLEAR(v);
	if (PyObject_SetAttrString(exc, "message", msgo) < 0)
		goto fail;
	Py_DECREF(msgo);
	PyErr_SetObject(cls, exc);
	Py_DECREF(exc);
	return NULL;
fail:
	Py_XDECREF(v);
	Py_DECREF(msgo);
	Py_DECREF(exc);
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Model                                                                     */
/* ------------------------------------------------------------------------ */

typedef struct {
	PyObject_HEAD
	tsl_model *m;          /* NULL once freed */
	PyObject *source;      /* the bytes the archive borrows, or NULL */
	int closed;
	Py_ssize_t pins;       /* exported buffers + calls without the GIL */
	int restore_shapes;
} ModelObject;

/* Free the C model.  The source bytes stay until the Model object goes:
 * DLPack exports hold the C model (and so the archive reading the bytes)
 * beyond close(), and hold this object for the bytes. */
static void model_free_now(ModelObject *self)
{
	tsl_model_free(self->m);
	self->m = NULL;
}

static int model_check(ModelObject *self)
{
	if (self->closed || !self->m) {
		PyErr_SetString(ClosedError, "the model is closed");
		return -1;
	}
	return 0;
}

static void model_pin(ModelObject *self)
{
	self->pins++;
}

static void model_unpin(ModelObject *self)
{
	if (--self->pins == 0 && self->closed)
		model_free_now(self);
}

/* model_check, then pinned until model_unpin: for every call that reads
 * the C model while it makes Python objects.  An allocation can run the
 * cyclic GC, whose finalizers run Python code, and numpy calls run it too:
 * a close() there is deferred to the unpin instead of freeing what the
 * call is reading. */
static int model_enter(ModelObject *self)
{
	if (model_check(self) < 0)
		return -1;
	model_pin(self);
	return 0;
}

static void Model_dealloc(PyObject *o)
{
	ModelObject *self = (ModelObject *)o;
	PyTypeObject *tp = Py_TYPE(o);
	freefunc f = (freefunc)PyType_GetSlot(tp, Py_tp_free);

	model_free_now(self);
	Py_CLEAR(self->source);
	f(o);
	Py_DECREF(tp);
}

static ModelObject *model_new(void)
{
	ModelObject *self = PyObject_New(ModelObject, Model_Type);

	if (!self)
		return NULL;
	self->m = NULL;
	self->source = NULL;
	self->closed = 0;
	self->pins = 0;
	self->restore_shapes = 0;
	return self;
}

/* ------------------------------------------------------------------------ */
/* Tensor and Module wrappers                                                */
/* ------------------------------------------------------------------------ */

typedef struct {
	PyObject_HEAD
	ModelObject *model;
	const tsl_tensor *t;
} TensorObject;

typedef struct {
	PyObject_HEAD
	ModelObject *model;
	const tsl_module *mod;
} ModuleObject;

static PyObject *tensor_new(ModelObject *model, const tsl_tensor *t)
{
	TensorObject *self = PyObject_New(TensorObject, Tensor_Type);

	if (!self)
		return NULL;
	self->model = (ModelObject *)Py_NewRef((PyObject *)model);
	self->t = t;
	return (PyObject *)self;
}

static PyObject *module_new(ModelObject *model, const tsl_module *mod)
{
	ModuleObject *self = PyObject_New(ModuleObject, Module_Type);

	if (!self)
		return NULL;
	self->model = (ModelObject *)Py_NewRef((PyObject *)model);
	self->mod = mod;
	return (PyObject *)self;
}

static void Wrapper_dealloc(PyObject *o)
{
	PyTypeObject *tp = Py_TYPE(o);
	freefunc f = (freefunc)PyType_GetSlot(tp, Py_tp_free);

	/* TensorObject and ModuleObject share the layout of their head */
	Py_XDECREF((PyObject *)((TensorObject *)o)->model);
	f(o);
	Py_DECREF(tp);
}

/* ------------------------------------------------------------------------ */
/* Values -> Python objects                                                  */
/* ------------------------------------------------------------------------ */

static PyObject *str_from(const char *s)
{
	if (!s)
		Py_RETURN_NONE;
	return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "surrogateescape");
}

static PyObject *namespace(PyObject *kwargs)
{
	PyObject *args = PyTuple_New(0), *r;

	if (!args)
		return NULL;
	r = PyObject_Call(SimpleNamespace, args, kwargs);
	Py_DECREF(args);
	return r;
}

/* A conversion: the model, and the containers converted so far (address
 * of the tsl_value -> the Python object). */
struct conv {
	ModelObject *model;
	PyObject *memo;
};

static PyObject *value_to_py(struct conv *cv, const tsl_value *v);

static PyObject *object_to_py(struct conv *cv, const tsl_value *v)
{
	PyObject *kw = PyDict_New(), *x = NULL, *attrs = NULL, *r = NULL;
	const tsl_value *state = tsl_value_state(v);
	size_t i, n;

	if (!kw)
		return NULL;
	if (!(x = str_from(tsl_value_type_name(v))) ||
		PyDict_SetItemString(kw, "type", x) < 0)
		goto out;
	Py_CLEAR(x);
	if (state) {
		if (!(x = value_to_py(cv, state)) ||
			PyDict_SetItemString(kw, "state", x) < 0)
			goto out;
		Py_CLEAR(x);
	} else {
		if (!(attrs = PyDict_New()))
			goto out;
		n = tsl_value_len(v);
		for (i = 0; i < n; i++) {
			PyObject *name = str_from(tsl_value_attr_name(v, i));

			if (!name)
				goto out;
			x = value_to_py(cv, tsl_value_attr(v, i));
			if (!x || PyDict_SetItem(attrs, name, x) < 0) {
				Py_DECREF(name);
				goto out;
			}
			Py_DECREF(name);
			Py_CLEAR(x);
		}
		if (PyDict_SetItemString(kw, "attributes", attrs) < 0)
			goto out;
	}
	r = namespace(kw);
out:
	Py_XDECREF(x);
	Py_XDECREF(attrs);
	Py_DECREF(kw);
	return r;
}

static PyObject *value_to_py_inner(struct conv *cv, const tsl_value *v)
{
	PyObject *r, *x, *k;
	size_t i, n;
	const char *s;
	size_t len;
	double re, im;

	switch (tsl_value_kind_of(v)) {
	case TSL_VALUE_NONE:
		Py_RETURN_NONE;
	case TSL_VALUE_BOOL:
		return PyBool_FromLong(tsl_value_bool(v));
	case TSL_VALUE_INT:
		return PyLong_FromLongLong(tsl_value_int(v));
	case TSL_VALUE_FLOAT:
		return PyFloat_FromDouble(tsl_value_float(v));
	case TSL_VALUE_COMPLEX:
		tsl_value_complex(v, &re, &im);
		return PyComplex_FromDoubles(re, im);
	case TSL_VALUE_STRING:
	case TSL_VALUE_DEVICE:
		s = tsl_value_string(v, &len);
		return PyUnicode_DecodeUTF8(s ? s : "", (Py_ssize_t)len,
			"surrogateescape");
	case TSL_VALUE_BYTES:
		s = tsl_value_string(v, &len);
		return PyBytes_FromStringAndSize(s ? s : "", (Py_ssize_t)len);
	case TSL_VALUE_LIST:
	case TSL_VALUE_TUPLE:
		n = tsl_value_len(v);
		if (n > (size_t)PY_SSIZE_T_MAX)
			return PyErr_NoMemory();
		r = tsl_value_kind_of(v) == TSL_VALUE_LIST ?
			PyList_New((Py_ssize_t)n) : PyTuple_New((Py_ssize_t)n);
		if (!r)
			return NULL;
		for (i = 0; i < n; i++) {
			if (!(x = value_to_py(cv, tsl_value_item(v, i)))) {
				Py_DECREF(r);
				return NULL;
			}
			if (PyList_Check(r))
				PyList_SetItem(r, (Py_ssize_t)i, x);
			else
				PyTuple_SetItem(r, (Py_ssize_t)i, x);
		}
		return r;
	case TSL_VALUE_DICT:
		if (!(r = PyDict_New()))
			return NULL;
		n = tsl_value_len(v);
		for (i = 0; i < n; i++) {
			if (!(k = value_to_py(cv, tsl_value_key(v, i)))) {
				Py_DECREF(r);
				return NULL;
			}
			x = value_to_py(cv, tsl_value_item(v, i));
			if (!x || PyDict_SetItem(r, k, x) < 0) {
				if (x && PyErr_ExceptionMatches(
					PyExc_TypeError)) {
					/* TorchScript keys are str, int,
					 * float, bool, complex or Tensor */
					tsl_error e;

					PyErr_Clear();
					memset(&e, 0, sizeof e);
					e.offset = UINT64_MAX;
					snprintf(e.message, sizeof e.message,
						"a dict key of kind %s cannot "
						"be a dict key in Python",
						tsl_value_kind_name(
						tsl_value_kind_of(
						tsl_value_key(v, i))));
					raise_tsl(TSL_EFORMAT, &e);
				}
				Py_DECREF(k);
				Py_XDECREF(x);
				Py_DECREF(r);
				return NULL;
			}
			Py_DECREF(k);
			Py_DECREF(x);
		}
		return r;
	case TSL_VALUE_ENUM:
		if (!(k = PyDict_New()))
			return NULL;
		r = NULL;
		if ((x = str_from(tsl_value_type_name(v))) &&
			PyDict_SetItemString(k, "type", x) == 0) {
			Py_DECREF(x);
			if ((x = str_from(tsl_value_enum_name(v))) &&
				PyDict_SetItemString(k, "name", x) == 0) {
				Py_DECREF(x);
				if ((x = value_to_py(cv,
					tsl_value_enum_value(v))) &&
					PyDict_SetItemString(k, "value", x) == 0)
					r = namespace(k);
			}
		}
		Py_XDECREF(x);
		Py_DECREF(k);
		return r;
	case TSL_VALUE_OBJECT:
		return object_to_py(cv, v);
	case TSL_VALUE_MODULE:
		return module_new(cv->model, tsl_value_module(v));
	case TSL_VALUE_TENSOR:
		if (!tsl_value_tensor(v))
			Py_RETURN_NONE;   /* an undefined tensor */
		return tensor_new(cv->model, tsl_value_tensor(v));
	}
	PyErr_SetString(Error, "a value of unknown kind");
	return NULL;
}

static PyObject *value_to_py(struct conv *cv, const tsl_value *v)
{
	PyObject *r, *key = NULL;
	tsl_value_kind k;

	if (!v)
		Py_RETURN_NONE;
	/* a container met again (the pickle's memo shares it) is the same
	 * Python object, converted once: a hostile pickle of lists that each
	 * hold the next one twice stays linear, not 2^depth */
	k = tsl_value_kind_of(v);
	if (k == TSL_VALUE_LIST || k == TSL_VALUE_TUPLE ||
		k == TSL_VALUE_DICT || k == TSL_VALUE_OBJECT ||
		k == TSL_VALUE_ENUM) {
		if (!(key = PyLong_FromVoidPtr((void *)v)))
			return NULL;
		r = PyDict_GetItemWithError(cv->memo, key);
		if (r || PyErr_Occurred()) {
			Py_DECREF(key);
			return r ? Py_NewRef(r) : NULL;
		}
	}
	if (Py_EnterRecursiveCall(" converting a tsload value")) {
		Py_XDECREF(key);
		return NULL;
	}
	r = value_to_py_inner(cv, v);
	Py_LeaveRecursiveCall();
	if (r && key && PyDict_SetItem(cv->memo, key, r) < 0)
		Py_CLEAR(r);
	Py_XDECREF(key);
	return r;
}

/* value_to_py with a fresh memo, the model pinned (model_enter).  The
 * caller has checked that the model is open. */
static PyObject *convert(ModelObject *model, const tsl_value *v)
{
	struct conv cv = { model, NULL };
	PyObject *r = NULL;

	model_pin(model);
	if ((cv.memo = PyDict_New()) != NULL) {
		r = value_to_py(&cv, v);
		Py_DECREF(cv.memo);
	}
	model_unpin(model);
	return r;
}

/* ------------------------------------------------------------------------ */
/* Named walks                                                               */
/* ------------------------------------------------------------------------ */

struct walk {
	ModelObject *model;
	PyObject *out;     /* dict or list */
	int as_pairs;      /* list of (name, obj) tuples, else dict */
	int failed;
};

static int walk_add(struct walk *w, const char *name, PyObject *obj)
{
	PyObject *key;
	int rc;

	if (!obj)
		goto fail;
	if (!(key = str_from(name))) {
		Py_DECREF(obj);
		goto fail;
	}
	if (w->as_pairs) {
		PyObject *pair = PyTuple_Pack(2, key, obj);

		rc = pair ? PyList_Append(w->out, pair) : -1;
		Py_XDECREF(pair);
	} else {
		rc = PyDict_SetItem(w->out, key, obj);
	}
	Py_DECREF(key);
	Py_DECREF(obj);
	if (rc == 0)
		return 0;
fail:
	w->failed = 1;
	return 1;   /* stop the walk */
}

static int walk_tensor_cb(void *payload, const char *name, const tsl_tensor *t)
{
	struct walk *w = payload;

	return walk_add(w, name, tensor_new(w->model, t));
}

static int walk_module_cb(void *payload, const char *name,
	const tsl_module *mod)
{
	struct walk *w = payload;

	return walk_add(w, name, module_new(w->model, mod));
}

enum walk_kind { W_STATE_DICT, W_PARAMETERS, W_BUFFERS, W_MODULES };

/* Run one of the C library's walks from `mod` into a new dict or list. */
static PyObject *run_walk(ModelObject *model, const tsl_module *mod,
	enum walk_kind kind, int as_pairs)
{
	struct walk w = { model, NULL, as_pairs, 0 };
	tsl_error e;
	int rc;

	/* the caller checked the model: pinned for the walk (model_enter) */
	model_pin(model);
	w.out = as_pairs ? PyList_New(0) : PyDict_New();
	if (!w.out) {
		model_unpin(model);
		return NULL;
	}
	switch (kind) {
	case W_STATE_DICT:
		rc = tsl_module_state_dict(mod, walk_tensor_cb, &w);
		break;
	case W_PARAMETERS:
		rc = tsl_module_named_parameters(mod, walk_tensor_cb, &w);
		break;
	case W_BUFFERS:
		rc = tsl_module_named_buffers(mod, walk_tensor_cb, &w);
		break;
	default:
		rc = tsl_module_named_modules(mod, walk_module_cb, &w);
		break;
	}
	model_unpin(model);
	if (w.failed) {
		Py_DECREF(w.out);
		return NULL;
	}
	if (rc < 0) {
		memset(&e, 0, sizeof e);
		e.offset = UINT64_MAX;
		snprintf(e.message, sizeof e.message,
			"walking the module tree failed: %s",
			tsl_status_name(rc));
		Py_DECREF(w.out);
		return raise_tsl(rc, &e);
	}
	return w.out;
}

/* Model.tensors() entries: a struct sequence whose first two items are
 * (name, Tensor), so `for name, t in m.tensors()` unpacks them; the rest
 * are attributes (tsl_tensor_entry's fields). */
static PyTypeObject *Entry_Type;

static PyStructSequence_Field entry_fields[] = {
	{ "name", "the tensor's dotted name" },
	{ "tensor", "the Tensor" },
	{ "origin", "\"parameter\", \"buffer\", \"attribute\", \"state\", "
	  "\"constant\" or \"checkpoint\"" },
	{ "state_dict", "whether the name is a state_dict() key" },
	{ "storage", "storage number (equal numbers share bytes), None for "
	  "a sparse tensor" },
	{ "alias_of", "index of the first entry with the same view, or None" },
	{ NULL, NULL }
};

static PyStructSequence_Desc entry_desc = {
	"tsload.TensorEntry",
	"An entry of Model.tensors(): (name, tensor) plus origin, state_dict, "
	"storage and alias_of attributes.",
	entry_fields, 2
};

static PyObject *size_or_none(size_t v)
{
	if (v == SIZE_MAX)
		Py_RETURN_NONE;
	return PyLong_FromSize_t(v);
}

static PyObject *entry_new(ModelObject *model, const tsl_tensor_entry *e)
{
	PyObject *r = PyStructSequence_New(Entry_Type);
	PyObject *items[6];
	int i;

	if (!r)
		return NULL;
	items[0] = str_from(e->name);
	items[1] = tensor_new(model, e->tensor);
	items[2] = PyUnicode_FromString(tsl_tensor_origin_name(e->origin));
	items[3] = PyBool_FromLong(e->state_dict);
	items[4] = size_or_none(e->storage);
	items[5] = size_or_none(e->alias_of);
	for (i = 0; i < 6; i++)
		if (!items[i])
			break;
	if (i < 6) {
		for (i = 0; i < 6; i++)
			Py_XDECREF(items[i]);
		Py_DECREF(r);
		return NULL;
	}
	for (i = 0; i < 6; i++)
		PyStructSequence_SetItem(r, i, items[i]);   /* steals */
	return r;
}

/* ------------------------------------------------------------------------ */
/* Model methods                                                             */
/* ------------------------------------------------------------------------ */

static const tsl_module *model_root_checked(ModelObject *self)
{
	const tsl_module *root;

	if (model_check(self) < 0)
		return NULL;
	root = tsl_model_root(self->m);
	if (!root)
		PyErr_SetString(PyExc_TypeError, "a torch.save checkpoint has "
			"no module tree: use Model.value");
	return root;
}

/* A checkpoint's state_dict(): the saved object when it is a dict from str
 * to tensors.  The model is pinned by the caller. */
static PyObject *checkpoint_state_dict_pinned(ModelObject *self)
{
	const tsl_value *v = tsl_model_value(self->m);
	PyObject *r;
	size_t i, n;

	if (tsl_value_kind_of(v) != TSL_VALUE_DICT) {
		PyErr_SetString(PyExc_TypeError, "this checkpoint's saved "
			"object is not a dict: use Model.value");
		return NULL;
	}
	if (!(r = PyDict_New()))
		return NULL;
	n = tsl_value_len(v);
	for (i = 0; i < n; i++) {
		const tsl_value *k = tsl_value_key(v, i), *x = tsl_value_item(v, i);
		PyObject *key, *t;

		if (tsl_value_kind_of(k) != TSL_VALUE_STRING ||
			tsl_value_kind_of(x) != TSL_VALUE_TENSOR ||
			!tsl_value_tensor(x)) {
			Py_DECREF(r);
			PyErr_SetString(PyExc_TypeError, "this checkpoint's "
				"saved object is not a dict from str to "
				"tensors: use Model.value");
			return NULL;
		}
		if (!(key = str_from(tsl_value_string(k, NULL))))
			goto fail;
		t = tensor_new(self, tsl_value_tensor(x));
		if (!t || PyDict_SetItem(r, key, t) < 0) {
			Py_DECREF(key);
			Py_XDECREF(t);
			goto fail;
		}
		Py_DECREF(key);
		Py_DECREF(t);
	}
	return r;
fail:
	Py_DECREF(r);
	return NULL;
}

static PyObject *Model_state_dict(PyObject *o, PyObject *unused)
{
	ModelObject *self = (ModelObject *)o;
	const tsl_module *root;

	if (model_check(self) < 0)
		return NULL;
	if (!(root = tsl_model_root(self->m))) {
		PyObject *r;

		model_pin(self);
		r = checkpoint_state_dict_pinned(self);
		model_unpin(self);
		return r;
	}
	return run_walk(self, root, W_STATE_DICT, 0);
}

static PyObject *pairs_iter(PyObject *list)
{
	PyObject *it;

	if (!list)
		return NULL;
	it = PyObject_GetIter(list);
	Py_DECREF(list);
	return it;
}

static PyObject *Model_named_parameters(PyObject *o, PyObject *unused)
{
	ModelObject *self = (ModelObject *)o;
	const tsl_module *root = model_root_checked(self);

	return root ? pairs_iter(run_walk(self, root, W_PARAMETERS, 1)) : NULL;
}

static PyObject *Model_named_buffers(PyObject *o, PyObject *unused)
{
	ModelObject *self = (ModelObject *)o;
	const tsl_module *root = model_root_checked(self);

	return root ? pairs_iter(run_walk(self, root, W_BUFFERS, 1)) : NULL;
}

static PyObject *Model_named_modules(PyObject *o, PyObject *unused)
{
	ModelObject *self = (ModelObject *)o;
	const tsl_module *root = model_root_checked(self);

	return root ? pairs_iter(run_walk(self, root, W_MODULES, 1)) : NULL;
}

static PyObject *Model_tensors(PyObject *o, PyObject *unused)
{
	ModelObject *self = (ModelObject *)o;
	PyObject *out, *r;
	tsl_tensor_entry e;
	tsl_error err;
	size_t i, n = 0;
	int rc;

	if (model_check(self) < 0)
		return NULL;
	/* the list is built once per model: without the GIL, pinned */
	model_pin(self);
	Py_BEGIN_ALLOW_THREADS
	rc = tsl_model_tensor_count(self->m, &n, &err);
	Py_END_ALLOW_THREADS
	if (rc != TSL_OK) {
		model_unpin(self);
		return raise_tsl(rc, &err);
	}
	out = PyList_New(0);
	for (i = 0; out && i < n; i++) {
		PyObject *x;

		if ((rc = tsl_model_tensor_at(self->m, i, &e)) != TSL_OK) {
			PyErr_Format(Error, "tsl_model_tensor_at: %s",
				tsl_status_name(rc));
			Py_CLEAR(out);
			break;
		}
		x = entry_new(self, &e);
		if (!x || PyList_Append(out, x) < 0)
			Py_CLEAR(out);
		Py_XDECREF(x);
	}
	model_unpin(self);
	if (!out)
		return NULL;
	r = PyObject_GetIter(out);
	Py_DECREF(out);
	return r;
}

static PyObject *Model_close(PyObject *o, PyObject *unused)
{
	ModelObject *self = (ModelObject *)o;

	if (!self->closed) {
		self->closed = 1;
		if (self->pins == 0)
			model_free_now(self);
	}
	Py_RETURN_NONE;
}

static PyObject *Model_enter(PyObject *o, PyObject *unused)
{
	ModelObject *self = (ModelObject *)o;

	if (model_check(self) < 0)
		return NULL;
	return Py_NewRef(o);
}

static PyObject *Model_exit(PyObject *o, PyObject *args)
{
	return Model_close(o, NULL);
}

static PyObject *Model_get_root(PyObject *o, void *closure)
{
	ModelObject *self = (ModelObject *)o;
	const tsl_module *root;

	if (model_check(self) < 0)
		return NULL;
	root = tsl_model_root(self->m);
	if (!root)
		Py_RETURN_NONE;
	return module_new(self, root);
}

static PyObject *Model_get_value(PyObject *o, void *closure)
{
	ModelObject *self = (ModelObject *)o;

	if (model_check(self) < 0)
		return NULL;
	return convert(self, tsl_model_value(self->m));
}

static PyObject *Model_get_constants(PyObject *o, void *closure)
{
	ModelObject *self = (ModelObject *)o;
	const tsl_value *c;

	if (model_check(self) < 0)
		return NULL;
	c = tsl_model_constants(self->m);
	if (!c)
		return PyTuple_New(0);
	return convert(self, c);
}

static PyObject *extra_file(ModelObject *self, const char *name)
{
	tsl_archive *ar = tsl_model_archive(self->m);
	const void *data;
	size_t size;
	tsl_error e;
	PyObject *r;
	int rc;

	model_pin(self);
	Py_BEGIN_ALLOW_THREADS
	rc = tsl_archive_extra_read(ar, name, &data, &size, &e);
	Py_END_ALLOW_THREADS
	/* copy before unpinning: a close() meanwhile frees at the unpin */
	r = rc == TSL_OK ? PyBytes_FromStringAndSize(data ? data : "",
		(Py_ssize_t)size) : raise_tsl(rc, &e);
	model_unpin(self);
	return r;
}

static PyObject *Model_get_extra_files(PyObject *o, void *closure)
{
	ModelObject *self = (ModelObject *)o;
	tsl_archive *ar;
	PyObject *r;
	size_t i, n;

	/* pinned for the whole loop: each extra_file() lets the GIL go,
	 * and a close() from another thread meanwhile must not free the
	 * names and the archive the loop goes on reading */
	if (model_enter(self) < 0)
		return NULL;
	ar = tsl_model_archive(self->m);
	if (!(r = PyDict_New()))
		goto out;
	n = tsl_archive_extra_count(ar);
	for (i = 0; i < n; i++) {
		const char *name = tsl_archive_extra_name(ar, i);
		PyObject *b, *k;

		if (!(b = extra_file(self, name))) {
			Py_CLEAR(r);
			goto out;
		}
		k = str_from(name);
		if (!k || PyDict_SetItem(r, k, b) < 0) {
			Py_XDECREF(k);
			Py_DECREF(b);
			Py_CLEAR(r);
			goto out;
		}
		Py_DECREF(k);
		Py_DECREF(b);
	}
out:
	model_unpin(self);
	return r;
}

static PyObject *Model_get_kind(PyObject *o, void *closure)
{
	ModelObject *self = (ModelObject *)o;

	if (model_check(self) < 0)
		return NULL;
	return str_from(tsl_file_kind_name(tsl_model_kind(self->m)));
}

static PyObject *Model_get_format_version(PyObject *o, void *closure)
{
	ModelObject *self = (ModelObject *)o;

	if (model_check(self) < 0)
		return NULL;
	return PyLong_FromUnsignedLongLong(tsl_archive_format_version(
		tsl_model_archive(self->m)));
}

static PyObject *Model_get_closed(PyObject *o, void *closure)
{
	return PyBool_FromLong(((ModelObject *)o)->closed);
}

static PyObject *Model_repr(PyObject *o)
{
	ModelObject *self = (ModelObject *)o;
	const tsl_module *root;
	PyObject *type, *r;

	if (self->closed || !self->m)
		return PyUnicode_FromString("<tsload.Model (closed)>");
	root = tsl_model_root(self->m);
	if (!root)
		return PyUnicode_FromFormat("<tsload.Model %s>",
			tsl_file_kind_name(tsl_model_kind(self->m)));
	model_pin(self);
	r = NULL;
	if ((type = str_from(tsl_module_type(root))) != NULL) {
		r = PyUnicode_FromFormat("<tsload.Model %s %U>",
			tsl_file_kind_name(tsl_model_kind(self->m)), type);
		Py_DECREF(type);
	}
	model_unpin(self);
	return r;
}

static PyMethodDef Model_methods[] = {
	{ "state_dict", Model_state_dict, METH_NOARGS,
	  "state_dict() -> dict: name -> Tensor, in PyTorch's order" },
	{ "named_parameters", Model_named_parameters, METH_NOARGS,
	  "named_parameters() -> iterator of (name, Tensor)" },
	{ "named_buffers", Model_named_buffers, METH_NOARGS,
	  "named_buffers() -> iterator of (name, Tensor)" },
	{ "named_modules", Model_named_modules, METH_NOARGS,
	  "named_modules() -> iterator of (name, Module), the root first" },
	{ "tensors", Model_tensors, METH_NOARGS,
	  "tensors() -> iterator of (path, Tensor): every tensor of the "
	  "model once, constants and quantization parameters included" },
	{ "close", Model_close, METH_NOARGS,
	  "close(): free the model (deferred while arrays made from it "
	  "live); later use raises tsload.ClosedError" },
	{ "__enter__", Model_enter, METH_NOARGS, NULL },
	{ "__exit__", Model_exit, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL }
};

static PyGetSetDef Model_getset[] = {
	{ "root", Model_get_root, NULL, "the root Module (None for a "
	  "checkpoint)", NULL },
	{ "value", Model_get_value, NULL, "the unpickled data.pkl, converted",
	  NULL },
	{ "constants", Model_get_constants, NULL, "the constants tuple", NULL },
	{ "extra_files", Model_get_extra_files, NULL,
	  "dict: extra file name -> bytes", NULL },
	{ "kind", Model_get_kind, NULL, "what the file is", NULL },
	{ "format_version", Model_get_format_version, NULL,
	  "the file-format version", NULL },
	{ "closed", Model_get_closed, NULL, "whether close() was called", NULL },
	{ NULL, NULL, NULL, NULL, NULL }
};

static PyType_Slot Model_slots[] = {
	{ Py_tp_dealloc, Model_dealloc },
	{ Py_tp_methods, Model_methods },
	{ Py_tp_getset, Model_getset },
	{ Py_tp_repr, Model_repr },
	{ Py_tp_doc, "A loaded TorchScript archive or torch.save checkpoint "
	  "(tsload.load)." },
	{ 0, NULL }
};

static PyType_Spec Model_spec = {
	"tsload.Model", sizeof(ModelObject), 0,
	Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
	Model_slots
};

/* ------------------------------------------------------------------------ */
/* Module                                                                    */
/* ------------------------------------------------------------------------ */

static PyObject *Module_get_type(PyObject *o, void *closure)
{
	ModuleObject *self = (ModuleObject *)o;
	PyObject *r;

	if (model_enter(self->model) < 0)
		return NULL;
	r = str_from(tsl_module_type(self->mod));
	model_unpin(self->model);
	return r;
}

static PyObject *Module_get_training(PyObject *o, void *closure)
{
	ModuleObject *self = (ModuleObject *)o;
	int t;

	if (model_check(self->model) < 0)
		return NULL;
	t = tsl_module_training(self->mod);
	if (t < 0)
		Py_RETURN_NONE;
	return PyBool_FromLong(t);
}

static PyObject *Module_get_attributes(PyObject *o, void *closure)
{
	ModuleObject *self = (ModuleObject *)o;
	static const char *kinds[] = { "attribute", "parameter", "buffer",
		"module" };
	PyObject *r;
	size_t i, n;

	if (model_enter(self->model) < 0)
		return NULL;
	if (!(r = PyDict_New()))
		goto out;
	n = tsl_module_attr_count(self->mod);
	for (i = 0; i < n; i++) {
		tsl_attr a;
		PyObject *kw, *x, *ns, *name;

		if (tsl_module_attr(self->mod, i, &a) != TSL_OK)
			continue;
		if (!(kw = PyDict_New()))
			goto fail;
		x = PyUnicode_FromString((unsigned)a.kind < 4 ?
			kinds[a.kind] : "attribute");
		if (!x || PyDict_SetItemString(kw, "kind", x) < 0)
			goto fail_kw;
		Py_DECREF(x);
		if (!(x = str_from(a.type)) ||
			PyDict_SetItemString(kw, "type", x) < 0)
			goto fail_kw;
		Py_DECREF(x);
		if (!(x = convert(self->model, a.value)) ||
			PyDict_SetItemString(kw, "value", x) < 0)
			goto fail_kw;
		Py_DECREF(x);
		ns = namespace(kw);
		Py_DECREF(kw);
		if (!ns)
			goto fail;
		name = str_from(a.name);
		if (!name || PyDict_SetItem(r, name, ns) < 0) {
			Py_XDECREF(name);
			Py_DECREF(ns);
			goto fail;
		}
		Py_DECREF(name);
		Py_DECREF(ns);
		continue;
fail_kw:
		Py_XDECREF(x);
		Py_DECREF(kw);
		goto fail;
	}
	goto out;
fail:
	Py_CLEAR(r);
out:
	model_unpin(self->model);
	return r;
}

static PyObject *str_list(size_t n, const char *const *s)
{
	PyObject *r = PyList_New((Py_ssize_t)n), *x;
	size_t i;

	if (!r)
		return NULL;
	for (i = 0; i < n; i++) {
		if (!(x = str_from(s ? s[i] : NULL))) {
			Py_DECREF(r);
			return NULL;
		}
		PyList_SetItem(r, (Py_ssize_t)i, x);
	}
	return r;
}

static PyObject *module_methods_pinned(ModuleObject *self)
{
	PyObject *r;
	tsl_error e;
	size_t i, n;
	int rc;

	rc = tsl_module_methods_load(self->mod, &e);
	if (rc != TSL_OK)
		return raise_tsl(rc, &e);
	n = tsl_module_method_count(self->mod);
	if (!(r = PyDict_New()))
		return NULL;
	for (i = 0; i < n; i++) {
		tsl_method m;
		PyObject *args, *ret, *shapes, *sig;

		if ((rc = tsl_module_method(self->mod, i, &m)) != TSL_OK) {
			Py_DECREF(r);
			memset(&e, 0, sizeof e);
			e.offset = UINT64_MAX;
			return raise_tsl(rc, &e);
		}
		args = PyList_New(0);
		ret = str_list(m.nreturns, m.return_types);
		shapes = m.arg_shapes ? str_list(m.nargs, m.arg_shapes) :
			Py_NewRef(Py_None);
		sig = NULL;
		if (args && ret && shapes) {
			size_t j;

			for (j = 0; j < m.nargs; j++) {
				PyObject *p = Py_BuildValue("(NN)",
					str_from(m.arg_names[j]),
					str_from(m.arg_types[j]));

				if (!p || PyList_Append(args, p) < 0) {
					Py_XDECREF(p);
					goto next;
				}
				Py_DECREF(p);
			}
			sig = Py_BuildValue("{s:O,s:O,s:O}", "args", args,
				"returns", ret, "arg_shapes", shapes);
		}
next:
		Py_XDECREF(args);
		Py_XDECREF(ret);
		Py_XDECREF(shapes);
		if (!sig) {
			Py_DECREF(r);
			return NULL;
		}
		{
			PyObject *key = str_from(m.name);

			if (!key || PyDict_SetItem(r, key, sig) < 0) {
				Py_XDECREF(key);
				Py_DECREF(sig);
				Py_DECREF(r);
				return NULL;
			}
			Py_DECREF(key);
		}
		Py_DECREF(sig);
	}
	return r;
}

static PyObject *Module_get_methods(PyObject *o, void *closure)
{
	ModuleObject *self = (ModuleObject *)o;
	PyObject *r;

	if (model_enter(self->model) < 0)
		return NULL;
	r = module_methods_pinned(self);
	model_unpin(self->model);
	return r;
}

static PyObject *Module_repr(PyObject *o)
{
	ModuleObject *self = (ModuleObject *)o;
	PyObject *type, *r = NULL;

	if (self->model->closed || !self->model->m)
		return PyUnicode_FromString("<tsload.Module (closed)>");
	model_pin(self->model);
	if ((type = str_from(tsl_module_type(self->mod))) != NULL) {
		r = PyUnicode_FromFormat("<tsload.Module %U>", type);
		Py_DECREF(type);
	}
	model_unpin(self->model);
	return r;
}

static PyGetSetDef Module_getset[] = {
	{ "type", Module_get_type, NULL, "qualified class name", NULL },
	{ "training", Module_get_training, NULL, "True, False or None", NULL },
	{ "attributes", Module_get_attributes, NULL, "dict: name -> "
	  "namespace(kind, type, value), in declaration order", NULL },
	{ "methods", Module_get_methods, NULL, "dict: name -> {'args': "
	  "[(name, type)], 'returns': [type], 'arg_shapes': None or list}",
	  NULL },
	{ NULL, NULL, NULL, NULL, NULL }
};

static PyType_Slot Module_slots[] = {
	{ Py_tp_dealloc, Wrapper_dealloc },
	{ Py_tp_getset, Module_getset },
	{ Py_tp_repr, Module_repr },
	{ Py_tp_doc, "A module node of a tsload.Model." },
	{ 0, NULL }
};

static PyType_Spec Module_spec = {
	"tsload.Module", sizeof(ModuleObject), 0,
	Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
	Module_slots
};

/* ------------------------------------------------------------------------ */
/* Tensor                                                                    */
/* ------------------------------------------------------------------------ */

/* The struct-module format numpy reads for each dtype.  Types numpy lacks
 * are handed out as raw unsigned integers of the same width (bits kept),
 * their real name in Tensor.dtype. */
static const char *dtype_format(tsl_dtype d)
{
	switch (d) {
	case TSL_UINT8: case TSL_QUINT8: case TSL_QUINT4X2:
	case TSL_QUINT2X4: case TSL_BITS1X8: case TSL_BITS2X4:
	case TSL_BITS4X2: case TSL_BITS8: case TSL_FLOAT8_E5M2:
	case TSL_FLOAT8_E4M3FN: case TSL_FLOAT8_E5M2FNUZ:
	case TSL_FLOAT8_E4M3FNUZ:
		return "B";
	case TSL_INT8: case TSL_QINT8: return "b";
	case TSL_INT16: return "h";
	case TSL_INT32: case TSL_QINT32: return "i";
	case TSL_INT64: return "q";
	case TSL_UINT16: case TSL_BFLOAT16: case TSL_BITS16: return "H";
	case TSL_UINT32: case TSL_COMPLEX32: return "I";
	case TSL_UINT64: return "Q";
	case TSL_FLOAT16: return "e";
	case TSL_FLOAT32: return "f";
	case TSL_FLOAT64: return "d";
	case TSL_COMPLEX64: return "Zf";
	case TSL_COMPLEX128: return "Zd";
	case TSL_BOOL: return "?";
	default: return NULL;
	}
}

/* Whether the array view is the dtype's own numpy type (else raw bits). */
static int dtype_native(tsl_dtype d)
{
	switch (d) {
	case TSL_COMPLEX32: case TSL_BFLOAT16: case TSL_QINT8: case TSL_QUINT8:
	case TSL_QINT32: case TSL_QUINT4X2: case TSL_QUINT2X4:
	case TSL_BITS1X8: case TSL_BITS2X4: case TSL_BITS4X2: case TSL_BITS8:
	case TSL_BITS16: case TSL_FLOAT8_E5M2: case TSL_FLOAT8_E4M3FN:
	case TSL_FLOAT8_E5M2FNUZ: case TSL_FLOAT8_E4M3FNUZ:
		return 0;
	default:
		return 1;
	}
}

static int tensor_check(TensorObject *self)
{
	return model_check(self->model);
}

static PyObject *i64_tuple(size_t n, const int64_t *v)
{
	PyObject *r = PyTuple_New((Py_ssize_t)n), *x;
	size_t i;

	if (!r)
		return NULL;
	for (i = 0; i < n; i++) {
		if (!(x = PyLong_FromLongLong(v[i]))) {
			Py_DECREF(r);
			return NULL;
		}
		PyTuple_SetItem(r, (Py_ssize_t)i, x);
	}
	return r;
}

/* A getter: the body runs with the model pinned (model_enter). */
#define TENSOR_GETTER(fn) \
	static PyObject *fn(PyObject *o, void *closure) \
	{ \
		TensorObject *self = (TensorObject *)o; \
		PyObject *r; \
		if (model_enter(self->model) < 0) \
			return NULL; \
		r = fn##_body(self, self->t); \
		model_unpin(self->model); \
		return r; \
	}

static PyObject *Tensor_get_dtype_body(TensorObject *s, const tsl_tensor *t)
{
	return str_from(tsl_dtype_name(tsl_tensor_dtype(t)));
}
TENSOR_GETTER(Tensor_get_dtype)

static PyObject *Tensor_get_shape_body(TensorObject *s, const tsl_tensor *t)
{
	return i64_tuple(tsl_tensor_ndim(t), tsl_tensor_shape(t));
}
TENSOR_GETTER(Tensor_get_shape)

static PyObject *Tensor_get_stride_body(TensorObject *s, const tsl_tensor *t)
{
	if (tsl_tensor_layout(t) != TSL_LAYOUT_STRIDED)
		Py_RETURN_NONE;
	return i64_tuple(tsl_tensor_ndim(t), tsl_tensor_strides(t));
}
TENSOR_GETTER(Tensor_get_stride)

static PyObject *Tensor_get_storage_offset_body(TensorObject *s,
	const tsl_tensor *t)
{
	return PyLong_FromLongLong(tsl_tensor_storage_offset(t));
}
TENSOR_GETTER(Tensor_get_storage_offset)

static PyObject *Tensor_get_device_body(TensorObject *s, const tsl_tensor *t)
{
	return str_from(tsl_tensor_device(t));
}
TENSOR_GETTER(Tensor_get_device)

static PyObject *Tensor_get_saved_device_body(TensorObject *s,
	const tsl_tensor *t)
{
	return str_from(tsl_tensor_saved_device(t));
}
TENSOR_GETTER(Tensor_get_saved_device)

static PyObject *Tensor_get_requires_grad_body(TensorObject *s,
	const tsl_tensor *t)
{
	return PyBool_FromLong(tsl_tensor_requires_grad(t));
}
TENSOR_GETTER(Tensor_get_requires_grad)

static PyObject *Tensor_get_layout_body(TensorObject *s, const tsl_tensor *t)
{
	return PyUnicode_FromString(tsl_tensor_layout(t) ==
		TSL_LAYOUT_SPARSE_COO ? "sparse_coo" : "strided");
}
TENSOR_GETTER(Tensor_get_layout)

static PyObject *Tensor_get_numel_body(TensorObject *s, const tsl_tensor *t)
{
	return PyLong_FromUnsignedLongLong(tsl_tensor_numel(t));
}
TENSOR_GETTER(Tensor_get_numel)

static PyObject *Tensor_get_itemsize_body(TensorObject *s, const tsl_tensor *t)
{
	return PyLong_FromSize_t(tsl_dtype_size(tsl_tensor_dtype(t)));
}
TENSOR_GETTER(Tensor_get_itemsize)

static PyObject *opt_tensor(TensorObject *s, const tsl_tensor *x)
{
	if (!x)
		Py_RETURN_NONE;
	return tensor_new(s->model, x);
}

static PyObject *Tensor_get_quant_body(TensorObject *s, const tsl_tensor *t)
{
	static const char *names[] = { "per_tensor_affine",
		"per_channel_affine", "per_tensor_symmetric",
		"per_channel_symmetric",
		"per_channel_affine_float_qparams" };
	tsl_qscheme q = tsl_tensor_qscheme(t);

	if (q == TSL_QSCHEME_NONE || (unsigned)q >= 5)
		Py_RETURN_NONE;
	if (q == TSL_QSCHEME_PER_TENSOR_AFFINE ||
		q == TSL_QSCHEME_PER_TENSOR_SYMMETRIC)
		return Py_BuildValue("{s:s,s:d,s:L}", "qscheme", names[q],
			"scale", tsl_tensor_q_scale(t), "zero_point",
			(long long)tsl_tensor_q_zero_point(t));
	return Py_BuildValue("{s:s,s:N,s:N,s:L}", "qscheme", names[q],
		"scales", opt_tensor(s, tsl_tensor_q_scales(t)),
		"zero_points", opt_tensor(s, tsl_tensor_q_zero_points(t)),
		"axis", (long long)tsl_tensor_q_axis(t));
}
TENSOR_GETTER(Tensor_get_quant)

static PyObject *Tensor_get_sparse_body(TensorObject *s, const tsl_tensor *t)
{
	if (tsl_tensor_layout(t) != TSL_LAYOUT_SPARSE_COO)
		Py_RETURN_NONE;
	return Py_BuildValue("(NN)", opt_tensor(s,
		tsl_tensor_sparse_indices(t)),
		opt_tensor(s, tsl_tensor_sparse_values(t)));
}
TENSOR_GETTER(Tensor_get_sparse)

static PyObject *Tensor_get_is_native_body(TensorObject *s, const tsl_tensor *t)
{
	return PyBool_FromLong(dtype_native(tsl_tensor_dtype(t)));
}
TENSOR_GETTER(Tensor_get_is_native)

static PyObject *str_or_none(const char *v)
{
	if (!v)
		Py_RETURN_NONE;
	return PyUnicode_FromString(v);
}

static PyObject *Tensor_get_safetensors_dtype_body(TensorObject *s,
	const tsl_tensor *t)
{
	(void)s;
	return str_or_none(tsl_dtype_safetensors_name(tsl_tensor_dtype(t)));
}
TENSOR_GETTER(Tensor_get_safetensors_dtype)

static PyObject *Tensor_get_numpy_typestr_body(TensorObject *s,
	const tsl_tensor *t)
{
	(void)s;
	return str_or_none(tsl_dtype_numpy_typestr(tsl_tensor_dtype(t)));
}
TENSOR_GETTER(Tensor_get_numpy_typestr)

/* Materialize the tensor's view without the GIL.  The model is pinned
 * first so that a close() from another thread meanwhile does not free it;
 * on success the pin is kept (the caller unpins when done with *data). */
static int tensor_data_pinned(TensorObject *self, const void **data)
{
	tsl_error e;
	int rc;

	model_pin(self->model);
	Py_BEGIN_ALLOW_THREADS
	rc = tsl_tensor_data(self->t, data, &e);
	Py_END_ALLOW_THREADS
	if (rc != TSL_OK) {
		raise_tsl(rc, &e);
		model_unpin(self->model);
		return -1;
	}
	return 0;
}

static char empty_data[16];

/* Whether a view of nd dims (sizes dims[0..nd), byte strides
 * dims[nd..2nd)) of isz-byte items lies without gaps in C (row-major) or,
 * with fortran, column-major order.  As numpy and PyBuffer_IsContiguous
 * judge it: a dimension of size 1 may have any stride, and a view with no
 * elements is contiguous. */
static int view_contiguous(const Py_ssize_t *dims, size_t nd, Py_ssize_t isz,
	int fortran)
{
	Py_ssize_t want = isz;
	size_t i;

	for (i = 0; i < nd; i++)
		if (dims[i] == 0)
			return 1;
	for (i = 0; i < nd; i++) {
		size_t d = fortran ? i : nd - 1 - i;

		if (dims[d] != 1 && dims[nd + d] != want)
			return 0;
		want *= dims[d];
	}
	return 1;
}

/* The bytes of a packed tensor (quint4x2, quint2x4: two or four elements a
 * byte), which no buffer format describes: a contiguous one is handed out
 * as its packed bytes, 1-d, as numpy() copies it.  Pinned on success. */
static int packed_data_pinned(TensorObject *self, const void **data,
	size_t *size)
{
	tsl_error e;
	int rc;

	model_pin(self->model);
	Py_BEGIN_ALLOW_THREADS
	rc = tsl_tensor_contiguous_data(self->t, data, size, &e);
	Py_END_ALLOW_THREADS
	if (rc == TSL_OK)
		return 0;
	if (rc == TSL_EUNSUPPORTED && !tsl_tensor_is_contiguous(self->t))
		PyErr_Format(PyExc_BufferError, "a %s view that is not "
			"contiguous has no buffer (its elements are packed "
			"into bytes): use Tensor.numpy(dtype=\"float32\") to "
			"dequantize it", tsl_dtype_name(tsl_tensor_dtype(
			self->t)));
	else
		raise_tsl(rc, &e);
	model_unpin(self->model);
	return -1;
}

/* The buffer protocol: a read-only strided view of the storage's bytes,
 * zero-copy for a stored aligned record.  Holds the model pinned until
 * released.  A consumer that asks for contiguous memory (no strides, or
 * PyBUF_C/F/ANY_CONTIGUOUS) gets it or a BufferError, never a strided
 * view it would read as contiguous. */
static int Tensor_getbuffer(PyObject *o, Py_buffer *view, int flags)
{
	TensorObject *self = (TensorObject *)o;
	const tsl_tensor *t = self->t;
	const char *fmt;
	const void *data;
	Py_ssize_t *dims, isz;
	size_t i, nd, packed_size = 0;
	uint64_t numel;
	tsl_dtype d;
	int packed, want_c, want_f, want_any;

	view->obj = NULL;
	if (tensor_check(self) < 0)
		return -1;
	if (flags & PyBUF_WRITABLE) {
		PyErr_SetString(PyExc_BufferError, "tsload tensors are "
			"read-only (use Tensor.numpy() for a writable copy)");
		return -1;
	}
	if (tsl_tensor_layout(t) != TSL_LAYOUT_STRIDED) {
		PyErr_SetString(PyExc_BufferError, "a sparse tensor has no "
			"buffer: use Tensor.sparse (indices, values)");
		return -1;
	}
	d = tsl_tensor_dtype(t);
	if (!(fmt = dtype_format(d))) {
		PyErr_Format(PyExc_BufferError, "dtype %s has no buffer format",
			tsl_dtype_name(d));
		return -1;
	}
	packed = d == TSL_QUINT4X2 || d == TSL_QUINT2X4;
	nd = packed ? 1 : tsl_tensor_ndim(t);
	numel = tsl_tensor_numel(t);
	isz = (Py_ssize_t)tsl_dtype_size(d);
	if (packed) {
		if (packed_data_pinned(self, &data, &packed_size) < 0)
			return -1;
		isz = 1;
	} else if (tensor_data_pinned(self, &data) < 0) {
		return -1;
	}
	if (!data) {
		if (numel != 0) {
			tsl_error e;
			const char *rec = tsl_tensor_storage(t) ?
				tsl_storage_record(tsl_tensor_storage(t)) : NULL;

			memset(&e, 0, sizeof e);
			e.offset = UINT64_MAX;
			snprintf(e.record, sizeof e.record, "%s",
				rec ? rec : "");
			snprintf(e.message, sizeof e.message, "the tensor's "
				"storage holds no data (a traced input or meta "
				"tensor)");
			raise_tsl(TSL_EUNSUPPORTED, &e);
			goto fail;
		}
		data = empty_data;
	}
	/* shape and strides in one block, freed in releasebuffer */
	dims = PyMem_Malloc(sizeof *dims * 2 * (nd ? nd : 1));
	if (!dims) {
		PyErr_NoMemory();
		goto fail;
	}
	if (packed) {
		dims[0] = (Py_ssize_t)packed_size;
		dims[1] = 1;
	}
	for (i = 0; !packed && i < nd; i++) {
		/* sizes and strides were checked against the storage at
		 * load; in elements, so the byte stride cannot overflow */
		dims[i] = (Py_ssize_t)tsl_tensor_shape(t)[i];
		dims[nd + i] = (Py_ssize_t)tsl_tensor_strides(t)[i] * isz;
	}
	/* what the consumer may assume of the memory: without strides it
	 * reads C order */
	want_c = !((flags & PyBUF_STRIDES) == PyBUF_STRIDES) ||
		(flags & PyBUF_C_CONTIGUOUS) == PyBUF_C_CONTIGUOUS;
	want_f = (flags & PyBUF_F_CONTIGUOUS) == PyBUF_F_CONTIGUOUS;
	want_any = (flags & PyBUF_ANY_CONTIGUOUS) == PyBUF_ANY_CONTIGUOUS;
	if ((want_c && !view_contiguous(dims, nd, isz, 0)) ||
		(want_f && !view_contiguous(dims, nd, isz, 1)) ||
		(want_any && !view_contiguous(dims, nd, isz, 0) &&
		!view_contiguous(dims, nd, isz, 1))) {
		PyMem_Free(dims);
		PyErr_Format(PyExc_BufferError, "the tensor is not %s",
			want_f ? "Fortran-contiguous" : want_any ?
			"contiguous" : "C-contiguous");
		goto fail;
	}
	view->buf = (void *)data;
	view->obj = Py_NewRef(o);
	view->len = packed ? (Py_ssize_t)packed_size : (Py_ssize_t)numel * isz;
	view->itemsize = isz;
	view->readonly = 1;
	view->ndim = (int)nd;
	view->format = (flags & PyBUF_FORMAT) ? (char *)fmt : NULL;
	view->shape = (flags & PyBUF_ND) ? dims : NULL;
	view->strides = (flags & PyBUF_STRIDES) == PyBUF_STRIDES ?
		dims + nd : NULL;
	view->suboffsets = NULL;
	view->internal = dims;
	return 0;   /* the pin is released in Tensor_releasebuffer */
fail:
	model_unpin(self->model);
	return -1;
}

static void Tensor_releasebuffer(PyObject *o, Py_buffer *view)
{
	TensorObject *self = (TensorObject *)o;

	PyMem_Free(view->internal);
	view->internal = NULL;
	model_unpin(self->model);
}

/* __dlpack__ capsules: "dltensor" until a consumer takes it (it renames
 * it "used_dltensor" and calls the deleter itself). */
static void dlpack_capsule_destructor(PyObject *cap)
{
	DLManagedTensor *mt;

	if (!PyCapsule_IsValid(cap, "dltensor"))
		return;
	mt = PyCapsule_GetPointer(cap, "dltensor");
	if (mt && mt->deleter)
		mt->deleter(mt);
}

/* The managed tensor handed out: tsload's, wrapped so that its deleter
 * also lets go of the Model object, which holds the bytes an archive
 * loaded from bytes reads (the C model's own reference does not). */
struct dl_wrap {
	DLManagedTensor mt;       /* what the consumer sees */
	DLManagedTensor *inner;   /* tsl_tensor_to_dlpack's */
	PyObject *model;
};

static void dl_wrap_deleter(DLManagedTensor *mt)
{
	struct dl_wrap *w = (struct dl_wrap *)mt;
	PyGILState_STATE g;

	w->inner->deleter(w->inner);
	if (Py_IsInitialized()) {
		/* consumers may call the deleter from any thread */
		g = PyGILState_Ensure();
		Py_DECREF(w->model);
		PyGILState_Release(g);
	}
	free(w);
}

static PyObject *Tensor_dlpack(PyObject *o, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "stream", NULL };
	TensorObject *self = (TensorObject *)o;
	PyObject *stream = Py_None, *cap;
	DLManagedTensor *mt;
	tsl_error e;
	int rc;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|$O:__dlpack__", kwlist,
		&stream))
		return NULL;
	if (tensor_check(self) < 0)
		return NULL;
	model_pin(self->model);
	Py_BEGIN_ALLOW_THREADS
	rc = tsl_tensor_to_dlpack(self->t, &mt, &e);
	Py_END_ALLOW_THREADS
	model_unpin(self->model);
	if (rc != TSL_OK)
		return raise_tsl(rc, &e);
	{
		struct dl_wrap *w = malloc(sizeof *w);

		if (!w) {
			mt->deleter(mt);
			return PyErr_NoMemory();
		}
		w->mt = *mt;
		w->mt.manager_ctx = w;
		w->mt.deleter = dl_wrap_deleter;
		w->inner = mt;
		w->model = Py_NewRef((PyObject *)self->model);
		mt = &w->mt;
	}
	cap = PyCapsule_New(mt, "dltensor", dlpack_capsule_destructor);
	if (!cap)
		mt->deleter(mt);
	return cap;
}

static PyObject *Tensor_dlpack_device(PyObject *o, PyObject *unused)
{
	TensorObject *self = (TensorObject *)o;
	const char *dev;
	long idx = 0;

	if (tensor_check(self) < 0)
		return NULL;
	dev = tsl_tensor_device(self->t);
	if (!dev || strcmp(dev, "cpu") == 0)
		return Py_BuildValue("(ii)", (int)kDLCPU, 0);
	if (strncmp(dev, "cuda", 4) == 0) {
		if (dev[4] == ':')
			idx = strtol(dev + 5, NULL, 10);
		return Py_BuildValue("(il)", (int)kDLCUDA, idx);
	}
	PyErr_SetString(PyExc_BufferError,
		"the tensor's device has no DLPack device type");
	return NULL;
}

/* numpy, imported on first use (numpy.asarray needs no import here). */
static PyObject *numpy_mod;

static PyObject *np_call(const char *fn, const char *fmt, ...)
{
	PyObject *f, *args, *r;
	va_list ap;

	if (!numpy_mod && !(numpy_mod = PyImport_ImportModule("numpy")))
		return NULL;
	if (!(f = PyObject_GetAttrString(numpy_mod, fn)))
		return NULL;
	va_start(ap, fmt);
	args = Py_VaBuildValue(fmt, ap);
	va_end(ap);
	if (!args) {
		Py_DECREF(f);
		return NULL;
	}
	r = PyObject_CallObject(f, args);
	Py_DECREF(args);
	Py_DECREF(f);
	return r;
}

/* obj.name() or obj.name(arg); steals arg (which may be NULL after a
 * failed allocation: then fails). */
static PyObject *call_method(PyObject *obj, const char *name, PyObject *arg,
	int has_arg)
{
	PyObject *m, *r;

	if (has_arg && !arg)
		return NULL;
	if (!(m = PyObject_GetAttrString(obj, name))) {
		Py_XDECREF(arg);
		return NULL;
	}
	r = PyObject_CallFunctionObjArgs(m, arg, NULL);
	Py_DECREF(m);
	Py_XDECREF(arg);
	return r;
}

/* The numpy dtype string of the array numpy() makes for `d`: the buffer
 * format (raw unsigned bits for the types numpy lacks), complex as numpy
 * spells it. */
static const char *np_type_of(tsl_dtype d)
{
	const char *fmt = dtype_format(d);

	if (fmt && strcmp(fmt, "Zf") == 0)
		return "F";
	if (fmt && strcmp(fmt, "Zd") == 0)
		return "D";
	return fmt;
}

/* A new C-contiguous numpy array of the tensor's elements gathered as `to`
 * (tsl_tensor_gather, without the GIL).  The caller holds the model pinned
 * (numpy's calls run Python code, which may close it).  A packed dtype
 * (quint4x2, quint2x4) copied as itself comes as its packed bytes, 1-d. */
static PyObject *gather_array(TensorObject *self, tsl_dtype to)
{
	const char *type = np_type_of(to);
	PyObject *shape, *arr;
	Py_buffer b;
	uint64_t size;
	tsl_error e;
	int rc;

	if (!type) {
		PyErr_Format(PyExc_NotImplementedError, "dtype %s has no numpy "
			"type", tsl_dtype_name(to));
		return NULL;
	}
	if ((rc = tsl_tensor_gather_size(self->t, to, &size, &e)) != TSL_OK)
		return raise_tsl(rc, &e);
	if (!(shape = i64_tuple(tsl_tensor_ndim(self->t),
		tsl_tensor_shape(self->t))))
		return NULL;
	arr = np_call("empty", "(Os)", shape, type);
	Py_DECREF(shape);
	if (!arr)
		return NULL;
	if (PyObject_GetBuffer(arr, &b, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS)
		< 0)
		goto fail;
	if ((uint64_t)b.len != size) {
		/* packed: its bytes, not one per element */
		PyBuffer_Release(&b);
		Py_DECREF(arr);
		if (size > (uint64_t)PY_SSIZE_T_MAX)
			return PyErr_NoMemory();
		if (!(arr = np_call("empty", "(ns)", (Py_ssize_t)size, "B")))
			return NULL;
		if (PyObject_GetBuffer(arr, &b, PyBUF_WRITABLE |
			PyBUF_C_CONTIGUOUS) < 0)
			goto fail;
	}
	Py_BEGIN_ALLOW_THREADS
	rc = tsl_tensor_gather(self->t, to, b.buf, (size_t)b.len, &e);
	Py_END_ALLOW_THREADS
	PyBuffer_Release(&b);
	if (rc != TSL_OK) {
		Py_DECREF(arr);
		return raise_tsl(rc, &e);
	}
	return arr;
fail:
	Py_DECREF(arr);
	return NULL;
}

/* numpy(dtype=None): a writable C-contiguous copy, made by the C gather.
 * dtype=None keeps the view's type (raw bits for the types numpy lacks).
 * A dtype converts: float32, float64 and int64 directly where
 * tsl_dtype_can_gather says so (float16 / bfloat16 / float8 exactly,
 * quantized tensors dequantized as torch does); other dtypes through the
 * tensor's own numpy type, or through float32 for the types numpy lacks. */
static PyObject *tensor_numpy_pinned(TensorObject *self, PyObject *dtype)
{
	static const struct { const char *name; tsl_dtype d; } direct[] = {
		{ "float32", TSL_FLOAT32 }, { "float64", TSL_FLOAT64 },
		{ "int64", TSL_INT64 } };
	PyObject *npdt, *name, *arr, *r, *meth, *targs, *tkw;
	const char *s;
	tsl_dtype d;
	size_t i;

	if (tsl_tensor_layout(self->t) != TSL_LAYOUT_STRIDED) {
		PyErr_SetString(PyExc_TypeError, "a sparse tensor has no "
			"array: use Tensor.sparse (indices, values)");
		return NULL;
	}
	d = tsl_tensor_dtype(self->t);
	if (dtype == Py_None)
		return gather_array(self, d);
	if (!(npdt = np_call("dtype", "(O)", dtype)))
		return NULL;
	name = PyObject_GetAttrString(npdt, "name");
	s = name ? PyUnicode_AsUTF8AndSize(name, NULL) : NULL;
	if (!s) {
		Py_XDECREF(name);
		Py_DECREF(npdt);
		return NULL;
	}
	for (i = 0; i < sizeof direct / sizeof direct[0]; i++)
		if (strcmp(s, direct[i].name) == 0 &&
			tsl_dtype_can_gather(d, direct[i].d))
			break;
	Py_DECREF(name);
	if (i < sizeof direct / sizeof direct[0]) {
		Py_DECREF(npdt);
		return gather_array(self, direct[i].d);
	}
	if (dtype_native(d)) {
		arr = gather_array(self, d);
	} else if (tsl_dtype_can_gather(d, TSL_FLOAT32)) {
		arr = gather_array(self, TSL_FLOAT32);
	} else {
		PyErr_Format(PyExc_NotImplementedError, "converting %s to "
			"another dtype is not supported (numpy() with no dtype "
			"gives the raw bits)", tsl_dtype_name(d));
		arr = NULL;
	}
	if (!arr) {
		Py_DECREF(npdt);
		return NULL;
	}
	/* arr is ours: astype(dtype, copy=False) converts it at most once */
	meth = PyObject_GetAttrString(arr, "astype");
	targs = PyTuple_Pack(1, npdt);
	tkw = Py_BuildValue("{s:O}", "copy", Py_False);
	r = meth && targs && tkw ? PyObject_Call(meth, targs, tkw) : NULL;
	Py_XDECREF(meth);
	Py_XDECREF(targs);
	Py_XDECREF(tkw);
	Py_DECREF(npdt);
	Py_DECREF(arr);
	return r;
}

static PyObject *Tensor_numpy(PyObject *o, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "dtype", NULL };
	TensorObject *self = (TensorObject *)o;
	PyObject *dtype = Py_None, *r;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:numpy", kwlist, &dtype))
		return NULL;
	/* pinned throughout: numpy.dtype(dtype) and numpy's own calls run
	 * Python code, which may close the model */
	if (model_enter(self->model) < 0)
		return NULL;
	r = tensor_numpy_pinned(self, dtype);
	model_unpin(self->model);
	return r;
}

/* __array__: numpy asks for it only when the buffer protocol failed, and
 * swallows that failure (it would make a 0-d object array of the tensor).
 * Ask for the buffer again through a memoryview so that its error (closed
 * model, unreadable record...) reaches the caller. */
static PyObject *Tensor_array(PyObject *o, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "dtype", "copy", NULL };
	PyObject *dtype = Py_None, *copy = Py_None, *mv, *r;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|OO:__array__", kwlist,
		&dtype, &copy))
		return NULL;
	if (!(mv = PyMemoryView_FromObject(o)))
		return NULL;
	r = np_call("asarray", "(OO)", mv, dtype);
	Py_DECREF(mv);
	return r;
}

static PyObject *Tensor_repr(PyObject *o)
{
	TensorObject *self = (TensorObject *)o;
	PyObject *shape, *r, *dev = NULL;

	if (self->model->closed || !self->model->m)
		return PyUnicode_FromString("<tsload.Tensor (closed)>");
	model_pin(self->model);
	r = NULL;
	if (!(dev = str_from(tsl_tensor_device(self->t))))
		goto out;
	if (!(shape = i64_tuple(tsl_tensor_ndim(self->t),
		tsl_tensor_shape(self->t)))) {
		Py_DECREF(dev);
		goto out;
	}
	r = PyUnicode_FromFormat("<tsload.Tensor %s%R %S>",
		tsl_dtype_name(tsl_tensor_dtype(self->t)), shape, dev);
	Py_DECREF(dev);
	Py_DECREF(shape);
out:
	model_unpin(self->model);
	return r;
}

static PyMethodDef Tensor_methods[] = {
	{ "numpy", (PyCFunction)(void (*)(void))Tensor_numpy,
	  METH_VARARGS | METH_KEYWORDS,
	  "numpy(dtype=None) -> a writable C-contiguous copy (needs numpy)" },
	{ "__dlpack__", (PyCFunction)(void (*)(void))Tensor_dlpack,
	  METH_VARARGS | METH_KEYWORDS,
	  "__dlpack__(stream=None) -> a 'dltensor' capsule (zero-copy, "
	  "read-only memory)" },
	{ "__array__", (PyCFunction)(void (*)(void))Tensor_array,
	  METH_VARARGS | METH_KEYWORDS,
	  "__array__(dtype=None): numpy.asarray's fallback; raises the "
	  "buffer's error" },
	{ "__dlpack_device__", Tensor_dlpack_device, METH_NOARGS,
	  "(device type, device index) as DLPack numbers them" },
	{ NULL, NULL, 0, NULL }
};

static PyGetSetDef Tensor_getset[] = {
	{ "dtype", Tensor_get_dtype, NULL, "dtype name (\"float32\"...)", NULL },
	{ "shape", Tensor_get_shape, NULL, "sizes, a tuple", NULL },
	{ "stride", Tensor_get_stride, NULL, "strides in elements", NULL },
	{ "storage_offset", Tensor_get_storage_offset, NULL,
	  "offset into the storage, in elements", NULL },
	{ "device", Tensor_get_device, NULL, "device after map_location",
	  NULL },
	{ "saved_device", Tensor_get_saved_device, NULL,
	  "device it was saved on", NULL },
	{ "requires_grad", Tensor_get_requires_grad, NULL, NULL, NULL },
	{ "layout", Tensor_get_layout, NULL, "\"strided\" or \"sparse_coo\"",
	  NULL },
	{ "numel", Tensor_get_numel, NULL, "number of elements", NULL },
	{ "itemsize", Tensor_get_itemsize, NULL, "bytes per element", NULL },
	{ "quantization", Tensor_get_quant, NULL, "None, or a dict with "
	  "qscheme and scale/zero_point or scales/zero_points/axis", NULL },
	{ "sparse", Tensor_get_sparse, NULL, "(indices, values) of a sparse "
	  "COO tensor, else None", NULL },
	{ "safetensors_dtype", Tensor_get_safetensors_dtype, NULL,
	  "the dtype as safetensors spells it (\"F32\", \"BF16\"...), or "
	  "None where safetensors has none", NULL },
	{ "numpy_typestr", Tensor_get_numpy_typestr, NULL,
	  "numpy's typestr of the dtype (\"<f4\"...), or None where numpy "
	  "has none (bfloat16, float8, quantized)", NULL },
	{ "is_native", Tensor_get_is_native, NULL, "whether numpy.asarray "
	  "gives the dtype itself (else its raw bits as unsigned integers)",
	  NULL },
	{ NULL, NULL, NULL, NULL, NULL }
};

static PyType_Slot Tensor_slots[] = {
	{ Py_tp_dealloc, Wrapper_dealloc },
	{ Py_tp_methods, Tensor_methods },
	{ Py_tp_getset, Tensor_getset },
	{ Py_tp_repr, Tensor_repr },
	{ Py_bf_getbuffer, Tensor_getbuffer },
	{ Py_bf_releasebuffer, Tensor_releasebuffer },
	{ Py_tp_doc, "A tensor of a tsload.Model: numpy.asarray(t) is a "
	  "read-only zero-copy view." },
	{ 0, NULL }
};

static PyType_Spec Tensor_spec = {
	"tsload.Tensor", sizeof(TensorObject), 0,
	Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
	Tensor_slots
};

/* ------------------------------------------------------------------------ */
/* tsload.load and tsload.detect                                             */
/* ------------------------------------------------------------------------ */

/* The descriptor of a file object whose bytes from the start are the file
 * behind it: an io.FileIO, or an io.BufferedReader / BufferedRandom over
 * one, at position 0.  -1 (no exception) for anything else, whose read()
 * is what torch.jit.load reads: gzip, bz2 and lzma files report the
 * compressed file's descriptor, and a file read from a later position
 * holds the archive from there.  -2 with an exception set. */
static int plain_file_fd(PyObject *f)
{
	static PyObject *types;   /* (FileIO, BufferedReader, BufferedRandom) */
	PyObject *x;
	long pos;
	int fd;

	if (!types) {
		PyObject *io = PyImport_ImportModule("io");

		if (!io)
			return -2;
		types = Py_BuildValue("(NNN)",
			PyObject_GetAttrString(io, "FileIO"),
			PyObject_GetAttrString(io, "BufferedReader"),
			PyObject_GetAttrString(io, "BufferedRandom"));
		Py_DECREF(io);
		if (!types)
			return -2;
	}
	switch (PyObject_IsInstance(f, types)) {
	case 0:
		return -1;
	case 1:
		break;
	default:
		return -2;
	}
	if (!(x = call_method(f, "tell", NULL, 0)))
		goto not_plain;
	pos = PyLong_AsLong(x);
	Py_DECREF(x);
	if (pos == -1 && PyErr_Occurred())
		goto not_plain;
	if (pos != 0)
		return -1;
	if (!(x = call_method(f, "fileno", NULL, 0)))
		goto not_plain;
	fd = (int)PyLong_AsLong(x);
	Py_DECREF(x);
	if (fd < 0) {
		if (PyErr_Occurred())
			goto not_plain;
		return -1;
	}
	return fd;
not_plain:
	/* an unseekable stream, a detached file: read() decides */
	PyErr_Clear();
	return -1;
}

/* Open the archive from what `f` is: a path (str or os.PathLike), bytes
 * (borrowed zero-copy), another buffer object (copied into bytes: it could
 * change), or a file object (a plain file at position 0 through its
 * descriptor, plain_file_fd; else its read() into bytes). */
static int open_source(ModelObject *model, PyObject *f,
	const tsl_options *opts, tsl_archive **ar, tsl_error *e)
{
	PyObject *path = NULL;
	int rc;

	if (PyUnicode_Check(f) || PyObject_HasAttrString(f, "__fspath__")) {
		const char *p;

		if (!PyUnicode_FSConverter(f, &path))
			return -1;
		p = PyBytes_AsString(path);
		Py_BEGIN_ALLOW_THREADS
		rc = tsl_archive_open_path(ar, p, opts, e);
		Py_END_ALLOW_THREADS
		Py_DECREF(path);
		return rc;
	}
	if (PyObject_HasAttrString(f, "read")) {
		int fd = plain_file_fd(f);

		if (fd == -2)
			return -1;
		if (fd >= 0) {
			Py_BEGIN_ALLOW_THREADS
			rc = tsl_archive_open_fd(ar, fd, opts, e);
			Py_END_ALLOW_THREADS
			/* not a regular file (a pipe, a socket): read it */
			if (rc != TSL_EINVAL)
				return rc;
		}
		if (!(model->source = call_method(f, "read", NULL, 0)))
			return -1;
		if (!PyBytes_Check(model->source)) {
			PyErr_SetString(PyExc_TypeError,
				"the file object's read() must return bytes");
			return -1;
		}
	} else if (PyBytes_Check(f)) {
		model->source = Py_NewRef(f);
	} else if (PyObject_CheckBuffer(f)) {
		if (!(model->source = PyBytes_FromObject(f)))
			return -1;
	} else {
		PyErr_SetString(PyExc_TypeError, "tsload.load takes a path, "
			"bytes or a binary file object");
		return -1;
	}
	{
		char *buf;
		Py_ssize_t len;

		if (PyBytes_AsStringAndSize(model->source, &buf, &len) < 0)
			return -1;
		Py_BEGIN_ALLOW_THREADS
		rc = tsl_archive_open_buffer(ar, buf, (size_t)len, opts, e);
		Py_END_ALLOW_THREADS
	}
	return rc;
}

/* torch.jit.load's _extra_files: fill the given dict's keys with the
 * bytes of the files of those names that exist. */
static int fill_extra_files(ModelObject *model, PyObject *extra)
{
	PyObject *keys, *k, *it;

	if (!PyDict_Check(extra)) {
		PyErr_SetString(PyExc_TypeError, "extra_files must be a dict");
		return -1;
	}
	if (!(keys = PyDict_Keys(extra)))
		return -1;
	it = PyObject_GetIter(keys);
	Py_DECREF(keys);
	if (!it)
		return -1;
	while ((k = PyIter_Next(it))) {
		const char *name;
		tsl_archive *ar = tsl_model_archive(model->m);
		size_t idx;
		PyObject *full, *b;

		if (!PyUnicode_Check(k) || !(name = PyUnicode_AsUTF8AndSize(k,
			NULL))) {
			if (!PyErr_Occurred())
				PyErr_SetString(PyExc_TypeError,
					"extra_files keys must be str");
			Py_DECREF(k);
			Py_DECREF(it);
			return -1;
		}
		if (!(full = PyUnicode_FromFormat("extra/%U", k))) {
			Py_DECREF(k);
			Py_DECREF(it);
			return -1;
		}
		if (tsl_archive_find(ar, PyUnicode_AsUTF8AndSize(full, NULL),
			&idx) == TSL_OK) {
			b = extra_file(model, name);
			if (!b || PyDict_SetItem(extra, k, b) < 0) {
				Py_XDECREF(b);
				Py_DECREF(full);
				Py_DECREF(k);
				Py_DECREF(it);
				return -1;
			}
			Py_DECREF(b);
		}
		Py_DECREF(full);
		Py_DECREF(k);
	}
	Py_DECREF(it);
	return PyErr_Occurred() ? -1 : 0;
}

static PyObject *tsload_load(PyObject *mod, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "f", "map_location", "extra_files",
		"restore_shapes", "checkpoints", NULL };
	PyObject *f, *map_location = Py_None, *extra = Py_None, *loc = NULL;
	int restore_shapes = 0, checkpoints = 0, rc;
	tsl_options opts = TSL_OPTIONS_INIT;
	tsl_archive *ar = NULL;
	ModelObject *model;
	tsl_model *m = NULL;
	tsl_error e;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|OOpp:load", kwlist, &f,
		&map_location, &extra, &restore_shapes, &checkpoints))
		return NULL;
	if (map_location != Py_None) {
		/* a str, or anything whose str() names a device (torch.device) */
		if (!(loc = PyObject_Str(map_location)))
			return NULL;
		if (!(opts.map_location = PyUnicode_AsUTF8AndSize(loc, NULL))) {
			Py_DECREF(loc);
			return NULL;
		}
	}
	opts.restore_shapes = restore_shapes;
	if (checkpoints)
		opts.flags |= TSL_OPEN_CHECKPOINTS;
	if (!(model = model_new())) {
		Py_XDECREF(loc);
		return NULL;
	}
	model->restore_shapes = restore_shapes;
	rc = open_source(model, f, &opts, &ar, &e);
	if (rc < 0 && PyErr_Occurred())
		goto fail;
	if (rc != TSL_OK) {
		raise_tsl(rc, &e);
		goto fail;
	}
	e.code = TSL_OK;
	Py_BEGIN_ALLOW_THREADS
	rc = tsl_model_load(&m, ar, &opts, &e);
	tsl_archive_free(ar);   /* the model holds its own reference */
	Py_END_ALLOW_THREADS
	if (rc < 0) {
		raise_tsl(rc, &e);
		goto fail;
	}
	model->m = m;
	/* the warning is no status (tsl_model_load returns TSL_OK): the
	 * error record gets its code (none for a checkpoint) */
	if (e.code == TSL_WNOTRACEDINPUTS && PyErr_WarnEx(PyExc_UserWarning,
		"Cannot restore shapes as no traced inputs were stored", 1) < 0)
		goto fail;
	if (extra != Py_None && fill_extra_files(model, extra) < 0)
		goto fail;
	Py_XDECREF(loc);
	return (PyObject *)model;
fail:
	Py_XDECREF(loc);
	Py_DECREF(model);
	return NULL;
}

static PyObject *tsload_detect(PyObject *mod, PyObject *arg)
{
	PyObject *path;
	tsl_file_kind kind;
	tsl_error e;
	const char *p;
	int rc;

	if (!PyUnicode_FSConverter(arg, &path))
		return NULL;
	p = PyBytes_AsString(path);
	Py_BEGIN_ALLOW_THREADS
	rc = tsl_detect_path(p, &kind, &e);
	Py_END_ALLOW_THREADS
	Py_DECREF(path);
	if (rc != TSL_OK)
		return raise_tsl(rc, &e);
	return str_from(tsl_file_kind_name(kind));
}

static PyMethodDef tsload_methods[] = {
	{ "load", (PyCFunction)(void (*)(void))tsload_load,
	  METH_VARARGS | METH_KEYWORDS,
	  "load(f, map_location=None, extra_files=None, restore_shapes=False, "
	  "checkpoints=False) -> Model\n\n"
	  "f: a path, bytes, or a binary file object.  Reads no tensor "
	  "bytes.  Never runs pickle code." },
	{ "detect", tsload_detect, METH_O,
	  "detect(path) -> what the file is (\"torchscript\", ...)" },
	{ NULL, NULL, 0, NULL }
};

static struct PyModuleDef tsload_def = {
	PyModuleDef_HEAD_INIT, "tsload",
	"Open PyTorch TorchScript archives and torch.save checkpoints without "
	"PyTorch: lazy, zero-copy, no pickle code run.",
	-1, tsload_methods, NULL, NULL, NULL, NULL
};

static const struct {
	int status;
	const char *name;
	const char *base;    /* a builtin exception it also derives from */
} error_classes[] = {
	{ TSL_EINVAL, "InvalidArgumentError", "ValueError" },
	{ TSL_ENOMEM, "OutOfMemoryError", "MemoryError" },
	{ TSL_EIO, "ReadError", "OSError" },
	{ TSL_EFORMAT, "FormatError", NULL },
	{ TSL_ENOTFOUND, "NotFoundError", "FileNotFoundError" },
	{ TSL_ELIMIT, "LimitError", NULL },
	{ TSL_EUNSUPPORTED, "UnsupportedError", NULL },
	{ TSL_EVERSION, "VersionError", NULL },
	{ TSL_ENOTTORCHSCRIPT, "NotTorchScriptError", NULL },
	{ TSL_EDEVICE, "DeviceError", NULL },
	{ TSL_EUNSAFE, "UnsafeError", NULL },
};

static int add_error(PyObject *m, PyObject *builtins, const char *name,
	const char *base, PyObject **out)
{
	PyObject *bases, *cls;
	char full[64];

	snprintf(full, sizeof full, "tsload.%s", name);
	if (base) {
		PyObject *b = PyObject_GetAttrString(builtins, base);

		if (!b)
			return -1;
		bases = PyTuple_Pack(2, Error, b);
		Py_DECREF(b);
	} else {
		bases = PyTuple_Pack(1, Error);
	}
	if (!bases)
		return -1;
	cls = PyErr_NewException(full, bases, NULL);
	Py_DECREF(bases);
	if (!cls || PyModule_AddObjectRef(m, name, cls) < 0) {
		Py_XDECREF(cls);
		return -1;
	}
	*out = cls;
	return 0;
}

PyMODINIT_FUNC PyInit_tsload(void);
PyMODINIT_FUNC PyInit_tsload(void)
{
	PyObject *m = PyModule_Create(&tsload_def), *builtins = NULL, *types;
	size_t i;

	if (!m)
		return NULL;
	if (!(types = PyImport_ImportModule("types")))
		goto fail;
	SimpleNamespace = PyObject_GetAttrString(types, "SimpleNamespace");
	Py_DECREF(types);
	if (!SimpleNamespace)
		goto fail;
	if (!(Model_Type = (PyTypeObject *)PyType_FromSpec(&Model_spec)) ||
		!(Tensor_Type = (PyTypeObject *)PyType_FromSpec(&Tensor_spec)) ||
		!(Module_Type = (PyTypeObject *)PyType_FromSpec(&Module_spec)) ||
		!(Entry_Type = PyStructSequence_NewType(&entry_desc)))
		goto fail;
	if (PyModule_AddObjectRef(m, "Model", (PyObject *)Model_Type) < 0 ||
		PyModule_AddObjectRef(m, "Tensor", (PyObject *)Tensor_Type) < 0 ||
		PyModule_AddObjectRef(m, "Module", (PyObject *)Module_Type) < 0 ||
		PyModule_AddObjectRef(m, "TensorEntry", (PyObject *)Entry_Type)
		< 0)
		goto fail;
	if (!(Error = PyErr_NewExceptionWithDoc("tsload.Error",
		"A tsload failure: .status (\"TSL_EFORMAT\"...), .record, "
		".offset (None when unknown), .message", NULL, NULL)) ||
		PyModule_AddObjectRef(m, "Error", Error) < 0)
		goto fail;
	if (!(builtins = PyImport_ImportModule("builtins")))
		goto fail;
	for (i = 0; i < sizeof error_classes / sizeof error_classes[0]; i++)
		if (add_error(m, builtins, error_classes[i].name,
			error_classes[i].base,
			&status_errors[-error_classes[i].status]) < 0)
			goto fail;
	if (add_error(m, builtins, "ClosedError", "ValueError",
		&ClosedError) < 0)
		goto fail;
	Py_DECREF(builtins);
	if (PyModule_AddStringConstant(m, "__version__", tsl_version()) < 0)
		goto fail;
	return m;
fail:
	Py_XDECREF(builtins);
	Py_DECREF(m);
	return NULL;
}
