/* tsinfo.h - pieces of the tsinfo tool. */
#ifndef TSINFO_H
#define TSINFO_H

#include <stdio.h>
#include <tsload.h>
#include <xxhash.h>

/* The canonical dump (DUMP.md).  Returns 0 or a tsl_status. */
int tsinfo_dump_json(FILE *f, tsl_model *m, int hashes, tsl_error *err);

#endif
