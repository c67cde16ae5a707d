/* replay_zip.c - fuzz_zip.c under the name fuzz/replay.c calls. */
#define FUZZ_ENTRY fuzz_zip_one_input
#include "fuzz_zip.c"
