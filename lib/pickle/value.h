/*
 * value.h - the value model: what the pickle machine produces and what the
 * module tree and the public tsl_value API read.  All values live in the
 * model's arena.  Depends on common only.
 *
 * Layering: the pickle machine builds values; it knows nothing of zip
 * records or modules.  A tensor's storage is an opaque pointer returned by
 * the caller's make_storage callback (see pickle.h), so storages belong to
 * the layer that knows records.
 */
#ifndef TSL_VALUE_H
#define TSL_VALUE_H

#include "../common/common.h"

/* Internal kinds extend the public tsl_value_kind. */
enum {
	TSL__VALUE_GLOBAL = 100, /* a GLOBAL placeholder before BUILD/REDUCE */
	TSL__VALUE_STORAGE,      /* a BINPERSID result: u.storage */
	TSL__VALUE_MARK          /* internal to the VM stack */
};

/* tsl_value.flags (9 bits): every bit of every layer is claimed here, so
 * that none is used twice (the static assertion below).  Bits 0x001 and
 * 0x010-0x100 are the pickle machine's; 0x002-0x008 are set by the module
 * layer (lib/module) while it converts the values. */
#define TSL__VF_TENSOR_ID 0x001u  /* INT: an index into the tensor table
                                     (build_tensor_from_id, __main__ TensorID) */
#define TSL__VFLAG_VISITING 0x002u /* module layer: being converted */
#define TSL__VFLAG_DONE 0x004u     /* module layer: converted */
#define TSL__VFLAG_GETSTATE 0x008u /* module layer: OBJECT whose state is
                                       opaque (__getstate__) */
#define TSL__VF_MEMO 0x010u       /* VM bookkeeping: reachable from the memo (or
                                     duplicated): never recycled */
#define TSL__VF_VM 0x020u         /* container made by the pickle machine: */
#define TSL__VF_HAS_OBJ 0x040u    /* ...holds an OBJECT/ENUM somewhere inside */
#define TSL__VF_TRACKED 0x080u    /* VM bookkeeping: a dict to deduplicate at STOP */
#define TSL__VF_INNER 0x100u      /* VM bookkeeping: the value is an item of
                                     a container (it can no longer change) */

/* disjoint: their sum is their union (no bit is counted twice) */
#define TSL__VF_ALL(op) (TSL__VF_TENSOR_ID op TSL__VF_MEMO op TSL__VF_VM op \
	TSL__VF_HAS_OBJ op TSL__VF_TRACKED op TSL__VF_INNER op \
	TSL__VFLAG_VISITING op TSL__VFLAG_DONE op TSL__VFLAG_GETSTATE)
_Static_assert(TSL__VF_ALL(+) == TSL__VF_ALL(|) && TSL__VF_ALL(|) <= 0x1ffu,
	"tsl_value.flags bits overlap or do not fit in 9 bits");
_Static_assert(TSL__VALUE_MARK < 128, "a value kind does not fit in 7 bits");

struct tsl_storage;  /* defined by lib/storage */
struct cls_slot;     /* defined by lib/module */
struct tsl_legacy_module;

typedef struct tsl_value tsl_value;

/*
 * A module: the payload of a MODULE value (tsl_value.u.mod), which
 * lib/module makes from an OBJECT value whose class is a Module (so a
 * ModuleList of 10,000 Linear has no module records beside its values).
 * Its type is its class's name (slot->qname: the pickled type string), its
 * attribute names, types and kinds are its class's, the values its own.
 * Defined here, as its value's layout; only lib/module reads it.
 */
struct tsl_module {
	struct cls_slot *slot;    /* the class (shared); NULL: a module of a
	                             legacy archive (legacy below) */
	tsl_value *state;         /* where u.obj.state was: the slot dict, the
	                             __getstate__ value, or NULL when vals
	                             holds the values */
	union {
		tsl_value **vals;     /* values by slot, or NULL: read in place
		                         from the state dict (in slot order).
		                         Always set when state is NULL: the
		                         pickle machine recycled the dict once
		                         the module was made (object_built) */
		struct tsl_legacy_module *legacy; /* slot NULL: its type,
		                         attributes and methods */
	};
};

/* A tensor description (metadata only).  24 bytes, kept inside its
 * TENSOR value (tsl_value.u.t: a 20,000-tensor model saves a 32-byte
 * record per tensor): the small fields share the first 8 (the rank fits
 * 16 bits: max_rank is at most 65,535), the storage offset, sizes and
 * strides are one block that tensors of the same geometry share (the
 * weights and biases of repeated layers mostly do), what only quantized
 * and sparse tensors have is found through that block (tsl__text), and the
 * model is found from the storage (tsl__storage_model), not kept here.
 * A tensor never moves: other tensors, walks and callers keep pointers to
 * it, and TENSOR values are never recycled or copied. */
struct tsl_tensor {
	uint8_t dtype;             /* tsl_dtype */
	uint8_t requires_grad;
	uint8_t layout;            /* tsl_layout */
	int8_t qscheme;            /* tsl_qscheme, TSL_QSCHEME_NONE if plain */
	uint8_t conj : 1, neg : 1;
	uint8_t checked : 1;       /* the model layer checked it against its
	                              storage */
	uint8_t has_ext : 1;       /* quantized or sparse: the slot before geom
	                              points at its tsl_tensor_ext */
	uint16_t ndim;
	const int64_t *geom;       /* tsl__geom_len(ndim) values: the storage
	                              offset, ndim sizes, ndim strides (one
	                              size and stride slot even for ndim 0);
	                              arena memory, possibly shared (never
	                              with has_ext), never written once the
	                              tensor is made; NULL only in a TENSOR
	                              value that holds no tensor */
	struct tsl_storage *storage;  /* NULL for sparse */
};
_Static_assert(sizeof(struct tsl_tensor) == 24, "tsl_tensor grew");

/* 32 bytes (a 20,000-tensor model has 50,000 values): kind and flags share
 * 16 bits, and the nesting height fits 16 as max_depth is at most 16,383
 * (TSL_MAX_DEPTH_CAP, tsl__limits_from_options). */
struct tsl_value {
	uint16_t kind : 7;   /* tsl_value_kind or TSL__VALUE_* */
	uint16_t flags : 9;  /* TSL__VF_* */
	uint16_t depth;  /* nesting height: 0 for scalars, 1 + the deepest item
	                    for containers, objects and enums (<= max_depth);
	                    a walker may recurse this deep */
	uint32_t len;    /* items (list/tuple/dict entries), string bytes */
	union {
		int b;
		int64_t i;
		double f;
		double c[2];                   /* complex re, im */
		const char *s;                 /* STRING, BYTES, DEVICE: NUL-terminated, len bytes */
		struct {
			tsl_value **items;     /* LIST, TUPLE: len items; DICT: 2*len (key, value) */
			uint32_t cap;          /* capacity in items (VM growth) */
			const char *type_tag;  /* restore_type_tag / build_*list, or NULL */
		} seq;
		struct {
			const char *type;      /* qualified name "__torch__.a.B" */
			tsl_value *state;      /* the pickled state (BUILD argument) */
		} obj;                         /* OBJECT */
		struct tsl_module mod;         /* MODULE (lib/module) */
		struct {
			const char *type;
			tsl_value *value;      /* the REDUCE argument */
			const char *name;      /* member name, filled by lib/module from code/ */
		} enm;                         /* ENUM */
		struct tsl_tensor t;           /* TENSOR: the tensor itself
		                                  (tsl__vtensor) */
		struct {
			struct tsl_storage *storage;
			int dtype;
		} st;                          /* TSL__VALUE_STORAGE */
		struct {
			int action;            /* TSL__G_* */
			const char *module;
			const char *name;
		} global;                      /* TSL__VALUE_GLOBAL */
	} u;
};
_Static_assert(sizeof(struct tsl_value) == 32, "tsl_value grew");
_Static_assert(offsetof(struct tsl_value, u.mod.state) ==
	offsetof(struct tsl_value, u.obj.state),
	"a module's state is where its object's was");

/* The module of a MODULE value, and the value a module lives in. */
static inline struct tsl_module *tsl__vmodule(const tsl_value *v)
{
	return (struct tsl_module *)(uintptr_t)&v->u.mod;
}

static inline tsl_value *tsl__module_value(const struct tsl_module *mod)
{
	return (tsl_value *)(void *)((char *)(uintptr_t)mod -
		offsetof(tsl_value, u.mod));
}

/* What only quantized and sparse tensors have (most tensors have none:
 * kept apart, a plain tensor is 24 bytes instead of 80).  Its address is
 * in the slot before the tensor's geometry block (tsl__text). */
struct tsl_tensor_ext {
	double q_scale;
	int64_t q_zero_point;
	int64_t q_axis;
	struct tsl_tensor *q_scales;       /* per-channel */
	struct tsl_tensor *q_zero_points;
	struct tsl_tensor *sp_indices;     /* sparse COO */
	struct tsl_tensor *sp_values;
};


/* The length of a geometry block of ndim dimensions (no overflow: ndim
 * is at most 65,535). */
static inline size_t tsl__geom_len(uint32_t ndim)
{
	return 1 + 2 * (size_t)(ndim ? ndim : 1);
}

/* A tensor's geometry, read from its block (tsl_tensor.geom). */
static inline int64_t tsl__toffset(const struct tsl_tensor *t)
{
	return t->geom[0];
}

static inline const int64_t *tsl__tshape(const struct tsl_tensor *t)
{
	return t->geom + 1;
}

static inline const int64_t *tsl__tstride(const struct tsl_tensor *t)
{
	return t->geom + 1 + (t->ndim ? t->ndim : 1);
}

/* A geometry block in the arena: offset off, n sizes and n strides copied
 * from shape and stride (each may be NULL: zeros, for the caller to fill).
 * NULL when out of memory.  Every tensor maker builds its block here. */
static inline int64_t *tsl__geom_make(tsl_arena *a, int64_t off, uint32_t n,
	const int64_t *shape, const int64_t *stride)
{
	int64_t *g = tsl__arena_calloc(a, tsl__geom_len(n), sizeof *g);

	if (!g)
		return NULL;
	g[0] = off;
	if (shape && n)
		memcpy(g + 1, shape, n * sizeof *g);
	if (stride && n)
		memcpy(g + 1 + n, stride, n * sizeof *g);
	return g;
}

/* The tensor of a TENSOR value (NULL when it holds none). */
static inline struct tsl_tensor *tsl__vtensor(const tsl_value *v)
{
	return v->u.t.geom ? (struct tsl_tensor *)(uintptr_t)&v->u.t : NULL;
}

/* The TENSOR value a tensor lives in. */
static inline tsl_value *tsl__tensor_value(struct tsl_tensor *t)
{
	return (tsl_value *)(void *)((char *)t - offsetof(tsl_value, u.t));
}

/* What a quantized or sparse tensor has beyond the others; NULL for a
 * plain tensor. */
static inline struct tsl_tensor_ext *tsl__text(const struct tsl_tensor *t)
{
	struct tsl_tensor_ext *x;

	if (!t->has_ext)
		return NULL;
	memcpy(&x, t->geom - 1, sizeof x);
	return x;
}

/* Give t (whose geometry is set) a zeroed tsl_tensor_ext: its geometry
 * is copied into a block of its own that starts with the ext's address
 * (the slot before t->geom).  NULL when out of memory. */
static inline struct tsl_tensor_ext *tsl__text_attach(tsl_arena *a,
	struct tsl_tensor *t)
{
	size_t n = tsl__geom_len(t->ndim);
	struct tsl_tensor_ext *x = tsl__arena_alloc(a, sizeof *x);
	int64_t *g = x ? tsl__arena_calloc(a, 1 + n, sizeof *g) : NULL;

	if (!g)
		return NULL;
	memcpy(g, &x, sizeof x);
	memcpy(g + 1, t->geom, n * sizeof *g);
	t->geom = g + 1;
	t->has_ext = 1;
	return x;
}

#endif
