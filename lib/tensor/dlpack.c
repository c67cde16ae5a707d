/* dlpack.c - DLPack export of tensors (zero-copy, model kept alive). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "../module/model.h"
#include "tsload_dlpack.h"

struct export {
	DLManagedTensor mt;
	struct tsl_model *model;
	int64_t shape[];       /* ndim shapes then ndim strides */
};

static void deleter(DLManagedTensor *mt)
{
	struct export *x = (struct export *)mt;

	tsl__model_unref(x->model);
	free(x);
}

TSL_API int tsl_tensor_to_dlpack(const tsl_tensor *t, DLManagedTensor **out,
	tsl_error *err)
{
	struct tsl_storage *s;
	const char *record;
	struct export *x;
	DLDataType dt;
	DLDevice dev;
	tsl_device d;
	void *data;
	size_t n;
	int rc;

	if (!t || !out)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"NULL argument");
	*out = NULL;
	s = t->storage;
	if (!s || t->layout != TSL_LAYOUT_STRIDED)
		return tsl__error(err, TSL_EUNSUPPORTED, NULL, TSL_NO_OFFSET,
			"only strided tensors can be exported through DLPack");
	record = tsl__storage_record(s);
	dt.lanes = 1;
	if (!tsl__dtype_dlpack(t->dtype, &dt.code, &dt.bits))
		return tsl__error(err, TSL_EUNSUPPORTED, record,
			TSL_NO_OFFSET,
			"dtype %s has no DLPack equivalent",
			tsl_dtype_name((tsl_dtype)t->dtype));
	rc = tsl__device_parse(s->place->device, &d, err);
	if (rc)
		return rc;
	if (strcmp(d.type, "cpu") == 0) {
		dev.device_type = kDLCPU;
		dev.device_id = 0;
	} else if (strcmp(d.type, "cuda") == 0) {
		dev.device_type = kDLCUDA;
		dev.device_id = d.index < 0 ? 0 : d.index;
	} else {
		return tsl__error(err, TSL_EUNSUPPORTED, record,
			TSL_NO_OFFSET,
			"device %s has no DLPack equivalent", s->place->device);
	}
	rc = tsl_storage_device_data(s, &data, &n, err);
	if (rc)
		return rc;
	if (t->ndim > 64)
		return tsl__error(err, TSL_ELIMIT, record,
			TSL_NO_OFFSET,
			"rank too large");
	x = calloc(1, sizeof *x + 2 * (size_t)t->ndim * sizeof(int64_t));
	if (!x)
		return tsl__error(err, TSL_ENOMEM, record,
			TSL_NO_OFFSET,
			"out of memory");
	memcpy(x->shape, tsl__tshape(t), t->ndim * sizeof(int64_t));
	memcpy(x->shape + t->ndim, tsl__tstride(t), t->ndim * sizeof(int64_t));
	/* data at the view's first element and byte_offset 0, as PyTorch
	 * exports: torch 1.13's from_dlpack ignores byte_offset */
	x->mt.dl_tensor.data = data ? (uint8_t *)data +
		(uint64_t)tsl__toffset(t) * tsl_dtype_size((tsl_dtype)t->dtype) :
		NULL;
	x->mt.dl_tensor.device = dev;
	x->mt.dl_tensor.ndim = (int32_t)t->ndim;
	x->mt.dl_tensor.dtype = dt;
	x->mt.dl_tensor.shape = x->shape;
	x->mt.dl_tensor.strides = x->shape + t->ndim;
	x->mt.dl_tensor.byte_offset = 0;
	x->mt.manager_ctx = x;
	x->mt.deleter = deleter;
	x->model = tsl__storage_model(s);
	tsl__model_ref(x->model);
	*out = &x->mt;
	return TSL_OK;
}
