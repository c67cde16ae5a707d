/* tensor.c - the public tensor API: metadata, data, hashes (storages: lib/storage). */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "../module/model.h"

TSL_API tsl_dtype tsl_tensor_dtype(const tsl_tensor *t)
{
	return t ? (tsl_dtype)t->dtype : TSL_DTYPE_COUNT;
}

TSL_API tsl_layout tsl_tensor_layout(const tsl_tensor *t)
{
	return t ? (tsl_layout)t->layout : TSL_LAYOUT_STRIDED;
}

TSL_API size_t tsl_tensor_ndim(const tsl_tensor *t)
{
	return t ? t->ndim : 0;
}

TSL_API const int64_t *tsl_tensor_shape(const tsl_tensor *t)
{
	return t ? tsl__tshape(t) : NULL;
}

TSL_API const int64_t *tsl_tensor_strides(const tsl_tensor *t)
{
	return t ? tsl__tstride(t) : NULL;
}

TSL_API int64_t tsl_tensor_storage_offset(const tsl_tensor *t)
{
	return t ? tsl__toffset(t) : 0;
}

TSL_API uint64_t tsl_tensor_numel(const tsl_tensor *t)
{
	uint64_t n = 1;

	if (!t)
		return 0;
	for (uint32_t d = 0; d < t->ndim; d++) {
		int64_t s = tsl__tshape(t)[d];

		if (s <= 0 || tsl__mul_u64(n, (uint64_t)s, &n))
			return s == 0 ? 0 : UINT64_MAX;
	}
	return n;
}

TSL_API int tsl_tensor_requires_grad(const tsl_tensor *t)
{
	return t ? t->requires_grad : 0;
}

TSL_API const char *tsl_tensor_saved_device(const tsl_tensor *t)
{
	const tsl_tensor *values;

	if (!t)
		return NULL;
	if (t->storage)
		return t->storage->place->location;
	if ((values = tsl_tensor_sparse_values(t)))   /* sparse */
		return tsl_tensor_saved_device(values);
	return "cpu";
}

TSL_API const char *tsl_tensor_device(const tsl_tensor *t)
{
	const tsl_tensor *values;

	if (!t)
		return NULL;
	if (t->storage)
		return t->storage->place->device;
	if ((values = tsl_tensor_sparse_values(t)))   /* sparse */
		return tsl_tensor_device(values);
	return "cpu";
}

TSL_API int tsl_tensor_is_conj(const tsl_tensor *t)
{
	return t ? t->conj : 0;
}

TSL_API int tsl_tensor_is_neg(const tsl_tensor *t)
{
	return t ? t->neg : 0;
}

TSL_API tsl_qscheme tsl_tensor_qscheme(const tsl_tensor *t)
{
	return t ? (tsl_qscheme)t->qscheme : TSL_QSCHEME_NONE;
}

TSL_API double tsl_tensor_q_scale(const tsl_tensor *t)
{
	return t && t->has_ext ? tsl__text(t)->q_scale : 0.0;
}

TSL_API int64_t tsl_tensor_q_zero_point(const tsl_tensor *t)
{
	return t && t->has_ext ? tsl__text(t)->q_zero_point : 0;
}

TSL_API const tsl_tensor *tsl_tensor_q_scales(const tsl_tensor *t)
{
	return t && t->has_ext ? tsl__text(t)->q_scales : NULL;
}

TSL_API const tsl_tensor *tsl_tensor_q_zero_points(const tsl_tensor *t)
{
	return t && t->has_ext ? tsl__text(t)->q_zero_points : NULL;
}

TSL_API int64_t tsl_tensor_q_axis(const tsl_tensor *t)
{
	return t && t->has_ext ? tsl__text(t)->q_axis : 0;
}

TSL_API const tsl_tensor *tsl_tensor_sparse_indices(const tsl_tensor *t)
{
	return t && t->has_ext ? tsl__text(t)->sp_indices : NULL;
}

TSL_API const tsl_tensor *tsl_tensor_sparse_values(const tsl_tensor *t)
{
	return t && t->has_ext ? tsl__text(t)->sp_values : NULL;
}

TSL_API tsl_storage *tsl_tensor_storage(const tsl_tensor *t)
{
	return t ? t->storage : NULL;
}

TSL_API int tsl_tensor_data(const tsl_tensor *t, const void **data,
	tsl_error *err)
{
	const void *p;
	size_t n;
	int rc;

	if (!t || !data)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"NULL argument");
	if (!t->storage)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"a sparse tensor has no single data pointer");
	rc = tsl__storage_cpu(t->storage, &p, &n, err);
	if (rc)
		return rc;
	*data = p ? (const uint8_t *)p + (size_t)tsl__toffset(t) *
		tsl_dtype_size((tsl_dtype)t->dtype) : NULL;
	return TSL_OK;
}

/* Hash the elements in row-major order: contiguous runs of the innermost
 * dimension are streamed as they are, so a contiguous tensor costs one
 * pass over its bytes. */
TSL_API int tsl_tensor_xxh3(const tsl_tensor *t, uint64_t *out,
	tsl_error *err)
{
	XXH3_state_t *st;
	const uint8_t *base;
	uint64_t numel, isz, idx[64] = { 0 };
	int64_t inner_len, inner_stride;
	uint32_t nd;
	const void *p;
	size_t n;
	int rc;

	if (!t || !out || !t->storage)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"only strided tensors have an element hash");
	numel = tsl_tensor_numel(t);
	isz = tsl_dtype_size((tsl_dtype)t->dtype);
	st = XXH3_createState();
	if (!st)
		return tsl__error(err, TSL_ENOMEM, NULL, TSL_NO_OFFSET,
			"out of memory");
	XXH3_64bits_reset(st);
	if (numel == 0 || tsl__storage_nbytes(t->storage) == 0)
		goto done;
	if (t->ndim > 64) {
		XXH3_freeState(st);
		return tsl__error(err, TSL_ELIMIT, NULL, TSL_NO_OFFSET,
			"rank over 64");
	}
	rc = tsl__storage_cpu(t->storage, &p, &n, err);
	if (rc) {
		XXH3_freeState(st);
		return rc;
	}
	base = (const uint8_t *)p + (uint64_t)tsl__toffset(t) * isz;
	nd = t->ndim;
	if (nd == 0) {
		XXH3_64bits_update(st, base, isz);
		goto done;
	}
	inner_len = tsl__tshape(t)[nd - 1];
	inner_stride = tsl__tstride(t)[nd - 1];
	for (;;) {
		uint64_t off = 0;

		for (uint32_t d = 0; d + 1 < nd; d++)
			off += idx[d] * (uint64_t)tsl__tstride(t)[d];
		if (inner_stride == 1) {
			XXH3_64bits_update(st, base + off * isz,
				(size_t)(inner_len * (int64_t)isz));
		} else {
			for (int64_t i = 0; i < inner_len; i++)
				XXH3_64bits_update(st, base + (off + (uint64_t)i *
					(uint64_t)inner_stride) * isz, isz);
		}
		/* advance the outer index */
		{
			int d = (int)nd - 2;

			while (d >= 0) {
				if (++idx[d] < (uint64_t)tsl__tshape(t)[d])
					break;
				idx[d] = 0;
				d--;
			}
			if (d < 0)
				break;
		}
	}
done:
	*out = XXH3_64bits_digest(st);
	XXH3_freeState(st);
	return TSL_OK;
}
