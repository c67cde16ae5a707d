/* cli_msg.h - the library's messages in the words of a command-line tool.
 *
 * libtsload's messages name its C API (TSL_OPEN_CHECKPOINTS,
 * map_location="cpu", tsl_archive_open_reader) because its callers are
 * programs.  A tool prints them to people, who know its options instead:
 * tsl_cli_message() rewrites those names into the tool's words.  Header
 * only (static), shared by tools/tsinfo.c and bench/tsbench.c. */
#ifndef TSL_CLI_MSG_H
#define TSL_CLI_MSG_H

#include <stdio.h>
#include <string.h>

/* A pair {library wording, tool wording}; a table ends with {NULL, NULL}. */
struct tsl_cli_word {
	const char *lib, *cli;
};

/* The rewrites every tool wants. */
static const struct tsl_cli_word tsl_cli_common[] = {
	{ "with TSL_OPEN_CHECKPOINTS", "with --checkpoint" },
	{ "TSL_OPEN_CHECKPOINTS", "--checkpoint" },
	{ "use map_location=\"cpu\"", "use --map-location cpu" },
	{ "map_location=\"cpu\"", "--map-location cpu" },
	{ "map_location", "--map-location" },
	{ NULL, NULL }
};

/* msg with every occurrence of a table's `lib` (the tool's own table first,
 * then tsl_cli_common) replaced by its `cli`, into out (truncated to cap). */
static void tsl_cli_message(char *out, size_t cap, const char *msg,
	const struct tsl_cli_word *own)
{
	size_t o = 0;

	if (!cap)
		return;
	while (*msg && o + 1 < cap) {
		const struct tsl_cli_word *tabs[2] = { own, tsl_cli_common };
		const char *with = NULL;
		size_t skip = 0;

		for (int t = 0; t < 2 && !with; t++)
			for (const struct tsl_cli_word *w = tabs[t]; w && w->lib;
				w++)
				if (strncmp(msg, w->lib, strlen(w->lib)) == 0) {
					with = w->cli;
					skip = strlen(w->lib);
					break;
				}
		if (with) {
			size_t n = strlen(with);

			if (n > cap - 1 - o)
				n = cap - 1 - o;
			memcpy(out + o, with, n);
			o += n;
			msg += skip;
		} else {
			out[o++] = *msg++;
		}
	}
	out[o] = '\0';
}

#endif
