/* limits.c - options and their defaults. */
#include "config.h"

#include "common.h"

TSL_API int tsl_options_init(tsl_options *opts, unsigned int version)
{
	if (!opts || version == 0 || version > TSL_OPTIONS_VERSION)
		return TSL_EINVAL;
	memset(opts, 0, sizeof *opts);
	opts->version = version;
	return TSL_OK;
}

int tsl__limits_from_options(tsl_limits *lim, const tsl_options *opts,
	tsl_error *err)
{
	lim->max_records = 1000000;
	lim->max_record_bytes = (uint64_t)1 << 30;
	lim->max_total_bytes = (uint64_t)4 << 30;
	lim->max_depth = 1000;
	lim->max_memo = 10000000;
	lim->max_container = 100000000;
	lim->max_meta_bytes = (uint64_t)2 << 30;
	lim->huge_pages = false;
	lim->max_rank = 64;
	if (!opts)
		return TSL_OK;
	/* version 0: zero-initialised options ({0}, a binding's calloc),
	 * read as version 1, the defaults */
	if (opts->version > TSL_OPTIONS_VERSION)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"options version %u is not known (this library has %u)",
			opts->version, TSL_OPTIONS_VERSION);
#define TAKE(f) if (opts->f) lim->f = opts->f
	TAKE(max_records);
	TAKE(max_record_bytes);
	TAKE(max_total_bytes);
	TAKE(max_depth);
	TAKE(max_memo);
	TAKE(max_container);
	TAKE(max_meta_bytes);
	TAKE(max_rank);
	lim->huge_pages = (opts->flags & TSL_OPEN_HUGE_PAGES) != 0;
#undef TAKE
	return TSL_OK;
}
