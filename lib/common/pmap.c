/* pmap.c - a map from pointers to size_t, open addressing (common.h). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "common.h"

static int pmap_grow(tsl_pmap *m)
{
	size_t cap = m->mask ? (m->mask + 1) * 2 : 64;
	const void **keys = calloc(cap, sizeof(*keys));
	size_t *vals = calloc(cap, sizeof(*vals));

	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -1;
	}
	for (size_t i = 0; m->mask && i <= m->mask; i++) {
		size_t j;

		if (!m->keys[i])
			continue;
		j = tsl__hash_u64((uintptr_t)m->keys[i]) & (cap - 1);
		while (keys[j])
			j = (j + 1) & (cap - 1);
		keys[j] = m->keys[i];
		vals[j] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	m->keys = keys;
	m->vals = vals;
	m->mask = cap - 1;
	return 0;
}

size_t tsl__pmap_get(const tsl_pmap *m, const void *key)
{
	size_t j;

	if (!m->mask)
		return SIZE_MAX;
	j = tsl__hash_u64((uintptr_t)key) & m->mask;
	while (m->keys[j]) {
		if (m->keys[j] == key)
			return m->vals[j];
		j = (j + 1) & m->mask;
	}
	return SIZE_MAX;
}

int tsl__pmap_put(tsl_pmap *m, const void *key, size_t val)
{
	size_t j;

	if (tsl__pmap_get(m, key) != SIZE_MAX)
		return 1;
	if ((m->count + 1) * 2 > (m->mask ? m->mask + 1 : 0) && pmap_grow(m))
		return -1;
	j = tsl__hash_u64((uintptr_t)key) & m->mask;
	while (m->keys[j])
		j = (j + 1) & m->mask;
	m->keys[j] = key;
	m->vals[j] = val;
	m->count++;
	return 0;
}

void tsl__pmap_free(tsl_pmap *m)
{
	free(m->keys);
	free(m->vals);
	m->keys = NULL;
	m->vals = NULL;
	m->mask = m->count = 0;
}
