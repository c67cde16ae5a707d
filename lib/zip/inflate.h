/*
 * inflate.h - a raw deflate (RFC 1951) decoder for records whose decoded
 * size is known: the whole output buffer is given up front, so there is no
 * window, no intermediate buffer and no copy; the stream is decoded
 * straight into place.  Part of lib/zip; depends on common only.
 *
 * Why not libarchive here (it decodes every other method, and streams):
 * a TorchScript archive's code/ records are many and small (a traced
 * resnet50 has 151 of 650 bytes on average), and setting up libarchive's
 * reader, its gzip filter buffers and zlib's tables costs more per record
 * than the decoding itself: it was half of the load time of such a model.
 * See doc/DESIGN.md, "Compressed records".
 */
#ifndef TSL_INFLATE_H
#define TSL_INFLATE_H

#include "../common/common.h"

/* Why a stream was refused (tsl__inflate's *why). */
typedef struct tsl_inflate_error {
	const char *why;   /* static text */
	size_t at;         /* the input byte being read when it was found */
} tsl_inflate_error;

/*
 * Decode the raw deflate stream in[0..in_len) into out[0..out_len).
 * Succeeds (TSL_OK) only when the stream is well formed, ends (final block)
 * within in_len bytes and decodes to exactly out_len bytes; bytes after the
 * end of the stream are ignored, as zlib does.  Otherwise TSL_EFORMAT, with
 * *e saying why and where; out may then hold anything.  Never reads outside
 * in[0..in_len) nor writes outside out[0..out_len).  Reentrant: no state is
 * shared between calls (the fixed tables are built once, thread-safely).
 */
TSL_INTERNAL int tsl__inflate(const uint8_t *in, size_t in_len, uint8_t *out,
	size_t out_len, tsl_inflate_error *e);

#endif
