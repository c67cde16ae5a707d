/*
 * common.h - internal helpers shared by every part of lib/: errors, checked
 * arithmetic, little/big-endian loads, the metadata arena, limits.
 * Depends on nothing but the public header.
 */
#ifndef TSL_COMMON_H
#define TSL_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tsload.h"

#define TSL_INTERNAL __attribute__((visibility("hidden")))
#define TSL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define TSL_NO_OFFSET UINT64_MAX

/* The one formatter behind every error of lib/: fill err (if not NULL)
 * with code, record (may be NULL), offset, and the message: prefix (may be
 * NULL; a layer's context, "line 3: ") then fmt formatted with ap, cut to
 * the message's 255 bytes.  Returns code. */
TSL_INTERNAL int tsl__error_va(tsl_error *err, int code, const char *record,
	uint64_t offset, const char *prefix, const char *fmt, va_list ap)
	__attribute__((format(printf, 6, 0)));
/* Fill err (if not NULL) and return code.  `record` may be NULL. */
TSL_INTERNAL int tsl__error(tsl_error *err, int code, const char *record,
	uint64_t offset, const char *fmt, ...) TSL_PRINTF(5, 6);
/* As tsl__error, with errno captured into sys_errno and strerror appended. */
TSL_INTERNAL int tsl__error_sys(tsl_error *err, int code, int errnum,
	const char *record, const char *fmt, ...) TSL_PRINTF(5, 6);
/* Clear err to "no error". */
TSL_INTERNAL void tsl__error_clear(tsl_error *err);
/* Name the record of an error found below the layer that knows it (a
 * failed read of the source): sets err->record when it is empty. */
TSL_INTERNAL void tsl__error_name_record(tsl_error *err, const char *record);

/* Checked arithmetic: return true on overflow. */
static inline bool tsl__add_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	return __builtin_add_overflow(a, b, out);
}
static inline bool tsl__mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	return __builtin_mul_overflow(a, b, out);
}
static inline bool tsl__add_i64(int64_t a, int64_t b, int64_t *out)
{
	return __builtin_add_overflow(a, b, out);
}
static inline bool tsl__mul_i64(int64_t a, int64_t b, int64_t *out)
{
	return __builtin_mul_overflow(a, b, out);
}
/* true when [off, off+len) does not fit in [0, size) */
static inline bool tsl__out_of_bounds(uint64_t off, uint64_t len, uint64_t size)
{
	return off > size || len > size - off;
}

static inline uint16_t tsl__le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t tsl__le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
		((uint32_t)p[3] << 24);
}
static inline uint64_t tsl__le64(const uint8_t *p)
{
	return (uint64_t)tsl__le32(p) | ((uint64_t)tsl__le32(p + 4) << 32);
}
static inline void tsl__put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static inline void tsl__put_le32(uint8_t *p, uint32_t v)
{
	tsl__put_le16(p, (uint16_t)v);
	tsl__put_le16(p + 2, (uint16_t)(v >> 16));
}
/* v in decimal at out (at most 20 bytes, no NUL); returns the length.
 * For names made on the load path, where snprintf would fault in libc's
 * printf code (lib/backend/backend.c). */
static inline size_t tsl__put_dec(char *out, uint64_t v)
{
	char dig[20];
	size_t k = 0, n = 0;

	do
		dig[k++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (k)
		out[n++] = dig[--k];
	return n;
}
static inline uint64_t tsl__be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/*
 * dtype facts (dtype.c holds the one table).  Each takes any int; for a
 * value that is no tsl_dtype: NULL, 0, false or -1.  The strings are
 * static.
 */
/* "Float" for TSL_FLOAT32: the class name torch.<X>Storage, without
 * "Storage". */
TSL_INTERNAL const char *tsl__dtype_storage_name(int dtype);
/* Width of the units a big-endian archive's bytes are swapped in: the
 * element size, or half of it for complex types. */
TSL_INTERNAL size_t tsl__dtype_swap_width(int dtype);
/* Bits of one element of a sub-byte dtype, packed in bytes the way
 * PyTorch packs them (element i in byte i * bits / 8, from the low bits):
 * 4 for quint4x2, 2 for quint2x4; 0 for every other dtype (whole bytes). */
static inline unsigned tsl__dtype_sub_byte_bits(int dtype)
{
	return dtype == TSL_QUINT4X2 ? 4 : dtype == TSL_QUINT2X4 ? 2 : 0;
}
/* DLPack type code and bits; false for a dtype DLPack cannot carry. */
TSL_INTERNAL bool tsl__dtype_dlpack(int dtype, uint8_t *code, uint8_t *bits);
/* safetensors dtype name ("F32"), NULL where safetensors has none. */
TSL_INTERNAL const char *tsl__dtype_safetensors(int dtype);
/* numpy __array_interface__ typestr ("<f4"), NULL where numpy has none. */
TSL_INTERNAL const char *tsl__dtype_numpy(int dtype);
/* The dtype of s[0..n) = "<X>Storage" (a torch Storage class), or -1. */
TSL_INTERNAL int tsl__dtype_from_storage_class(const char *s, size_t n);
/* The dtype of s[0..n) = "float32", "int64"... (torch.<name>), or -1. */
TSL_INTERNAL int tsl__dtype_from_name(const char *s, size_t n);

/* Resolved limits (defaults applied). */
typedef struct tsl_limits {
	uint64_t max_records;
	uint64_t max_record_bytes;
	uint64_t max_total_bytes;
	uint32_t max_depth;
	uint64_t max_memo;
	uint64_t max_container;
	uint64_t max_meta_bytes;
	uint32_t max_rank;
	uint8_t huge_pages; /* TSL_PAGES_*: big metadata arrays in
	                      transparent huge pages or not */
	bool no_prefault;   /* TSL_OPEN_NO_PREFAULT */
} tsl_limits;

/* max_depth above this is taken as this: a value's nesting height is kept
 * in 16 bits, and a legacy module's is up to four times its nesting. */
#define TSL_MAX_DEPTH_CAP 16383u
/* max_rank above this is taken as this (a rank is kept in 16 bits). */
#define TSL_MAX_RANK_CAP 65535u
/* Fill lim from opts (NULL = defaults).  TSL_EINVAL on a bad version. */
/* The rule behind tsl_huge_pages_auto(), apart for tests: thp_enabled is
 * the text of /sys/kernel/mm/transparent_hugepage/enabled (NULL: none),
 * reporting whether free page reporting is on, env TSL_HUGE_PAGES. */
TSL_INTERNAL int tsl__huge_pages_rule(const char *thp_enabled,
	bool reporting, const char *env);
/* Metadata pages (tsl_limits.huge_pages, tsl_arena.huge, the `huge`
 * argument of tsl__big_*): small, huge (TSL_OPEN_HUGE_PAGES), or decided
 * by tsl_huge_pages_auto() when a block of 256 KiB or more is made (so a
 * small model never asks). */
enum { TSL_PAGES_SMALL = 0, TSL_PAGES_HUGE = 1, TSL_PAGES_AUTO = 2 };
TSL_INTERNAL int tsl__limits_from_options(tsl_limits *lim,
	const tsl_options *opts, tsl_error *err);

/*
 * The arena: a bump allocator for everything parsed for one model.  No
 * per-value free; tsl__arena_free releases all at once.  Allocation counts
 * against `limit` (max_meta_bytes); exceeding it fails (NULL) and sets
 * `over_limit` so the caller can report TSL_ELIMIT rather than TSL_ENOMEM.
 */
typedef struct tsl_arena_chunk tsl_arena_chunk;
typedef struct tsl_arena {
	tsl_arena_chunk *head;
	size_t used;      /* bytes used in head */
	size_t cap;       /* capacity of head */
	size_t populated; /* bytes of head populated ahead (tsl__populate) */
	uint64_t total;   /* bytes handed out + chunk overhead */
	uint64_t limit;   /* 0 = no limit */
	size_t first;     /* size of the first chunk (tsl__arena_expect) */
	size_t pf_next;   /* publish the front to the prefault helper when
	                     used reaches this (SIZE_MAX: no helper) */
	uint8_t huge;     /* TSL_PAGES_*: chunks of 256 KiB and more in
	                     transparent huge pages; set before use */
	bool over_limit;
} tsl_arena;

/* A 64-bit mix (murmur3's finalizer): pointers and small integers hash
 * well through it. */
static inline uint64_t tsl__hash_u64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* A map from pointers (never NULL) to size_t values (never SIZE_MAX),
 * open addressing; zero-initialised it is empty.  Not thread-safe. */
typedef struct tsl_pmap {
	const void **keys;
	size_t *vals;
	size_t mask, count;
} tsl_pmap;

/* The value of key, or SIZE_MAX when absent. */
TSL_INTERNAL size_t tsl__pmap_get(const tsl_pmap *m, const void *key);
/* Insert key -> val unless present: 1 if it was present (unchanged), 0
 * inserted, -1 out of memory. */
TSL_INTERNAL int tsl__pmap_put(tsl_pmap *m, const void *key, size_t val);
TSL_INTERNAL void tsl__pmap_free(tsl_pmap *m);

TSL_INTERNAL void tsl__arena_init(tsl_arena *a, uint64_t limit);
/* Before the first allocation: about `bytes` will be needed, so the first
 * chunk is made that big (capped at 16 MiB; huge pages from 256 KiB) rather
 * than growing from 64 KiB through small-page chunks.  Only a size hint:
 * the limit still applies to what is allocated. */
TSL_INTERNAL void tsl__arena_expect(tsl_arena *a, uint64_t bytes);
/* Zeroed memory of `size` bytes aligned to 8. NULL on failure. */
TSL_INTERNAL void *tsl__arena_alloc(tsl_arena *a, size_t size);
/* n * size with overflow check. */
TSL_INTERNAL void *tsl__arena_calloc(tsl_arena *a, size_t n, size_t size);
/* A NUL-terminated copy of s[0..len). */
TSL_INTERNAL char *tsl__arena_strndup(tsl_arena *a, const char *s, size_t len);
TSL_INTERNAL void tsl__arena_free(tsl_arena *a);
/* Give back the pages of the newest chunk past what is used, which were
 * populated ahead (tsl__populate_ahead) or by the prefault helper for
 * allocations that did not come: called when a load is done, with no
 * helper running.  Later allocations fault them in again. */
TSL_INTERNAL void tsl__arena_trim(tsl_arena *a);
/* Large zeroed arrays; with `huge`, those of 256 KiB and more are in
 * transparent huge pages (see arena.c).  Free with tsl__big_free.  NULL on
 * overflow or failure. */
TSL_INTERNAL void *tsl__big_calloc(size_t n, size_t size, int huge);
/* The same for a buffer the caller fills entirely: not zeroed when it
 * comes from malloc (a decoded record: clearing it first was 3% of a
 * load).  A big one (64 KiB and more) is mapped and populated whole. */
TSL_INTERNAL void *tsl__big_alloc(size_t bytes, int huge);
TSL_INTERNAL void tsl__big_free(void *p);
/* Between these, on the calling thread, a big block freed is kept for the
 * next tsl__big_alloc instead of unmapped (see arena.c); end unmaps what is
 * still kept.  tsl_model_load brackets its work with them. */
TSL_INTERNAL void tsl__reuse_begin(void);
TSL_INTERNAL void tsl__reuse_end(void);
/* A new zeroed array of new_n items holding p's first old_n; p is freed
 * on success and kept on failure (NULL). */
TSL_INTERNAL void *tsl__big_grow(void *p, size_t old_n, size_t new_n,
	size_t size, int huge);

/*
 * Populate ahead: a block is about to be written from byte *done on (up to
 * `upto`); when that passes what was populated, populate a window further
 * in one madvise(MADV_POPULATE_WRITE) call instead of one page fault per
 * 4 KiB page, and move *done.  The window grows with the block's use: half
 * of `upto`, at least TSL_POPULATE_MIN and at most TSL_POPULATE_WINDOW
 * (capped at cap), so that at most a third of what is populated goes
 * unused: on a fresh VM a page populated and then written costs 4-6 us,
 * a faulted one 10-15 us, an unused populated page 0.5 us (bench/page_cost).
 * Nothing is populated before the use reaches TSL_POPULATE_START: a tiny
 * model's two or three pages fault in (cheaper than the calls).  Never fails:
 * on kernels without MADV_POPULATE_WRITE (before 5.14) the pages fault in
 * as before.  See doc/DESIGN.md, "Page faults".
 */
/* Populate p[0..len) now, in one call (whole pages). */
TSL_INTERNAL void tsl__populate(void *p, size_t len);
#define TSL_POPULATE_WINDOW ((size_t)256 << 10)
#define TSL_POPULATE_MIN ((size_t)8 << 10)
#define TSL_POPULATE_START ((size_t)16 << 10)
TSL_INTERNAL void tsl__populate_ahead(void *base, size_t cap, size_t *done,
	size_t upto);

/*
 * The prefault helper (prefault.c): a thread that faults in, on the other
 * core, the pages the calling thread is about to write.  Started and
 * stopped within one API call (tsl_model_load) and bound to the thread
 * that runs it: the functions below act on that thread's helper and do
 * nothing when it has none.  Work comes in lanes (TSL_PF_*), each a
 * block of memory: a forward lane is filled from its start and the helper
 * keeps between 16 and 128 KiB ahead of the front its owner publishes (so
 * a block sized by a guess is not touched far past its use); a backward
 * lane is written whole and the helper goes from its end to meet the
 * owner.  The helper only reads (see prefault.c).  Lane memory must not
 * be unmapped while in a lane: tsl__big_free and tsl__arena_free call
 * tsl__prefault_forget.
 */
enum { TSL_PF_ARENA, TSL_PF_MEMO, TSL_PF_BLOCK, TSL_PF_LANES };
typedef struct tsl_prefault tsl_prefault;
/* Started when it pays (tsl__prefault_rule) and `off` is false: expect is
 * the bytes of fresh memory the call will touch.  NULL: no helper (not
 * worth it, or it could not start: the call goes on without). */
TSL_INTERNAL tsl_prefault *tsl__prefault_begin(uint64_t expect, bool off);
/* Stop and join the helper (NULL: no-op); the pages it read. */
TSL_INTERNAL uint64_t tsl__prefault_end(tsl_prefault *pf);
/* 1 when a helper pays: TSL_PREFAULT=0 never, =1 always (where the
 * platform has one), else two usable CPUs and expect >= TSL_PREFAULT_MIN. */
TSL_INTERNAL int tsl__prefault_rule(uint64_t expect, long cpus,
	const char *env);
#define TSL_PREFAULT_MIN ((uint64_t)1 << 20)
/* A forward lane's owner publishes its front at least this often. */
#define TSL_PREFAULT_PUBLISH ((size_t)16 << 10)
/* Give the helper lane `lane` (whatever it held is dropped first): false
 * when there is no helper or the block is too small to be worth it (under
 * 256 KiB; with TSL_PREFAULT=1 every block is a lane, for tests). */
TSL_INTERNAL bool tsl__prefault_lane(int lane, void *base, size_t cap,
	bool backward);
TSL_INTERNAL void tsl__prefault_front(int lane, size_t front);
/* A forward lane's owner, at every write up to `used`: publish the front
 * once it passes *next (SIZE_MAX when the block is not a lane), then set
 * *next TSL_PREFAULT_PUBLISH further.  One compare when nothing is due. */
static inline void tsl__prefault_publish(int lane, size_t used, size_t *next)
{
	if (used >= *next) {
		tsl__prefault_front(lane, used);
		*next = used + TSL_PREFAULT_PUBLISH;
	}
}
/* Take the lane from the helper; returns once the helper is out of it. */
TSL_INTERNAL void tsl__prefault_drop(int lane);
/* Drop every lane that overlaps [p, p + len). */
TSL_INTERNAL void tsl__prefault_forget(const void *p, size_t len);
/* For tests: whether the calling thread has a helper; the pages it has
 * read so far; whether it waits for work (it found none in any lane). */
TSL_INTERNAL bool tsl__prefault_active(void);
TSL_INTERNAL uint64_t tsl__prefault_pages(void);
TSL_INTERNAL bool tsl__prefault_waiting(void);

/* Report an arena failure as TSL_ELIMIT or TSL_ENOMEM. */
TSL_INTERNAL int tsl__arena_error(const tsl_arena *a, tsl_error *err,
	const char *record, uint64_t offset);

#endif
