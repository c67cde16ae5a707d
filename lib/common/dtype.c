/* dtype.c - names and sizes of PyTorch's scalar types (used by every
 * layer: the pickle machine, storages, tensors). */
#include "config.h"

#include "common.h"

static const struct {
	const char *name;
	uint8_t size;
} dtypes[TSL_DTYPE_COUNT] = {
	[TSL_UINT8] = { "uint8", 1 }, [TSL_INT8] = { "int8", 1 },
	[TSL_INT16] = { "int16", 2 }, [TSL_INT32] = { "int32", 4 },
	[TSL_INT64] = { "int64", 8 }, [TSL_FLOAT16] = { "float16", 2 },
	[TSL_FLOAT32] = { "float32", 4 }, [TSL_FLOAT64] = { "float64", 8 },
	[TSL_COMPLEX32] = { "complex32", 4 },
	[TSL_COMPLEX64] = { "complex64", 8 },
	[TSL_COMPLEX128] = { "complex128", 16 }, [TSL_BOOL] = { "bool", 1 },
	[TSL_QINT8] = { "qint8", 1 }, [TSL_QUINT8] = { "quint8", 1 },
	[TSL_QINT32] = { "qint32", 4 }, [TSL_BFLOAT16] = { "bfloat16", 2 },
	[TSL_QUINT4X2] = { "quint4x2", 1 }, [TSL_QUINT2X4] = { "quint2x4", 1 },
	[TSL_BITS1X8] = { "bits1x8", 1 }, [TSL_BITS2X4] = { "bits2x4", 1 },
	[TSL_BITS4X2] = { "bits4x2", 1 }, [TSL_BITS8] = { "bits8", 1 },
	[TSL_BITS16] = { "bits16", 2 },
	[TSL_FLOAT8_E5M2] = { "float8_e5m2", 1 },
	[TSL_FLOAT8_E4M3FN] = { "float8_e4m3fn", 1 },
	[TSL_FLOAT8_E5M2FNUZ] = { "float8_e5m2fnuz", 1 },
	[TSL_FLOAT8_E4M3FNUZ] = { "float8_e4m3fnuz", 1 },
	[TSL_UINT16] = { "uint16", 2 }, [TSL_UINT32] = { "uint32", 4 },
	[TSL_UINT64] = { "uint64", 8 },
};

TSL_API const char *tsl_dtype_name(tsl_dtype dtype)
{
	return (unsigned)dtype < TSL_DTYPE_COUNT ? dtypes[dtype].name : NULL;
}

TSL_API size_t tsl_dtype_size(tsl_dtype dtype)
{
	return (unsigned)dtype < TSL_DTYPE_COUNT ? dtypes[dtype].size : 0;
}

