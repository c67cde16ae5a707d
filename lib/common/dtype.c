/* dtype.c - the one table of PyTorch's scalar types: every fact about a
 * dtype that any part of lib/ needs (its torch name, its Storage class,
 * sizes, swap width, DLPack code, safetensors name, numpy typestr) is a
 * column of TSL_DTYPES below, and nowhere else.
 *
 * Adding a dtype: one row here, in ScalarType order, plus its value in
 * include/tsload.h's enum and the list in doc/tsl_tensor.3; the build
 * fails (static assertions) while the rows and the enum disagree, and
 * tests/test_common.c checks that every row has every fact. */
#include "config.h"

#include "common.h"
#include "tsload_dlpack.h"

#define NODL (-1)

/*
 * X(enum, torch name, Storage class name without "Storage", bytes per
 *   element, byte-swap width (complex types swap per component), DLPack
 *   type code or NODL, DLPack bits, safetensors name or NULL, numpy
 *   typestr or NULL)
 *
 * DLPack: bool is kDLUInt 8 (DLPack 0.6 has no bool code); the quantized
 * types export their integer representation.  safetensors: no complex,
 * quantized, bits or fnuz float8 type (tsconvert refuses or skips those).
 * numpy: the bytes as stored
 * (little-endian once a big-endian archive's storage is swapped).
 */
#define TSL_DTYPES(X) \
	X(TSL_UINT8, "uint8", "Byte", 1, 1, kDLUInt, 8, "U8", "|u1") \
	X(TSL_INT8, "int8", "Char", 1, 1, kDLInt, 8, "I8", "|i1") \
	X(TSL_INT16, "int16", "Short", 2, 2, kDLInt, 16, "I16", "<i2") \
	X(TSL_INT32, "int32", "Int", 4, 4, kDLInt, 32, "I32", "<i4") \
	X(TSL_INT64, "int64", "Long", 8, 8, kDLInt, 64, "I64", "<i8") \
	X(TSL_FLOAT16, "float16", "Half", 2, 2, kDLFloat, 16, "F16", "<f2") \
	X(TSL_FLOAT32, "float32", "Float", 4, 4, kDLFloat, 32, "F32", "<f4") \
	X(TSL_FLOAT64, "float64", "Double", 8, 8, kDLFloat, 64, "F64", "<f8") \
	X(TSL_COMPLEX32, "complex32", "ComplexHalf", 4, 2, kDLComplex, 32, \
		NULL, NULL) \
	X(TSL_COMPLEX64, "complex64", "ComplexFloat", 8, 4, kDLComplex, 64, \
		NULL, "<c8") \
	X(TSL_COMPLEX128, "complex128", "ComplexDouble", 16, 8, kDLComplex, \
		128, NULL, "<c16") \
	X(TSL_BOOL, "bool", "Bool", 1, 1, kDLUInt, 8, "BOOL", "|b1") \
	X(TSL_QINT8, "qint8", "QInt8", 1, 1, kDLInt, 8, NULL, NULL) \
	X(TSL_QUINT8, "quint8", "QUInt8", 1, 1, kDLUInt, 8, NULL, NULL) \
	X(TSL_QINT32, "qint32", "QInt32", 4, 4, kDLInt, 32, NULL, NULL) \
	X(TSL_BFLOAT16, "bfloat16", "BFloat16", 2, 2, kDLBfloat, 16, "BF16", \
		NULL) \
	X(TSL_QUINT4X2, "quint4x2", "QUInt4x2", 1, 1, NODL, 0, NULL, NULL) \
	X(TSL_QUINT2X4, "quint2x4", "QUInt2x4", 1, 1, NODL, 0, NULL, NULL) \
	X(TSL_BITS1X8, "bits1x8", "Bits1x8", 1, 1, NODL, 0, NULL, NULL) \
	X(TSL_BITS2X4, "bits2x4", "Bits2x4", 1, 1, NODL, 0, NULL, NULL) \
	X(TSL_BITS4X2, "bits4x2", "Bits4x2", 1, 1, NODL, 0, NULL, NULL) \
	X(TSL_BITS8, "bits8", "Bits8", 1, 1, NODL, 0, NULL, NULL) \
	X(TSL_BITS16, "bits16", "Bits16", 2, 2, NODL, 0, NULL, NULL) \
	X(TSL_FLOAT8_E5M2, "float8_e5m2", "Float8_e5m2", 1, 1, NODL, 0, \
		"F8_E5M2", NULL) \
	X(TSL_FLOAT8_E4M3FN, "float8_e4m3fn", "Float8_e4m3fn", 1, 1, NODL, 0, \
		"F8_E4M3", NULL) \
	X(TSL_FLOAT8_E5M2FNUZ, "float8_e5m2fnuz", "Float8_e5m2fnuz", 1, 1, \
		NODL, 0, NULL, NULL) \
	X(TSL_FLOAT8_E4M3FNUZ, "float8_e4m3fnuz", "Float8_e4m3fnuz", 1, 1, \
		NODL, 0, NULL, NULL) \
	X(TSL_UINT16, "uint16", "UInt16", 2, 2, kDLUInt, 16, "U16", "<u2") \
	X(TSL_UINT32, "uint32", "UInt32", 4, 4, kDLUInt, 32, "U32", "<u4") \
	X(TSL_UINT64, "uint64", "UInt64", 8, 8, kDLUInt, 64, "U64", "<u8")

static const struct dtype_facts {
	const char *name;
	const char *storage;
	const char *safetensors;
	const char *numpy;
	uint8_t size;
	uint8_t swap;
	int8_t dl_code;
	uint8_t dl_bits;
} dtypes[] = {
#define ROW(e, name, storage, size, swap, dl, bits, st, np) \
	[e] = { name, storage, st, np, size, swap, dl, bits },
	TSL_DTYPES(ROW)
#undef ROW
};

/* One row per enum value, each at its own value: a dtype added to the
 * enum without a row (or a row out of order) does not compile. */
#define COUNT(e, ...) + 1
_Static_assert(0 TSL_DTYPES(COUNT) == TSL_DTYPE_COUNT,
	"TSL_DTYPES needs exactly one row per tsl_dtype value");
#undef COUNT
_Static_assert(sizeof dtypes / sizeof dtypes[0] == TSL_DTYPE_COUNT,
	"TSL_DTYPES rows must cover 0 .. TSL_DTYPE_COUNT - 1");

static bool known(int dtype)
{
	return dtype >= 0 && dtype < TSL_DTYPE_COUNT;
}

TSL_API const char *tsl_dtype_name(tsl_dtype dtype)
{
	return known((int)dtype) ? dtypes[dtype].name : "unknown";
}

TSL_API size_t tsl_dtype_size(tsl_dtype dtype)
{
	return known((int)dtype) ? dtypes[dtype].size : 0;
}

const char *tsl__dtype_storage_name(int dtype)
{
	return known(dtype) ? dtypes[dtype].storage : NULL;
}

size_t tsl__dtype_swap_width(int dtype)
{
	return known(dtype) ? dtypes[dtype].swap : 0;
}

bool tsl__dtype_dlpack(int dtype, uint8_t *code, uint8_t *bits)
{
	if (!known(dtype) || dtypes[dtype].dl_code == NODL)
		return false;
	*code = (uint8_t)dtypes[dtype].dl_code;
	*bits = dtypes[dtype].dl_bits;
	return true;
}

const char *tsl__dtype_safetensors(int dtype)
{
	return known(dtype) ? dtypes[dtype].safetensors : NULL;
}

const char *tsl__dtype_numpy(int dtype)
{
	return known(dtype) ? dtypes[dtype].numpy : NULL;
}

/* s[0..n) equals the literal (first byte first: most rows fail there) */
static bool eq(const char *s, size_t n, const char *lit)
{
	return n && s[0] == lit[0] && strlen(lit) == n &&
		memcmp(s, lit, n) == 0;
}

int tsl__dtype_from_storage_class(const char *s, size_t n)
{
	if (n <= 7 || memcmp(s + n - 7, "Storage", 7))
		return -1;
	for (int d = 0; d < TSL_DTYPE_COUNT; d++)
		if (eq(s, n - 7, dtypes[d].storage))
			return d;
	return -1;
}

int tsl__dtype_from_name(const char *s, size_t n)
{
	for (int d = 0; d < TSL_DTYPE_COUNT; d++)
		if (eq(s, n, dtypes[d].name))
			return d;
	return -1;
}
