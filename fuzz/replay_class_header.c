/* replay_class_header.c - fuzz_class_header.c under the name fuzz/replay.c
 * calls. */
#define FUZZ_ENTRY fuzz_class_header_one_input
#include "fuzz_class_header.c"
