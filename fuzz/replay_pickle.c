/* replay_pickle.c - fuzz_pickle.c under the name fuzz/replay.c calls. */
#define FUZZ_ENTRY fuzz_pickle_one_input
#include "fuzz_pickle.c"
