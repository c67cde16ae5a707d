/*
 * fuzz_inflate.c - libFuzzer target for the deflate decoder
 * (lib/zip/inflate.c), checked against libarchive's (zlib's).
 *
 * Input: 4 bytes little-endian, the declared decoded size (modulo 1 MiB),
 * then the raw deflate stream.  Invariants: a refusal is TSL_EFORMAT with a
 * reason and a position inside the input; and the decoder agrees with the
 * reference, libarchive's gzip filter over the same stream: when the
 * reference decodes exactly the declared size, so do we, to the same
 * bytes; when it decodes another size or refuses, we refuse.  Also linked
 * into the gcc-built replay driver (fuzz/replay.c) under another name.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "zip/inflate.h"
#include "fuzz_common.h"
#include "../tests/ref_inflate.h"

int FUZZ_ENTRY(const uint8_t *data, size_t size);

/* The reference over in[0..n): 1 when it decodes exactly out_len bytes
 * (into ref), 0 when it decodes another size or refuses, -1 when it
 * cannot tell (nothing came out: empty and broken look alike to it). */
static int reference(const uint8_t *in, size_t n, uint8_t *ref,
	size_t out_len)
{
	size_t got;
	int rc = ref_inflate_into(in, n, ref, out_len, &got);

	FUZZ_CHECK(rc >= REF_NOTHING);
	if (rc == REF_NOTHING)
		return -1;
	return rc == REF_OK && got == out_len;
}

int FUZZ_ENTRY(const uint8_t *data, size_t size)
{
	tsl_inflate_error e;
	uint8_t *out, *ref;
	size_t want;
	int rc, verdict;

	if (size < 4)
		return 0;
	want = (size_t)(((uint32_t)data[0] | (uint32_t)data[1] << 8 |
		(uint32_t)data[2] << 16 | (uint32_t)data[3] << 24) % (1u << 20));
	out = malloc(want ? want : 1);
	ref = malloc(want ? want : 1);
	FUZZ_CHECK(out && ref);
	memset(&e, 0, sizeof e);
	rc = tsl__inflate(data + 4, size - 4, out, want, &e);
	if (rc != TSL_OK) {
		FUZZ_CHECK(rc == TSL_EFORMAT);
		FUZZ_CHECK(e.why != NULL && e.why[0] != '\0');
		FUZZ_CHECK(e.at <= size - 4);
	}
	verdict = reference(data + 4, size - 4, ref, want);
	if (verdict == 1) {
		FUZZ_CHECK(rc == TSL_OK);
		FUZZ_CHECK(want == 0 || memcmp(out, ref, want) == 0);
	} else if (verdict == 0 || want > 0) {
		FUZZ_CHECK(rc != TSL_OK);
	}
	free(out);
	free(ref);
	return 0;
}
