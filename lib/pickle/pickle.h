/*
 * pickle.h - the restricted pickle machine.  It interprets the TorchScript
 * pickle dialect (protocol 2, FORMAT.md section 5) and, with
 * TSL_PICKLE_PYTHON, Python's protocols 2-5 for torch.save files.  It never
 * calls anything: GLOBALs are looked up in a closed table; an unknown GLOBAL
 * is an error (TSL_EUNSAFE) unless it is a __torch__ class (object or enum).
 * Depends on common and value.h only.
 */
#ifndef TSL_PICKLE_H
#define TSL_PICKLE_H

#include "value.h"

#define TSL_PICKLE_PYTHON 0x1u  /* accept Python's wider opcode/GLOBAL set */
#define TSL_PICKLE_GENERIC 0x2u /* no tensor fast path (tests compare the two) */

typedef struct tsl_pickle_ctx {
	tsl_arena *arena;            /* all values go here */
	const tsl_limits *limits;    /* depth, memo, containers, rank */
	/*
	 * Called for each BINPERSID ("storage", dtype, key, location, numel).
	 * Returns an opaque storage (stored in the value) or NULL with err set.
	 * Called once per distinct persistent id object: memo sharing
	 * (BINGET of the BINPUT after BINPERSID) reuses the same value.
	 * key is valid during the call only (copy it to keep it); location
	 * lives in the arena.
	 */
	struct tsl_storage *(*make_storage)(void *payload, int dtype,
		const char *key, const char *location, uint64_t numel,
		tsl_error *err);
	void *payload;
	/*
	 * Optional: called for each tensor as soon as it is built (while its
	 * metadata is still in cache), e.g. to check it against its storage.
	 * Returns TSL_OK or an error code with err set.
	 */
	int (*tensor_made)(void *payload, struct tsl_tensor *t, tsl_error *err);
	/*
	 * Optional: called at each BUILD of an OBJECT whose state is a dict
	 * of at most 32 entries that nothing else can reach (made by the
	 * machine, never memoized, filled by one SETITEMS or DICT, so
	 * final), after the state is set,
	 * so that the caller can build what it keeps from the object while
	 * the state is in cache (lib/module: a module's slots).  Returning
	 * TSL_OK with *consumed set hands the state dict back: the machine
	 * recycles the dict and its items array and the object's state
	 * becomes NULL (the callee must no longer hold the dict itself; its
	 * items stay valid; a callee that made the value another kind - a
	 * module - clears the state itself).  Else returns TSL_OK, or an error code with err
	 * set (the machine adds the BUILD's offset when err has none).
	 */
	int (*object_built)(void *payload, tsl_value *obj, bool *consumed,
		tsl_error *err);
	const char *record;          /* record name, for error messages */
	uint64_t file_offset;        /* file offset of byte 0, for errors
	                                (TSL_NO_OFFSET when not known) */
	unsigned flags;              /* TSL_PICKLE_* */
	size_t *fast_tensors;        /* optional: counts the tensors read by
	                                the fast path (tests) */
} tsl_pickle_ctx;

/*
 * Run the machine over data[0..len).  On success *out is the single value
 * left on the stack.  On failure returns a TSL_E* code with err naming the
 * record and the file offset (file_offset + opcode position) and what is
 * wrong.  Allocations go to ctx->arena only (nothing to free on error but
 * the arena).
 */
TSL_INTERNAL int tsl__pickle_load(tsl_value **out, const uint8_t *data,
	size_t len, const tsl_pickle_ctx *ctx, tsl_error *err);

#endif
