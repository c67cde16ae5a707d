/* arena.c - bump allocator for model metadata (see common.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"

struct tsl_arena_chunk {
	tsl_arena_chunk *next;
	size_t cap;
	_Alignas(16) unsigned char data[];
};

#define ARENA_MIN_CHUNK (64 * 1024 - sizeof(tsl_arena_chunk))

void tsl__arena_init(tsl_arena *a, uint64_t limit)
{
	memset(a, 0, sizeof *a);
	a->limit = limit;
}

void *tsl__arena_alloc(tsl_arena *a, size_t size)
{
	size_t need = (size + 15) & ~(size_t)15;
	tsl_arena_chunk *c;
	size_t cap;
	uint64_t total;
	void *p;

	if (need < size)
		return NULL;
	if (!a->head || a->cap - a->used < need) {
		/* chunks grow with the arena, so big models need few mallocs */
		cap = a->head ? a->head->cap * 2 : ARENA_MIN_CHUNK;
		if (cap > ((size_t)16 << 20))
			cap = (size_t)16 << 20;
		if (cap < need)
			cap = need;
		if (tsl__add_u64(a->total, (uint64_t)cap + sizeof *c, &total) ||
			(a->limit && total > a->limit)) {
			a->over_limit = true;
			return NULL;
		}
		if (cap > SIZE_MAX - sizeof *c)
			return NULL;
		c = malloc(sizeof *c + cap);
		if (!c)
			return NULL;
		c->cap = cap;
		c->next = a->head;
		a->head = c;
		a->cap = cap;
		a->used = 0;
		a->total = total;
	}
	p = a->head->data + a->used;
	a->used += need;
	memset(p, 0, size);
	return p;
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
		free(c);
		c = next;
	}
	a->head = NULL;
	a->used = a->cap = 0;
	a->total = 0;
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
