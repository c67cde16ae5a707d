/* replay_load.c - fuzz_load.c under the name fuzz/replay.c calls. */
#define FUZZ_ENTRY fuzz_load_one_input
#include "fuzz_load.c"
