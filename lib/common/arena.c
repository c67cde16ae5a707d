/* arena.c - bump allocator for model metadata (see common.h).
 *
 * Memory comes zeroed from the system and is never reused, so allocations
 * need no memset.  With `huge` (TSL_OPEN_HUGE_PAGES), chunks and big arrays
 * of 256 KiB and more are mapped 2 MiB-aligned and marked for transparent
 * huge pages: one fault per 2 MiB instead of one per 4 KiB.  That is off by
 * default: on VMs that hand free memory back to the host a huge page can
 * cost milliseconds to back again (doc/DESIGN.md, "Page faults").
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common.h"

struct tsl_arena_chunk {
	tsl_arena_chunk *next;
	size_t cap;
	size_t map_len;       /* the chunk is a mapping of map_len bytes */
	_Alignas(16) unsigned char data[];
};

#define ARENA_MIN_CHUNK ((size_t)64 * 1024 - sizeof(tsl_arena_chunk))
#define ARENA_MAX_CHUNK ((size_t)16 << 20)
#define HUGE_SIZE ((size_t)2 << 20)
/* From this size on, memory comes in huge pages.  Measured on the benchmark
 * machine (a VM): a 4 KiB page costs about 1.3 us to fault in or to
 * prefault with MAP_POPULATE, a 2 MiB huge page about 85 us (zeroing);
 * even at 256 KiB (64 small pages) the huge page is no dearer. */
#define HUGE_MIN ((size_t)256 << 10)
/* From this size on, big blocks are mapped rather than taken from the heap. */
#define BIG_MAP_MIN ((size_t)64 << 10)

void tsl__arena_init(tsl_arena *a, uint64_t limit)
{
	memset(a, 0, sizeof *a);
	a->limit = limit;
}

/* `bytes` (rounded up to 2 MiB, *len) of zeroed memory, 2 MiB-aligned and
 * marked for transparent huge pages: one fault per 2 MiB instead of one
 * per 4 KiB.  NULL on failure; munmap(result, *len) frees it. */
static void *huge_map(size_t bytes, size_t *len)
{
	size_t n, extra;
	uint8_t *p, *aligned;

	if (bytes > SIZE_MAX - 2 * HUGE_SIZE)
		return NULL;
	n = (bytes + HUGE_SIZE - 1) & ~(HUGE_SIZE - 1);
	p = mmap(NULL, n + HUGE_SIZE, PROT_READ | PROT_WRITE,
		MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	aligned = (uint8_t *)(((uintptr_t)p + HUGE_SIZE - 1) &
		~(uintptr_t)(HUGE_SIZE - 1));
	extra = (size_t)(aligned - p);
	if (extra)
		munmap(p, extra);
	if (HUGE_SIZE - extra)
		munmap(aligned + n, HUGE_SIZE - extra);
#ifdef MADV_HUGEPAGE
	madvise(aligned, n, MADV_HUGEPAGE);
#endif
	*len = n;
	return aligned;
}

/* Huge pages for a block of `bytes`?  TSL_PAGES_AUTO asks the rule
 * (tsl_huge_pages_auto) only here, for a block that is big enough. */
static bool want_huge(int huge, size_t bytes)
{
	if (bytes < HUGE_MIN || huge == TSL_PAGES_SMALL)
		return false;
	return huge == TSL_PAGES_HUGE || tsl_huge_pages_auto() == 1;
}

/* `bytes` of zeroed anonymous memory (*len: the mapping's length); in huge
 * pages (huge_map) when asked and big enough, else in small pages, rounded
 * to 4 KiB.  Fresh anonymous pages are zero and cost a fault only when
 * first used, unlike calloc, which clears a heap block page by page.  NULL
 * on failure; munmap(result, *len) frees it. */
static void *zero_map(size_t bytes, int huge, size_t *len)
{
	void *p;

	if (want_huge(huge, bytes))
		return huge_map(bytes, len);
	if (bytes > SIZE_MAX - 4095)
		return NULL;
	*len = (bytes + 4095) & ~(size_t)4095;
	p = mmap(NULL, *len, PROT_READ | PROT_WRITE,
		MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* A zeroed chunk able to hold cap bytes of data: mapped, so that a small
 * model touches only the pages of its 64 KiB chunk it uses (page faults
 * cost microseconds on VMs, tens of them when the memory has just been
 * handed back to the host). */
static tsl_arena_chunk *chunk_new(size_t cap, int huge)
{
	tsl_arena_chunk *c;
	size_t len;

	if (cap > SIZE_MAX - sizeof *c - HUGE_SIZE)
		return NULL;
	c = zero_map(sizeof *c + cap, huge, &len);
	if (!c)
		return NULL;
	c->cap = len - sizeof *c;
	c->map_len = len;
	return c;
}

void tsl__arena_expect(tsl_arena *a, uint64_t bytes)
{
	if (a->head)
		return;
	if (bytes > ARENA_MAX_CHUNK)
		bytes = ARENA_MAX_CHUNK;
	/* chunks count whole against the limit; past it a new chunk is cut
	 * to what the limit leaves (tsl__arena_alloc), so a hint cannot make
	 * a model fail that growing from 64 KiB would fit; a hint near the
	 * limit is dropped all the same */
	if (a->limit && bytes + sizeof(tsl_arena_chunk) + HUGE_SIZE > a->limit)
		bytes = 0;
	a->first = bytes > ARENA_MIN_CHUNK ? (size_t)bytes : 0;
}

void *tsl__arena_alloc(tsl_arena *a, size_t size)
{
	/* 8-byte granules: nothing kept here needs more, and the model's
	 * 32-byte values and storages, 8-byte pointers fit 8 exactly */
	size_t need = (size + 7) & ~(size_t)7;
	tsl_arena_chunk *c;
	size_t cap;
	uint64_t total;
	void *p;

	if (need < size)
		return NULL;
	if (!a->head || a->cap - a->used < need) {
		/* chunks grow with the arena, so big models need few of them */
		cap = a->head ? a->head->cap * 2 :
			a->first ? a->first : ARENA_MIN_CHUNK;
		if (cap > ARENA_MAX_CHUNK)
			cap = ARENA_MAX_CHUNK;
		if (cap < need)
			cap = need;
		/* near the limit, a smaller chunk than the doubling (or the
		 * first-chunk hint) asks for may still hold what is needed */
		if (a->limit && a->total + sizeof *c < a->limit &&
			cap > a->limit - a->total - sizeof *c &&
			need <= a->limit - a->total - sizeof *c)
			cap = (size_t)(a->limit - a->total - sizeof *c);
		if (tsl__add_u64(a->total, (uint64_t)cap + sizeof *c, &total) ||
			(a->limit && total > a->limit)) {
			a->over_limit = true;
			return NULL;
		}
		c = chunk_new(cap, a->huge);
		if (!c)
			return NULL;
		c->next = a->head;
		a->head = c;
		a->cap = c->cap;
		a->used = 0;
		a->populated = 0;
		a->total = total;
		/* a big chunk is filled ahead by the prefault helper, if the
		 * load has one (the lane's old chunk stays mapped) */
		a->pf_next = tsl__prefault_lane(TSL_PF_ARENA, c->data, c->cap,
			false) ? 0 : SIZE_MAX;
	}
	p = a->head->data + a->used;
	a->used += need;
	if (a->used > a->populated)
		tsl__populate_ahead(a->head->data, a->cap, &a->populated,
			a->used);
	tsl__prefault_publish(TSL_PF_ARENA, a->used, &a->pf_next);
	return p;   /* zeroed: chunks come zeroed and are never reused */
}

void *tsl__arena_calloc(tsl_arena *a, size_t n, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(n, size, &total))
		return NULL;
	return tsl__arena_alloc(a, total);
}

char *tsl__arena_strndup(tsl_arena *a, const char *s, size_t len)
{
	char *p;

	if (len == SIZE_MAX)
		return NULL;
	p = tsl__arena_alloc(a, len + 1);
	if (!p)
		return NULL;
	if (len)
		memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

void tsl__arena_free(tsl_arena *a)
{
	tsl_arena_chunk *c = a->head, *next;

	while (c) {
		next = c->next;
		tsl__prefault_forget(c, c->map_len);
		munmap(c, c->map_len);
		c = next;
	}
	a->head = NULL;
	a->used = a->cap = a->populated = 0;
	a->total = 0;
}

void tsl__arena_trim(tsl_arena *a)
{
	tsl_arena_chunk *c = a->head;
	uintptr_t from, to;

	if (!c)
		return;
	/* a helper's lane may be in it: wait it out */
	tsl__prefault_forget(c, c->map_len);
	from = ((uintptr_t)c->data + a->used + 4095) & ~(uintptr_t)4095;
	to = (uintptr_t)c + c->map_len;
	if (to > from)
		(void)madvise((void *)from, (size_t)(to - from), MADV_DONTNEED);
	if (from - (uintptr_t)c->data < a->populated)
		a->populated = (size_t)(from - (uintptr_t)c->data);
	a->pf_next = SIZE_MAX;
}

int tsl__arena_error(const tsl_arena *a, tsl_error *err, const char *record,
	uint64_t offset)
{
	if (a->over_limit)
		return tsl__error(err, TSL_ELIMIT, record, offset,
			"metadata needs more than max_meta_bytes (%llu bytes)",
			(unsigned long long)a->limit);
	return tsl__error(err, TSL_ENOMEM, record, offset,
		"out of memory for metadata");
}

/* ---- populating ahead --------------------------------------------------- */

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23   /* Linux 5.14 */
#endif

/* Measured on this project's VMs (doc/DESIGN.md, "Page faults"): writing
 * 2,048 fresh pages one fault each took 14-18 us a page on a freshly
 * booted VM, populating them in one call 7.3 us; on a warm VM both cost
 * about 1.3 us.  So memory the load is about to fill is populated a
 * window at a time: never more than one window past what is used. */
void tsl__populate(void *p, size_t len)
{
	uintptr_t from = (uintptr_t)p & ~(uintptr_t)4095;
	uintptr_t to = ((uintptr_t)p + len + 4095) & ~(uintptr_t)4095;

	if (len && to > from)
		(void)madvise((void *)from, (size_t)(to - from),
			MADV_POPULATE_WRITE);
}

void tsl__populate_ahead(void *base, size_t cap, size_t *done, size_t upto)
{
	size_t to, win;

	if (upto <= *done || *done >= cap || upto < TSL_POPULATE_START)
		return;
	if (upto > cap)
		upto = cap;
	win = upto / 2;
	if (win < TSL_POPULATE_MIN)
		win = TSL_POPULATE_MIN;
	if (win > TSL_POPULATE_WINDOW)
		win = TSL_POPULATE_WINDOW;
	to = cap - upto > win ? upto + win : cap;
	tsl__populate((unsigned char *)base + *done, to - *done);
	*done = to;
}

/* ---- large zeroed arrays ------------------------------------------------ */

/* A big buffer in 2 MiB-aligned memory marked for transparent huge pages:
 * arrays of tens of thousands of entries otherwise cost a page fault per
 * 4 KiB (on a virtual machine, microseconds each). */
struct big_head {
	size_t len;   /* mapping length; 0: calloc'd */
	size_t huge;  /* 1: mapped in huge pages (huge_map) */
};

void *tsl__big_calloc(size_t n, size_t size, int huge)
{
	size_t bytes, len;
	void *aligned;
	struct big_head *h;

	if (__builtin_mul_overflow(n, size, &bytes) ||
		bytes > SIZE_MAX - sizeof *h - 2 * HUGE_SIZE)
		return NULL;
	if (!want_huge(huge, sizeof *h + bytes) &&
		bytes + sizeof *h >= BIG_MAP_MIN) {
		/* mapped: zero pages that cost nothing until written (a
		 * calloc from the heap would clear them) */
		h = zero_map(sizeof *h + bytes, false, &len);
		if (!h)
			return NULL;
		h->len = len;
		return h + 1;
	}
	if (!want_huge(huge, sizeof *h + bytes)) {
		h = calloc(1, sizeof *h + bytes);
		return h ? h + 1 : NULL;
	}
	aligned = huge_map(sizeof *h + bytes, &len);
	if (!aligned)
		return NULL;
	h = (struct big_head *)aligned;
	h->len = len;
	h->huge = 1;
	return h + 1;
}

/*
 * Reuse within a load.  Between tsl__reuse_begin and tsl__reuse_end on one
 * thread, a big mapped block that is freed (the pickle memo, a class's
 * decoded source) is kept, not unmapped, and the next tsl__big_alloc takes
 * it (grown with mremap when too small): its pages are already backed, and
 * on the fresh VMs here a page's first touch costs 5-10 us.  The biggest
 * freed block is kept; the others are unmapped.
 */
#define REUSE_MIN ((size_t)256 << 10)
static __thread struct {
	bool on;
	struct big_head *h;   /* the kept block, or NULL */
} reuse;

void tsl__reuse_begin(void)
{
	reuse.on = true;
	reuse.h = NULL;
}

void tsl__reuse_end(void)
{
	if (reuse.h)
		munmap(reuse.h, reuse.h->len);
	reuse.h = NULL;
	reuse.on = false;
}

/* The kept block as a block of `len` mapped bytes, or NULL. */
static struct big_head *reuse_take(size_t len)
{
	struct big_head *h = reuse.h;
	void *q;

	if (!h)
		return NULL;
	reuse.h = NULL;
	if (h->len >= len)
		return h;
#ifdef MREMAP_MAYMOVE
	q = mremap(h, h->len, len, MREMAP_MAYMOVE);
	if (q != MAP_FAILED) {
		h = q;
		h->len = len;
		return h;
	}
#else
	(void)q;
#endif
	munmap(h, h->len);
	return NULL;
}

void *tsl__big_alloc(size_t bytes, int huge)
{
	struct big_head *h;

	if (bytes > SIZE_MAX - sizeof *h ||
		want_huge(huge, sizeof *h + bytes))
		return tsl__big_calloc(bytes, 1, huge);
	if (bytes + sizeof *h >= BIG_MAP_MIN) {
		/* filled entirely by the caller: populated in one call */
		h = NULL;
		if (reuse.on && bytes <= SIZE_MAX - sizeof *h - 4095) {
			struct big_head *k = reuse_take((sizeof *h + bytes +
				4095) & ~(size_t)4095);

			if (k)
				h = (void *)(k + 1);
		}
		if (!h)
			h = tsl__big_calloc(bytes, 1, TSL_PAGES_SMALL);
		if (h) {
			tsl__populate((struct big_head *)h - 1,
				sizeof(struct big_head) + bytes);
			/* written whole: the helper comes from the end */
			(void)tsl__prefault_lane(TSL_PF_BLOCK, h, bytes, true);
		}
		return h;
	}
	h = malloc(sizeof *h + bytes);
	if (!h)
		return NULL;
	h->len = 0;
	return h + 1;
}

void tsl__big_free(void *p)
{
	struct big_head *h;

	if (!p)
		return;
	h = (struct big_head *)p - 1;
	/* the helper may be in it (a lane starts at p): wait it out */
	tsl__prefault_forget(h, h->len ? h->len : sizeof *h + 1);
	if (reuse.on && h->len >= REUSE_MIN) {
		/* kept for the next big_alloc of this load */
		if (reuse.h && reuse.h->len >= h->len) {
			munmap(h, h->len);
		} else {
			if (reuse.h)
				munmap(reuse.h, reuse.h->len);
			reuse.h = h;
		}
		return;
	}
	if (h->len)
		munmap(h, h->len);
	else
		free(h);
}

void *tsl__big_grow(void *p, size_t old_n, size_t new_n, size_t size,
	int huge)
{
	struct big_head *h = p ? (struct big_head *)p - 1 : NULL;
	size_t bytes;
	void *q;

#ifdef MREMAP_MAYMOVE
	/* a block mapped in small pages that stays in small pages grows by
	 * mremap: its pages move, none is copied (a copy into a fresh mapping
	 * takes a fault for every page it writes: 30 more for many_small's
	 * pickle stack) */
	if (h && h->len && !h->huge &&
		!__builtin_mul_overflow(new_n, size, &bytes) &&
		bytes <= SIZE_MAX - sizeof *h - 4095 &&
		!want_huge(huge, sizeof *h + bytes)) {
		size_t len = (sizeof *h + bytes + 4095) & ~(size_t)4095;

		if (len <= h->len)
			return p;
		/* the helper may be in it (a lane starts at p): wait it out */
		tsl__prefault_forget(h, h->len);
		q = mremap(h, h->len, len, MREMAP_MAYMOVE);
		if (q != MAP_FAILED) {
			h = q;
			h->len = len;
			return h + 1;
		}
	}
#else
	(void)h;
	(void)bytes;
#endif
	q = tsl__big_calloc(new_n, size, huge);

	if (q && p && old_n)
		memcpy(q, p, old_n * size);   /* new_n > old_n; no overflow:
		                                 new_n * size was checked */
	if (q)
		tsl__big_free(p);
	return q;
}
