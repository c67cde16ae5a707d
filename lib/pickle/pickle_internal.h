/*
 * pickle_internal.h - what the three files of the pickle machine share
 * (zstd's *_internal.h pattern); nothing outside lib/pickle includes it.
 *
 *   pickle_vm.c      the machine: values, stack, memo, the opcode loop,
 *                    dict keys, tsl__pickle_load
 *   pickle_global.c  the GLOBAL allow-list and what its entries do
 *                    (tensor rebuilding, typed lists, Python builtins):
 *                    the one file to review for what a pickle may call
 *   pickle_fast.c    the tensor fast path: a second reader of the same
 *                    bytes for the usual tensor pattern, falling back to
 *                    the machine (FT_GENERIC) for anything else
 *
 * Every function takes the machine (struct vm) and reports errors through
 * it (tsl__vm_fail: record and offset of the current opcode).
 */
#ifndef TSL_PICKLE_INTERNAL_H
#define TSL_PICKLE_INTERNAL_H

#include "pickle.h"

struct vm;

/* ---- pickle_vm.c: errors ---- */
/* The file offset of the current opcode (TSL_NO_OFFSET if unknown). */
TSL_INTERNAL uint64_t tsl__vm_err_offset(const struct vm *m);
/* Fail with code and a message naming the opcode and its offset. */
TSL_INTERNAL int tsl__vm_fail(struct vm *m, int code, const char *fmt, ...)
	TSL_PRINTF(3, 4);
/* Out of arena memory: TSL_ELIMIT or TSL_ENOMEM. */
TSL_INTERNAL int tsl__vm_fail_mem(struct vm *m);
/* "int", "dict", "tensor"... for messages. */
TSL_INTERNAL const char *tsl__vm_kind_name(const tsl_value *v);

/* ---- pickle_vm.c: values (in the arena; NULL when it is full) ---- */
TSL_INTERNAL tsl_value *tsl__vm_new_value(struct vm *m, int kind);
/* Give a transient value (an argument tuple nothing else reaches) back. */
TSL_INTERNAL void tsl__vm_recycle(struct vm *m, tsl_value *v, int depth);
TSL_INTERNAL tsl_value *tsl__vm_new_int(struct vm *m, int64_t i);
TSL_INTERNAL tsl_value *tsl__vm_new_str(struct vm *m, int kind,
	const void *s, size_t n);
/* A new LIST/TUPLE/DICT from n items (n/2 entries for a dict). */
TSL_INTERNAL int tsl__vm_new_seq(struct vm *m, int kind, tsl_value **items,
	size_t n, tsl_value **out);

/* ---- pickle_vm.c: stack and memo ---- */
TSL_INTERNAL int tsl__vm_push_slow(struct vm *m, tsl_value *v);
/* The stack index above the innermost open MARK. */
TSL_INTERNAL size_t tsl__vm_stack_floor(const struct vm *m);
/* Set memo slot idx to a value or a tagged entry (MEMO_*). */
TSL_INTERNAL int tsl__vm_memo_set(struct vm *m, uint64_t idx,
	uintptr_t entry);
/* The value of memo slot idx, made from a tagged entry when needed. */
TSL_INTERNAL tsl_value *tsl__vm_memo_value(struct vm *m, size_t idx);
/* The caller's make_storage for a BINPERSID. */
TSL_INTERNAL int tsl__vm_make_storage(struct vm *m, int dtype,
	const char *key, const char *location, uint64_t numel,
	struct tsl_storage **out);

/* ---- pickle_global.c ---- */
/* GLOBAL mod name: an allowed entry's placeholder or value is pushed;
 * anything else is TSL_EUNSAFE. */
TSL_INTERNAL int tsl__vm_global(struct vm *m, const char *mod, size_t mlen,
	const char *name, size_t nlen);
/* A GLOBAL placeholder (NULL: out of arena memory). */
TSL_INTERNAL tsl_value *tsl__vm_new_global(struct vm *m, int action,
	const char *mod, size_t mlen, const char *name, size_t nlen);
/* REDUCE / NEWOBJ (build false) or BUILD (true) on placeholder g. */
TSL_INTERNAL int tsl__vm_apply(struct vm *m, tsl_value *g, tsl_value *arg,
	bool build);
TSL_INTERNAL int tsl__vm_want_int(struct vm *m, const tsl_value *v,
	const char *what, int64_t *out);
/* A view's sizes, strides and offset fit (m NULL: no message, 1). */
TSL_INTERNAL int tsl__vm_check_view(struct vm *m, const int64_t *shape,
	const int64_t *stride, uint32_t n, int64_t off);
/* Push a rebuilt tensor as a value (and tell the caller, tensor_made). */
TSL_INTERNAL int tsl__vm_push_tensor(struct vm *m, struct tsl_tensor *t);

/* ---- pickle_fast.c ---- */
/* At a MARK that may open a tensor: TSL_OK when the fast path read it,
 * FT_GENERIC when the machine must, or an error. */
TSL_INTERNAL int tsl__vm_fast_tensor(struct vm *m);

#endif
