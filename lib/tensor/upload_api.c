/* upload_api.c - tsl_model_upload: the model's storages go to their devices
 * through the pipeline of lib/storage/storage_upload.c (this file only
 * reaches the model's storage table, which lib/storage cannot see). */
#include "config.h"

#include "../module/model.h"

TSL_API int tsl_model_upload(tsl_model *m, const tsl_upload_options *opt,
	tsl_upload_stats *stats, tsl_error *err)
{
	if (!m)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"model is NULL");
	return tsl__storages_upload(&m->storages, opt, stats, err);
}
