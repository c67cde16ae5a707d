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

struct tsl_module {
	const char *type;
	int training;             /* 1, 0, -1 unknown */
	tsl_value *value;         /* the MODULE value */
	tsl_value *state;         /* __getstate__ value, or NULL */
	const tsl_class_info *cls;
	size_t nattrs;
	tsl_attr *attrs;          /* explicit attributes (legacy archives), or
	                             NULL: then they come from cls and dict */
	tsl_value *dict;          /* the slot-dict state */
	tsl_value **vals;         /* values by slot when the dict is not in
	                             slot order, else NULL */
	size_t nmethods;
	tsl_method *methods;      /* sorted by name */
	const tsl_class_method **msrc; /* parallel to methods */
	struct tsl_model *model;
	/* methods parsed on first use, shared by the modules of a class
	 * (NULL: the fields above are final, e.g. legacy archives) */
	struct cls_slot *slot;
};

struct cls_slot {
	const char *qname;
	const tsl_class_info *info; /* NULL: no class found */
	/* the sorted method table, built for the first module of the class
	 * and shared by every module of it */
	tsl_method *methods;
	const tsl_class_method **msrc;
	size_t nmethods;
	bool methods_built;       /* atomic, set under the model's lock */
	int methods_rc;           /* the parse's failure, kept */
	tsl_error *methods_err;
	/* where the class's source is, for the lazy parse */
	const char *src;
	size_t src_len;
	const char *record;
	uint64_t src_off;
};

/* Attribute i of a module (i < nattrs). */
TSL_INTERNAL void tsl__module_attr(const struct tsl_module *mod, size_t i,
	tsl_attr *out);

/* The method table of a module after tsl__module_methods succeeded. */
TSL_INTERNAL void tsl__module_method_table(const struct tsl_module *mod,
	tsl_method **methods, const tsl_class_method ***msrc, size_t *n);

/* The methods of a module, parsed on first use (thread-safe). */
TSL_INTERNAL int tsl__module_methods(const struct tsl_module *mod,
	tsl_error *err);

struct tsl_model {
	tsl_archive *ar;
	tsl_arena arena;
	tsl_limits limits;
	const char *map_location; /* in the arena, or NULL */
	tsl_value *root_value;
	tsl_module *root;
	tsl_value *constants;
	tsl_value *traced_inputs;  /* traced_inputs.pkl, or NULL */
	/* storages by record name */
	struct tsl_storage **st_table;
	size_t st_mask, st_count;
	struct tsl_storage **st_array; /* st_count, first met first (malloc) */
	size_t st_cap;
	/* saved locations and their target devices, checked once per
	 * distinct location (the storages point here) */
	struct tsl_storage_place places[8];
	size_t nplaces;
	const char *const *remap;      /* opts->remap, during the load only */
	tsl_storage_sync sync;         /* the storages' archive and lock */
	/* class headers by qualified name */
	struct cls_slot **cls_table;   /* slots live in the arena */
	struct cls_slot *cls_last;     /* one-entry cache by name pointer */
	size_t cls_mask, cls_count;
	int owns_archive_ref;
	int refs;                 /* atomic: the caller + exported tensors */
};

/* Keep a model alive beyond tsl_model_free (DLPack exports). */
TSL_INTERNAL void tsl__model_ref(struct tsl_model *m);
TSL_INTERNAL void tsl__model_unref(struct tsl_model *m);

/* model.c: the storage of a record named in full ("tensors/0"): the same
 * record always yields the same storage.  location and the record name must
 * live in the model's arena.  TSL_OK with *out set, or an error. */
TSL_INTERNAL int tsl__model_storage(struct tsl_storage **out,
	struct tsl_model *m, const char *record, int dtype,
	const char *location, uint64_t numel, tsl_error *err);

/* legacy.c: read a legacy (1.0-1.2, model.json) archive into m (root,
 * constants, storages), after tsl_model_load's common setup. */
TSL_INTERNAL int tsl__legacy_load(struct tsl_model *m,
	const tsl_options *opts, tsl_error *err);

#define TSL__VFLAG_VISITING 0x10
#define TSL__VFLAG_DONE 0x20
#define TSL__VFLAG_GETSTATE 0x40   /* OBJECT: the state is opaque */

#endif
