/*
 * model.h - the module tree: what torch.jit.load returns, built from the
 * values of constants.pkl and data.pkl and the class headers under code/.
 * Depends on pickle (values), storage (record-backed storages), archive.
 */
#ifndef TSL_MODEL_H
#define TSL_MODEL_H

#include "../pickle/pickle.h"
#include "../storage/storage.h"
#include "class_header.h"

/* A module (struct tsl_module) lives in its MODULE value: lib/pickle/value.h.
 * A module of a legacy (model.json) archive has no class (slot NULL): its
 * explicit attributes and its own methods are here (mod->legacy). */
struct tsl_legacy_module {
	const char *type;         /* qualified name */
	int training;             /* 1, 0, -1 unknown */
	tsl_value *state;         /* __getstate__ value, or NULL */
	size_t nattrs;
	tsl_attr *attrs;          /* in slot order */
	size_t nmethods;
	tsl_method *methods;      /* sorted by name */
	const tsl_class_method **msrc; /* parallel to methods */
};

/* A class, by qualified name: its header (parsed once), and for a module
 * class what all its modules share. */
struct cls_slot {
	const char *qname;
	const tsl_class_info *info; /* NULL: no class found.  Replaced, under
	                             the model's lock, by the full parse when
	                             the methods are first asked for */
	/* for modules: fixed when the slot is made, read without a lock */
	const tsl_class_info *cls;  /* the header as first parsed: attrs */
	struct tsl_model *model;
	bool has_state;           /* __getstate__ and __setstate__: the state
	                             is opaque, the attributes have no values */
	size_t training;          /* the index of the "training" attribute,
	                             or SIZE_MAX */
	const char **keys;        /* nattrs, from the class's second module on:
	                             a key string seen at each slot (the pickle
	                             shares them), so that the slot-order check
	                             is mostly a pointer test; written during
	                             the load only */
	/* the sorted method table, built for the first module of the class
	 * and shared by every module of it */
	tsl_method *methods;
	const tsl_class_method **msrc;
	size_t nmethods;
	_Atomic bool methods_built; /* set under the model's lock */
	int methods_rc;           /* the parse's failure, kept */
	tsl_error *methods_err;
	/* where the class's source is, for the lazy parse */
	const char *src;
	size_t src_len;
	const char *record;
	uint64_t src_off;
	/* an enum class's members by value (model.c, enum_name), made on its
	 * first value during the load */
	struct enum_index *eindex;
	/* the classes of its code file when that file holds several
	 * (class_cache.c): src is then that file's, kept */
	const tsl_class_file *cfile;
};

static inline struct tsl_legacy_module *tsl__legacy_module(
	const struct tsl_module *mod)
{
	return mod->legacy;
}

static inline size_t tsl__module_nattrs(const struct tsl_module *mod)
{
	return mod->slot ? mod->slot->cls->nattrs :
		tsl__legacy_module(mod)->nattrs;
}

/* Attribute i of a module (i < nattrs). */
TSL_INTERNAL void tsl__module_attr(const struct tsl_module *mod, size_t i,
	tsl_attr *out);

/* The method table of a module after tsl__module_methods succeeded. */
TSL_INTERNAL void tsl__module_method_table(const struct tsl_module *mod,
	tsl_method **methods, const tsl_class_method ***msrc, size_t *n);

/* The methods of a module, parsed on first use (thread-safe). */
TSL_INTERNAL int tsl__module_methods(const struct tsl_module *mod,
	tsl_error *err);
/* Free the code-file indexes of class_cache.c (with the model). */
TSL_INTERNAL void tsl__code_files_free(struct tsl_model *m);

struct tsl_model {
	tsl_archive *ar;
	tsl_arena arena;
	tsl_limits limits;
	tsl_value *root_value;
	tsl_module *root;
	tsl_value *constants;
	tsl_value *traced_inputs;  /* traced_inputs.pkl, or NULL */
	tsl_storages storages;         /* the storages (lib/storage) */
	/* class headers by qualified name */
	struct cls_slot **cls_table;   /* slots live in the arena */
	struct cls_slot *cls_last;     /* one-entry cache by name pointer */
	size_t cls_mask, cls_count;
	/* code files of several classes, indexed once (class_cache.c) */
	struct code_file *code_files;
	tsl_pmap code_map;             /* XXH3 of the path | 1 -> code_file */
	int owns_archive_ref;
	_Atomic int refs;         /* the caller + exported tensors */
	_Atomic(struct tsl_tensor_index *) tindex; /* every tensor, built on
	                             first use (lib/tensor/walk.c) */
};

/* class_cache.c: the class record for a qualified name, made (and its
 * header parsed up to the first def) on first use; (*out)->info is NULL
 * when the archive has no source for the class.  Load time only. */
TSL_INTERNAL int tsl__class_get(struct tsl_model *m, const char *qname,
	struct cls_slot **out, tsl_error *err);

/* method_table.c: the method table of fns[0..nfns) (forward hooks left
 * out), sorted by name, with each method's source in the parallel
 * *out_src; an unannotated self gets self_type.  Arena memory; errors
 * name record. */
TSL_INTERNAL int tsl__method_table(tsl_arena *arena,
	const tsl_class_method *fns, size_t nfns, const char *self_type,
	const char *record, tsl_method **out,
	const tsl_class_method ***out_src, size_t *count, tsl_error *err);

/* Keep a model alive beyond tsl_model_free (DLPack exports). */
TSL_INTERNAL void tsl__model_ref(struct tsl_model *m);
/* The model a storage belongs to. */
TSL_INTERNAL struct tsl_model *tsl__storage_model(
	const struct tsl_storage *s);
TSL_INTERNAL void tsl__model_unref(struct tsl_model *m);

/* legacy.c: read a legacy (1.0-1.2, model.json) archive into m (root,
 * constants, storages), after tsl_model_load's common setup. */
TSL_INTERNAL int tsl__legacy_load(struct tsl_model *m,
	const tsl_options *opts, tsl_error *err);

/* walk.c: free the tensor list of a model (NULL: nothing). */
TSL_INTERNAL void tsl__tensor_index_free(struct tsl_tensor_index *ix);

/* TSL__VFLAG_* (the flag bits this layer sets on values) are claimed with
 * the others in lib/pickle/value.h. */

#endif
