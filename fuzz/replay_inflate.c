/* replay_inflate.c - fuzz_inflate.c under the name fuzz/replay.c calls. */
#define FUZZ_ENTRY fuzz_inflate_one_input
#include "fuzz_inflate.c"
