/*
 * gather.c - tensor facts for consumers: contiguity, byte size, the
 * row-major gather of a view into a caller buffer with dtype conversion
 * and dequantization, and dtype names as safetensors and numpy spell them.
 *
 * Uses the public tensor and storage API only (and common's errors): the
 * bytes come from tsl_storage_data, already in host byte order.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tsload.h"
#include "common/common.h"

TSL_API const char *tsl_dtype_safetensors_name(tsl_dtype dtype)
{
	return tsl__dtype_safetensors((int)dtype);
}

TSL_API const char *tsl_dtype_numpy_typestr(tsl_dtype dtype)
{
	const char *s = tsl__dtype_numpy((int)dtype);

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	/* the bytes tsload hands out are in host order */
	static const char *const big[] = { "|b1", "|u1", "|i1", ">i2", ">u2",
		">i4", ">u4", ">i8", ">u8", ">f2", ">f4", ">f8", ">c8", ">c16" };
	static const char *const little[] = { "|b1", "|u1", "|i1", "<i2",
		"<u2", "<i4", "<u4", "<i8", "<u8", "<f2", "<f4", "<f8", "<c8",
		"<c16" };

	for (size_t i = 0; s && i < sizeof(big) / sizeof(big[0]); i++)
		if (strcmp(s, little[i]) == 0)
			return big[i];
#endif
	return s;
}

/* Sub-byte quantized types: several elements per byte. */
static unsigned sub_byte_bits(int dtype)
{
	return tsl__dtype_sub_byte_bits(dtype);
}

static int is_quantized(int dtype)
{
	return dtype == TSL_QINT8 || dtype == TSL_QUINT8 ||
		dtype == TSL_QINT32 || dtype == TSL_QUINT4X2 ||
		dtype == TSL_QUINT2X4;
}

TSL_API int tsl_tensor_is_contiguous(const tsl_tensor *t)
{
	const int64_t *shape, *stride;
	size_t nd;
	int64_t expect = 1;

	if (!t || tsl_tensor_layout(t) != TSL_LAYOUT_STRIDED ||
	    !tsl_tensor_storage(t))
		return 0;
	nd = tsl_tensor_ndim(t);
	shape = tsl_tensor_shape(t);
	stride = tsl_tensor_strides(t);
	/* as c10's compute_contiguous: an empty tensor is contiguous, and a
	 * dimension of size 1 may have any stride */
	for (size_t d = 0; d < nd; d++)
		if (shape[d] == 0)
			return 1;
	for (size_t d = nd; d-- > 0;) {
		if (shape[d] == 1)
			continue;
		if (stride[d] != expect)
			return 0;
		if (tsl__mul_i64(expect, shape[d], &expect))
			return 0;
	}
	return 1;
}

/* Bytes of n elements of dtype (packed for sub-byte types). */
static int bytes_of(int dtype, uint64_t n, uint64_t *out)
{
	unsigned bits = sub_byte_bits(dtype);
	size_t isz = tsl_dtype_size((tsl_dtype)dtype);

	if (isz == 0)
		return -1;
	if (bits) {
		uint64_t per = 8 / bits;

		*out = n / per + (n % per != 0);
		return 0;
	}
	return tsl__mul_u64(n, isz, out) ? -1 : 0;
}

static int numel_checked(const tsl_tensor *t, uint64_t *out)
{
	const int64_t *shape = tsl_tensor_shape(t);
	uint64_t n = 1;

	for (size_t d = 0; d < tsl_tensor_ndim(t); d++) {
		if (shape[d] < 0)
			return -1;
		if (tsl__mul_u64(n, (uint64_t)shape[d], &n))
			return -1;
	}
	*out = n;
	return 0;
}

static const char *rec_of(const tsl_tensor *t)
{
	tsl_storage *s = tsl_tensor_storage(t);

	return s ? tsl_storage_record(s) : NULL;
}

TSL_API int tsl_tensor_nbytes(const tsl_tensor *t, uint64_t *out,
	tsl_error *err)
{
	uint64_t n;

	if (!t || !out)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"NULL argument");
	if (tsl_tensor_layout(t) != TSL_LAYOUT_STRIDED)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"a sparse tensor has no single byte size");
	if (numel_checked(t, &n) || bytes_of(tsl_tensor_dtype(t), n, out))
		return tsl__error(err, TSL_ELIMIT, rec_of(t), TSL_NO_OFFSET,
			"tensor of %s: its byte size overflows 64 bits",
			tsl_dtype_name(tsl_tensor_dtype(t)) ?
			tsl_dtype_name(tsl_tensor_dtype(t)) : "unknown dtype");
	return TSL_OK;
}

/*
 * The view's bytes, checked: the storage materialized, every element the
 * shape and strides reach inside it.  *base points at element 0 (storage
 * offset applied); *avail is what lies from there to the storage's end.
 */
static int view_bytes(const tsl_tensor *t, const uint8_t **base,
	uint64_t *numel, tsl_error *err)
{
	tsl_storage *s = tsl_tensor_storage(t);
	int dtype = tsl_tensor_dtype(t);
	const int64_t *shape = tsl_tensor_shape(t), *stride =
		tsl_tensor_strides(t);
	int64_t off = tsl_tensor_storage_offset(t);
	uint64_t n, last, end, size_bytes;
	unsigned bits = sub_byte_bits(dtype);
	const void *p;
	size_t size;
	int rc;

	if (!s || tsl_tensor_layout(t) != TSL_LAYOUT_STRIDED)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"a sparse tensor has no strided elements to gather");
	if (tsl_dtype_size((tsl_dtype)dtype) == 0)
		return tsl__error(err, TSL_EUNSUPPORTED, rec_of(t),
			TSL_NO_OFFSET, "unknown dtype %d", dtype);
	if (numel_checked(t, &n) || off < 0)
		return tsl__error(err, TSL_EFORMAT, rec_of(t), TSL_NO_OFFSET,
			"tensor view has a negative size or offset");
	*numel = n;
	*base = NULL;
	if (n == 0)
		return TSL_OK;
	if (bits && !tsl_tensor_is_contiguous(t))
		return tsl__error(err, TSL_EUNSUPPORTED, rec_of(t),
			TSL_NO_OFFSET, "a %s tensor must be contiguous",
			tsl_dtype_name((tsl_dtype)dtype));
	/* the last element's index: offset + sum (shape - 1) * stride */
	last = (uint64_t)off;
	for (size_t d = 0; d < tsl_tensor_ndim(t); d++) {
		uint64_t step;

		if (stride[d] < 0)
			return tsl__error(err, TSL_EFORMAT, rec_of(t),
				TSL_NO_OFFSET, "tensor view has a negative stride");
		if (tsl__mul_u64((uint64_t)(shape[d] - 1), (uint64_t)stride[d],
				&step) || tsl__add_u64(last, step, &last))
			return tsl__error(err, TSL_EFORMAT, rec_of(t),
				TSL_NO_OFFSET, "tensor view extent overflows");
	}
	if (bits) {
		/* packed: element i of the storage is nibble/crumb i */
		uint64_t per = 8 / bits;

		if (tsl__add_u64((uint64_t)off, n, &end))
			return tsl__error(err, TSL_EFORMAT, rec_of(t),
				TSL_NO_OFFSET, "tensor view extent overflows");
		end = end / per + (end % per != 0);
	} else if (tsl__add_u64(last, 1, &end) ||
		   tsl__mul_u64(end, tsl_dtype_size((tsl_dtype)dtype), &end)) {
		return tsl__error(err, TSL_EFORMAT, rec_of(t), TSL_NO_OFFSET,
			"tensor view extent overflows");
	}
	rc = tsl_storage_data(s, &p, &size, err);
	if (rc)
		return rc;
	size_bytes = p ? size : 0;
	if (end > size_bytes)
		return tsl__error(err, TSL_EFORMAT, rec_of(t), TSL_NO_OFFSET,
			"tensor view needs %llu bytes of storage %s, which "
			"holds %llu", (unsigned long long)end, rec_of(t),
			(unsigned long long)size_bytes);
	*base = bits ? (const uint8_t *)p : (const uint8_t *)p +
		(uint64_t)off * tsl_dtype_size((tsl_dtype)dtype);
	return TSL_OK;
}

TSL_API int tsl_tensor_contiguous_data(const tsl_tensor *t, const void **data,
	size_t *size, tsl_error *err)
{
	const uint8_t *base;
	uint64_t n, nb;
	int rc;

	if (!t || !data || !size)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"NULL argument");
	if (!tsl_tensor_is_contiguous(t))
		return tsl__error(err, TSL_EUNSUPPORTED, rec_of(t),
			TSL_NO_OFFSET, "the tensor is not contiguous: gather it");
	rc = view_bytes(t, &base, &n, err);
	if (rc)
		return rc;
	if (sub_byte_bits(tsl_tensor_dtype(t)) &&
	    tsl_tensor_storage_offset(t) % (8 / sub_byte_bits(
			tsl_tensor_dtype(t))) != 0)
		return tsl__error(err, TSL_EUNSUPPORTED, rec_of(t),
			TSL_NO_OFFSET, "packed view starts inside a byte");
	if (bytes_of(tsl_tensor_dtype(t), n, &nb) || nb > SIZE_MAX)
		return tsl__error(err, TSL_ELIMIT, rec_of(t), TSL_NO_OFFSET,
			"tensor too large for this host");
	if (sub_byte_bits(tsl_tensor_dtype(t)) && base)
		base += (uint64_t)tsl_tensor_storage_offset(t) /
			(8 / sub_byte_bits(tsl_tensor_dtype(t)));
	*data = base;
	*size = (size_t)nb;
	return TSL_OK;
}

/* --- element conversion ------------------------------------------------- */

static float f32_from_bits(uint32_t u)
{
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

static float half_to_float(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
	uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;

	if (exp == 0x1f)
		/* a NaN comes out quiet, as the F16C instruction torch uses
		 * makes it */
		return f32_from_bits(sign | 0x7f800000u | (man << 13) |
			(man ? 0x400000u : 0));
	if (exp == 0) {
		/* zero or subnormal: man * 2^-24, exact in float */
		float v = (float)man * 0x1p-24f;

		return sign ? -v : v;
	}
	return f32_from_bits(sign | ((exp + 112u) << 23) | (man << 13));
}

/* An 8-bit float with `mbits` mantissa bits and exponent bias `bias`.
 * fn: no infinities, S.1111.111 is NaN (e4m3fn); fnuz: 0x80 is the only
 * NaN, no negative zero; else IEEE-like (e5m2). */
static float f8_to_float(uint8_t b, unsigned mbits, int bias, int kind)
{
	unsigned ebits = 7 - mbits;
	unsigned exp = (b >> mbits) & ((1u << ebits) - 1);
	unsigned man = b & ((1u << mbits) - 1);
	int neg = b >> 7;
	float v;

	/* NaNs as c10's conversions make them: e4m3fn sets every mantissa
	 * bit it has (sign | 0x7ff00000), e5m2 goes through float16 (quiet,
	 * payload kept), the fnuz types give the positive quiet NaN */
	if (kind == 2) { /* fnuz */
		if (b == 0x80)
			return NAN;
	} else if (kind == 1) { /* fn */
		if ((b & 0x7f) == 0x7f)
			return f32_from_bits((uint32_t)neg << 31 | 0x7ff00000u);
	} else if (exp == (1u << ebits) - 1) {
		return half_to_float((uint16_t)(b << 8));
	}
	if (exp == 0)
		v = ldexpf((float)man, 1 - bias - (int)mbits);
	else
		v = ldexpf((float)(man | (1u << mbits)), (int)exp - bias -
			(int)mbits);
	return neg ? -v : v;
}

/* Read element `p` of `dtype` as a double or as an int64 (integers and
 * bool exactly).  Returns 1 for a floating value in *d, 0 for an integer
 * in *i. */
static int load_elem(int dtype, const uint8_t *p, double *d, int64_t *i,
	float *f)
{
	switch (dtype) {
	case TSL_BOOL: *i = *p != 0; return 0;
	case TSL_UINT8: *i = *p; return 0;
	case TSL_INT8: *i = (int8_t)*p; return 0;
	case TSL_INT16: { int16_t v; memcpy(&v, p, 2); *i = v; return 0; }
	case TSL_UINT16: { uint16_t v; memcpy(&v, p, 2); *i = v; return 0; }
	case TSL_INT32: { int32_t v; memcpy(&v, p, 4); *i = v; return 0; }
	case TSL_UINT32: { uint32_t v; memcpy(&v, p, 4); *i = v; return 0; }
	case TSL_INT64: { memcpy(i, p, 8); return 0; }
	case TSL_UINT64: {
		uint64_t v;

		memcpy(&v, p, 8);
		/* exact as float: rounds from the unsigned value */
		*f = (float)v;
		*d = (double)v;
		*i = (int64_t)v;
		return 3;
	}
	case TSL_FLOAT16: { uint16_t v; memcpy(&v, p, 2);
		*f = half_to_float(v); *d = *f; return 2; }
	case TSL_BFLOAT16: { uint16_t v; memcpy(&v, p, 2);
		*f = f32_from_bits((uint32_t)v << 16); *d = *f; return 2; }
	case TSL_FLOAT32: memcpy(f, p, 4); *d = *f; return 2;
	case TSL_FLOAT64: memcpy(d, p, 8); *f = (float)*d; return 1;
	case TSL_FLOAT8_E4M3FN: *f = f8_to_float(*p, 3, 7, 1); *d = *f; return 2;
	case TSL_FLOAT8_E5M2: *f = f8_to_float(*p, 2, 15, 0); *d = *f; return 2;
	case TSL_FLOAT8_E4M3FNUZ: *f = f8_to_float(*p, 3, 8, 2); *d = *f; return 2;
	case TSL_FLOAT8_E5M2FNUZ: *f = f8_to_float(*p, 2, 16, 2); *d = *f; return 2;
	default: return -1;
	}
}

static int is_float_like(int dtype)
{
	return dtype == TSL_FLOAT16 || dtype == TSL_BFLOAT16 ||
		dtype == TSL_FLOAT32 || dtype == TSL_FLOAT64 ||
		dtype == TSL_FLOAT8_E4M3FN || dtype == TSL_FLOAT8_E5M2 ||
		dtype == TSL_FLOAT8_E4M3FNUZ || dtype == TSL_FLOAT8_E5M2FNUZ;
}

static int is_int_like(int dtype)
{
	return dtype == TSL_BOOL || dtype == TSL_UINT8 || dtype == TSL_INT8 ||
		dtype == TSL_INT16 || dtype == TSL_UINT16 ||
		dtype == TSL_INT32 || dtype == TSL_UINT32 ||
		dtype == TSL_INT64 || dtype == TSL_UINT64;
}

TSL_API int tsl_dtype_can_gather(tsl_dtype from, tsl_dtype to)
{
	if ((unsigned)from >= TSL_DTYPE_COUNT || (unsigned)to >= TSL_DTYPE_COUNT)
		return 0;
	if (from == to)
		return 1;
	if (to == TSL_FLOAT32)
		return is_float_like(from) || is_int_like(from) ||
			is_quantized(from);
	if (to == TSL_FLOAT64)
		return is_float_like(from) || is_int_like(from);
	if (to == TSL_INT64)
		return is_int_like(from);
	return 0;
}

TSL_API int tsl_tensor_gather_size(const tsl_tensor *t, tsl_dtype to,
	uint64_t *size, tsl_error *err)
{
	uint64_t n;

	if (!t || !size)
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"NULL argument");
	if (numel_checked(t, &n) || bytes_of((int)to, n, size))
		return tsl__error(err, TSL_ELIMIT, rec_of(t), TSL_NO_OFFSET,
			"tensor byte size overflows 64 bits");
	return TSL_OK;
}

/* The quantization parameters of a quantized view, per element index
 * along the channel axis (nch entries; 1 for per-tensor). */
struct qparams {
	int scheme;          /* 0 per tensor, 1 per channel (double), 2 per
	                        channel with float qparams */
	float scale_f, zp_f; /* per tensor */
	double *scales;      /* per channel */
	double *zps;         /* per channel: float zero points, or */
	int64_t *zpi;        /* integer ones (exact, whatever their size) */
	size_t axis;
};

/* A per-channel parameter tensor of `want` elements as `to` (TSL_FLOAT64
 * or TSL_INT64: 8 bytes each) in a malloc'd array. */
static int read_params(const tsl_tensor *p, size_t want, tsl_dtype to,
	void **out, tsl_error *err)
{
	uint64_t n = 0;
	int rc;

	if (!p || tsl_tensor_layout(p) != TSL_LAYOUT_STRIDED ||
	    (!is_float_like(tsl_tensor_dtype(p)) &&
	     !is_int_like(tsl_tensor_dtype(p))))
		return tsl__error(err, TSL_EFORMAT, NULL, TSL_NO_OFFSET,
			"per-channel quantizer without scales or zero points");
	if (numel_checked(p, &n) || n != want)
		return tsl__error(err, TSL_EFORMAT, rec_of(p), TSL_NO_OFFSET,
			"per-channel quantizer has %llu parameters for %zu "
			"channels", (unsigned long long)n, want);
	*out = malloc((want ? want : 1) * 8);
	if (!*out)
		return tsl__error(err, TSL_ENOMEM, NULL, TSL_NO_OFFSET,
			"out of memory");
	rc = tsl_tensor_gather(p, to, *out, want * 8,
		err);
	if (rc) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

static int qparams_init(const tsl_tensor *t, struct qparams *q,
	tsl_error *err)
{
	int qs = tsl_tensor_qscheme(t);
	int64_t axis;
	size_t nch;
	int rc;

	memset(q, 0, sizeof(*q));
	if (qs == TSL_QSCHEME_PER_TENSOR_AFFINE ||
	    qs == TSL_QSCHEME_PER_TENSOR_SYMMETRIC) {
		q->scheme = 0;
		q->scale_f = (float)tsl_tensor_q_scale(t);
		q->zp_f = (float)tsl_tensor_q_zero_point(t);
		return TSL_OK;
	}
	if (qs != TSL_QSCHEME_PER_CHANNEL_AFFINE &&
	    qs != TSL_QSCHEME_PER_CHANNEL_SYMMETRIC &&
	    qs != TSL_QSCHEME_PER_CHANNEL_AFFINE_FLOAT_QPARAMS)
		return tsl__error(err, TSL_EFORMAT, rec_of(t), TSL_NO_OFFSET,
			"quantized tensor without a quantization scheme");
	axis = tsl_tensor_q_axis(t);
	if (axis < 0 || (uint64_t)axis >= tsl_tensor_ndim(t))
		return tsl__error(err, TSL_EFORMAT, rec_of(t), TSL_NO_OFFSET,
			"per-channel axis %lld outside the tensor's %zu "
			"dimensions", (long long)axis, tsl_tensor_ndim(t));
	q->axis = (size_t)axis;
	q->scheme = qs == TSL_QSCHEME_PER_CHANNEL_AFFINE_FLOAT_QPARAMS ? 2 : 1;
	nch = (size_t)tsl_tensor_shape(t)[axis];
	rc = read_params(tsl_tensor_q_scales(t), nch, TSL_FLOAT64,
		(void **)&q->scales, err);
	if (rc)
		return rc;
	if (q->scheme == 1 && tsl_tensor_q_zero_points(t) &&
	    is_int_like(tsl_tensor_dtype(tsl_tensor_q_zero_points(t))))
		rc = read_params(tsl_tensor_q_zero_points(t), nch, TSL_INT64,
			(void **)&q->zpi, err);
	else
		rc = read_params(tsl_tensor_q_zero_points(t), nch, TSL_FLOAT64,
			(void **)&q->zps, err);
	if (rc) {
		free(q->scales);
		q->scales = NULL;
	}
	return rc;
}

/* PyTorch's arithmetic (CPU kernels of 1.13 and later): per tensor in
 * float, (float(q) - float(zero_point)) * float(scale); per channel
 * (q - zero_point) * scale in double, then rounded to float; per channel
 * with float qparams in float. */
static float dequant(const struct qparams *q, int64_t v, size_t ch)
{
	if (q->scheme == 0)
		return ((float)v - q->zp_f) * q->scale_f;
	if (q->scheme == 2)
		return ((float)v - (float)q->zps[ch]) * (float)q->scales[ch];
	if (q->zpi) {
		int64_t d;

		/* exact as torch's integer subtraction; a hostile zero point
		 * that overflows it is subtracted in double instead */
		if (__builtin_sub_overflow(v, q->zpi[ch], &d))
			return (float)(((double)v - (double)q->zpi[ch]) *
				q->scales[ch]);
		return (float)((double)d * q->scales[ch]);
	}
	return (float)(((double)v - q->zps[ch]) * q->scales[ch]);
}

static int64_t load_q(int dtype, const uint8_t *p)
{
	switch (dtype) {
	case TSL_QINT8: return (int8_t)*p;
	case TSL_QUINT8: return *p;
	default: { int32_t v; memcpy(&v, p, 4); return v; }
	}
}

TSL_API int tsl_tensor_gather(const tsl_tensor *t, tsl_dtype to, void *buf,
	size_t size, tsl_error *err)
{
	return tsl_tensor_gather_range(t, to, 0, UINT64_MAX, buf, size, err);
}

/* count UINT64_MAX: from first to the end. */
TSL_API int tsl_tensor_gather_range(const tsl_tensor *t, tsl_dtype to,
	uint64_t first, uint64_t count, void *buf, size_t size,
	tsl_error *err)
{
	int from;
	const uint8_t *base;
	uint64_t n, need;
	size_t isz, osz, nd;
	const int64_t *shape, *stride;
	uint64_t *idx = NULL;
	struct qparams q = { 0 };
	uint8_t *out = buf;
	unsigned bits;
	int rc;

	if (!t || (!buf && size))
		return tsl__error(err, TSL_EINVAL, NULL, TSL_NO_OFFSET,
			"NULL argument");
	from = tsl_tensor_dtype(t);
	if (!tsl_dtype_can_gather((tsl_dtype)from, to))
		return tsl__error(err, TSL_EUNSUPPORTED, rec_of(t),
			TSL_NO_OFFSET, "no conversion from %s to %s",
			tsl_dtype_name((tsl_dtype)from) ?
			tsl_dtype_name((tsl_dtype)from) : "an unknown dtype",
			tsl_dtype_name(to) ? tsl_dtype_name(to) :
			"an unknown dtype");
	rc = view_bytes(t, &base, &n, err);
	if (rc)
		return rc;
	if (first > n)
		return tsl__error(err, TSL_EINVAL, rec_of(t), TSL_NO_OFFSET,
			"range starts at element %llu of %llu",
			(unsigned long long)first, (unsigned long long)n);
	if (count == UINT64_MAX)
		count = n - first;
	if (count > n - first)
		return tsl__error(err, TSL_EINVAL, rec_of(t), TSL_NO_OFFSET,
			"range of %llu elements from %llu past the tensor's %llu",
			(unsigned long long)count, (unsigned long long)first,
			(unsigned long long)n);
	bits = sub_byte_bits(from);
	if (bits && (int)to == from && count && first % (8 / bits) != 0)
		return tsl__error(err, TSL_EINVAL, rec_of(t), TSL_NO_OFFSET,
			"a range of packed elements must start on a byte");
	if (bytes_of((int)to, count, &need))
		return tsl__error(err, TSL_ELIMIT, rec_of(t), TSL_NO_OFFSET,
			"tensor byte size overflows 64 bits");
	if (size < need)
		return tsl__error(err, TSL_EINVAL, rec_of(t), TSL_NO_OFFSET,
			"buffer of %zu bytes for %llu", size,
			(unsigned long long)need);
	if (count == 0 || !base)
		return TSL_OK;
	if ((int)to == from && tsl_tensor_is_contiguous(t) && !bits) {
		memcpy(buf, base + first * tsl_dtype_size(to), (size_t)need);
		return TSL_OK;
	}
	if (is_quantized(from) && (int)to != from) {
		rc = qparams_init(t, &q, err);
		if (rc)
			return rc;
	}
	if (bits) {
		/* packed, contiguous (checked): element i of the view is
		 * element off + i of the storage */
		uint64_t off = (uint64_t)tsl_tensor_storage_offset(t);
		unsigned per = 8 / bits, mask = (1u << bits) - 1;
		uint64_t inner = 1;

		if (q.scheme && q.axis + 1 < tsl_tensor_ndim(t))
			for (size_t d = q.axis + 1; d < tsl_tensor_ndim(t); d++)
				inner *= (uint64_t)tsl_tensor_shape(t)[d];
		if ((int)to == from)
			memset(buf, 0, (size_t)need);
		for (uint64_t i = 0; i < count; i++) {
			uint64_t e = off + first + i;
			unsigned v = (base[e / per] >> ((e % per) * bits)) & mask;

			if ((int)to == from) {
				out[i / per] |= (uint8_t)(v << ((i % per) * bits));
			} else {
				size_t ch = q.scheme ? (size_t)(((first + i) /
					inner) %
					(uint64_t)tsl_tensor_shape(t)[q.axis]) : 0;
				float f = dequant(&q, v, ch);

				memcpy(out + i * 4, &f, 4);
			}
		}
		goto done;
	}
	nd = tsl_tensor_ndim(t);
	shape = tsl_tensor_shape(t);
	stride = tsl_tensor_strides(t);
	isz = tsl_dtype_size((tsl_dtype)from);
	osz = tsl_dtype_size(to);
	idx = calloc(nd ? nd : 1, sizeof(*idx));
	if (!idx) {
		rc = tsl__error(err, TSL_ENOMEM, NULL, TSL_NO_OFFSET,
			"out of memory");
		goto done;
	}
	/* the index of element `first` */
	{
		uint64_t rem = first;

		for (size_t d = nd; d-- > 0;) {
			idx[d] = rem % (uint64_t)shape[d];
			rem /= (uint64_t)shape[d];
		}
	}
	for (uint64_t i = 0; i < count; i++) {
		uint64_t off = 0;
		const uint8_t *p;

		for (size_t d = 0; d < nd; d++)
			off += idx[d] * (uint64_t)stride[d];
		p = base + off * isz;
		if ((int)to == from) {
			memcpy(out, p, isz);
		} else if (is_quantized(from)) {
			float f = dequant(&q, load_q(from, p),
				q.scheme ? (size_t)idx[q.axis] : 0);

			memcpy(out, &f, 4);
		} else {
			double dv = 0;
			int64_t iv = 0;
			float fv = 0;
			int k = load_elem(from, p, &dv, &iv, &fv);

			if (to == TSL_INT64) {
				memcpy(out, &iv, 8);
			} else if (to == TSL_FLOAT32) {
				if (k == 0)
					fv = (float)iv;
				memcpy(out, &fv, 4);
			} else {
				if (k == 0)
					dv = (double)iv;
				memcpy(out, &dv, 8);
			}
		}
		out += osz;
		for (size_t d = nd; d-- > 0;) {
			if (++idx[d] < (uint64_t)shape[d])
				break;
			idx[d] = 0;
		}
	}
done:
	free(idx);
	free(q.scales);
	free(q.zps);
	free(q.zpi);
	return rc;
}
