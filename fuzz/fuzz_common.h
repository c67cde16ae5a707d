/*
 * fuzz_common.h - shared bits of the fuzz targets.
 *
 * FUZZ_ENTRY names the entry point: LLVMFuzzerTestOneInput for libFuzzer,
 * a per-target name when fuzz/replay.c links all three targets together.
 * FUZZ_CHECK aborts (a crash libFuzzer reports) when an invariant of the
 * API is broken, e.g. a failure without a message.
 */
#ifndef TSL_FUZZ_COMMON_H
#define TSL_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#ifndef FUZZ_ENTRY
#define FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

#define FUZZ_CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, \
			__LINE__, #cond); \
		abort(); \
	} \
} while (0)

/* a failed call: negative code, same code in err, a message */
#define FUZZ_CHECK_FAIL(rc, err) do { \
	FUZZ_CHECK((rc) < 0); \
	FUZZ_CHECK((err).code == (rc)); \
	FUZZ_CHECK((err).message[0] != '\0'); \
} while (0)

#endif
