/*
 * fuzz_zip.c - libFuzzer target for the record index (lib/zip).
 *
 * The input is a whole archive in memory: index it, look every record up by
 * name, resolve its data offset from the local header and read (decode) it.
 * Half of the inputs (by their last byte) verify CRCs.  Also linked into the
 * gcc-built replay driver (fuzz/replay.c) under another entry name.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "zip/zip.h"
#include "fuzz_common.h"

int FUZZ_ENTRY(const uint8_t *data, size_t size);

int FUZZ_ENTRY(const uint8_t *data, size_t size)
{
	tsl_options opts = TSL_OPTIONS_INIT;
	tsl_limits lim;
	tsl_error err;
	tsl_zip *z = NULL;
	volatile uint8_t sink = 0;
	int rc;

	/* keep decoded records small so that zip bombs stay cheap */
	opts.max_record_bytes = 64u << 20;
	opts.max_total_bytes = 256u << 20;
	memset(&err, 0, sizeof err);
	FUZZ_CHECK(tsl__limits_from_options(&lim, &opts, &err) == TSL_OK);
	rc = tsl__zip_open(&z, data, size, &lim, NULL, &err);
	if (rc != TSL_OK) {
		FUZZ_CHECK_FAIL(rc, err);
		return 0;
	}
	z->verify_crc = size && (data[size - 1] & 1);
	for (size_t i = 0; i < z->n; i++) {
		tsl_zip_entry *e = &z->entries[i];
		uint64_t off;
		const uint8_t *p;
		size_t len;

		/* every record under the prefix can be found by its name */
		FUZZ_CHECK(!tsl__zip_in_prefix(e) ||
			tsl__zip_find(z, tsl__zip_rel_bytes(z, e),
			tsl__zip_rel_len(z, e)) == e);
		/* the NUL-terminated copy is the same name */
		FUZZ_CHECK(!tsl__zip_cname(z, e) ||
			(strlen(tsl__zip_cname(z, e)) == tsl__zip_name_len(e) &&
			memcmp(tsl__zip_cname(z, e), tsl__zip_name(e),
			tsl__zip_name_len(e)) == 0));
		memset(&err, 0, sizeof err);
		rc = tsl__zip_data_offset(z, e, &off, &err);
		if (rc != TSL_OK) {
			FUZZ_CHECK_FAIL(rc, err);
			continue;
		}
		FUZZ_CHECK(off <= size);
		memset(&err, 0, sizeof err);
		rc = tsl__zip_read(z, e, &p, &len, &err);
		if (rc != TSL_OK) {
			FUZZ_CHECK_FAIL(rc, err);
			continue;
		}
		FUZZ_CHECK(len == tsl__zip_usize(e));
		if (len) /* touch the first and the last byte */
			sink ^= p[0] ^ p[len - 1];
	}
	(void)tsl__zip_find(z, "data.pkl", 8);
	(void)tsl__zip_find(z, "", 0);
	tsl__zip_free(z);
	(void)sink;
	return 0;
}
