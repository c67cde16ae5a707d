/*
 * tsload_dlpack.h - hand tensors to other frameworks through DLPack
 * (Debian's libdlpack-dev, DLPack 0.6+), zero-copy.
 */
#ifndef TSLOAD_DLPACK_H
#define TSLOAD_DLPACK_H

#include <dlpack/dlpack.h>
#include <tsload.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Export a strided tensor as a DLManagedTensor.  The storage is
 * materialized on the tensor's target device first (tsl_storage_data or
 * tsl_storage_device_data); `data` then points at the view's first
 * element in the storage's bytes, without a copy, and `byte_offset` is 0,
 * as PyTorch's own exports (torch 1.13's from_dlpack ignores byte_offset).
 * The managed tensor holds a
 * reference to the model (and so to the archive's mapping): the model's
 * memory stays valid until the consumer calls `deleter`, even if
 * tsl_model_free() was called before.
 *
 * Type mapping: float16/32/64 -> kDLFloat, bfloat16 -> kDLBfloat,
 * int8/16/32/64 -> kDLInt, uint8/16/32/64 -> kDLUInt, bool -> kDLUInt 8
 * bits (DLPack 0.6 has no bool code), complex32/64/128 -> kDLComplex,
 * quantized types -> their integer representation (qint8 -> kDLInt 8,
 * quint8 -> kDLUInt 8, qint32 -> kDLInt 32; scale and zero point are not
 * carried, nor are the conj/neg bits).  Devices: cpu -> kDLCPU, cuda:N -> kDLCUDA N; other devices and
 * sparse or packed (quint4x2...) tensors are TSL_EUNSUPPORTED.
 *
 * CPU data from a stored record lies in a read-only mapping: the consumer
 * must not write to it (numpy arrays made from it must be treated as
 * read-only).  Use tsl_storage_copy for writable data.
 *
 * @param[out] out  the managed tensor; call (*out)->deleter(*out) once
 * Thread-safety: safe.
 */
TSL_API int tsl_tensor_to_dlpack(const tsl_tensor *t, DLManagedTensor **out,
	tsl_error *err);

#ifdef __cplusplus
}
#endif
#endif
