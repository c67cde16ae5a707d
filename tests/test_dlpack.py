#!/usr/bin/env python3
"""DLPack round trip: tsload -> DLManagedTensor -> numpy.from_dlpack.

Loads libtsload through ctypes, exports every tensor of a fixture and
checks that numpy sees the same memory (no copy), the right values (the
xxh3 of libtorch's dump) and that the model's memory outlives
tsl_model_free while numpy holds the array.  Exit 77 (skip) when numpy,
xxhash or the shared library are missing.
"""
import ctypes
import json
import os
import sys

try:
    import numpy as np
    import xxhash
except ImportError as e:
    print(f"skip: {e}")
    sys.exit(77)

build = os.environ.get("TSL_BUILDDIR", ".")
src = os.environ.get("TSL_SRCDIR", ".")
so = os.path.join(build, "lib", ".libs", "libtsload.so")
if not os.path.exists(so):
    print(f"skip: {so} not built (static-only build)")
    sys.exit(77)
lib = ctypes.CDLL(so)


class Err(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("sys_errno", ctypes.c_int),
                ("offset", ctypes.c_uint64), ("record", ctypes.c_char * 128),
                ("message", ctypes.c_char * 256)]


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8),
                ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", DLDevice),
                ("ndim", ctypes.c_int32), ("dtype", DLDataType),
                ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)),
                ("byte_offset", ctypes.c_uint64)]


class DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p),
                ("deleter", ctypes.c_void_p)]


P = ctypes.c_void_p
lib.tsl_load_path.argtypes = [ctypes.POINTER(P), ctypes.c_char_p, P, ctypes.POINTER(Err)]
lib.tsl_model_root.argtypes = [P]
lib.tsl_model_root.restype = P
lib.tsl_model_free.argtypes = [P]
lib.tsl_tensor_to_dlpack.argtypes = [P, ctypes.POINTER(P), ctypes.POINTER(Err)]
lib.tsl_tensor_data.argtypes = [P, ctypes.POINTER(P), ctypes.POINTER(Err)]
CB = ctypes.CFUNCTYPE(ctypes.c_int, P, ctypes.c_char_p, P)
lib.tsl_module_state_dict.argtypes = [P, CB, P]

PyCapsule_New = ctypes.pythonapi.PyCapsule_New
PyCapsule_New.restype = ctypes.py_object
PyCapsule_New.argtypes = [P, ctypes.c_char_p, P]


class Export:
    """What numpy.from_dlpack wants: __dlpack__ and __dlpack_device__."""

    def __init__(self, mt):
        self.mt = mt

    def __dlpack__(self, stream=None):
        return PyCapsule_New(self.mt, b"dltensor", None)

    def __dlpack_device__(self):
        return (1, 0)


def expected_hashes(dump):
    """name -> xxh3 for parameters and buffers, from libtorch's dump."""
    out = {}

    def walk(mod, prefix):
        for a in mod["module"]["attributes"]:
            v = a.get("value")
            if a["kind"] in ("parameter", "buffer") and isinstance(v, dict) \
                    and v.get("tensor"):
                out[prefix + a["name"]] = v["tensor"]["xxh3"]
            elif a["kind"] == "module":
                walk(v, prefix + a["name"] + ".")
    walk(dump["root"], "")
    return out


def main():
    name = "good-dtypes.pt" if len(sys.argv) < 2 else sys.argv[1]
    path = os.path.join(src, "tests", "data", name)
    want = expected_hashes(json.load(open(path + ".json")))
    err = Err()
    model = P()
    assert lib.tsl_load_path(ctypes.byref(model), path.encode(), None,
                             ctypes.byref(err)) == 0, err.message
    tensors = []

    @CB
    def collect(payload, key, t):
        tensors.append((key.decode(), t))
        return 0

    lib.tsl_module_state_dict(lib.tsl_model_root(model), collect, None)
    arrays = []
    passed = failed = 0
    for key, t in tensors:
        mt = P()
        rc = lib.tsl_tensor_to_dlpack(t, ctypes.byref(mt), ctypes.byref(err))
        if rc != 0:
            # bfloat16 / complex32 / bool have no numpy DLPack import
            print(f"  {key}: not exported ({err.message.decode()})")
            continue
        m = ctypes.cast(mt, ctypes.POINTER(DLManagedTensor)).contents
        try:
            arr = np.from_dlpack(Export(mt))
        except (TypeError, BufferError, RuntimeError) as e:
            print(f"  {key}: numpy refuses dtype code {m.dl_tensor.dtype.code} "
                  f"bits {m.dl_tensor.dtype.bits}: {e}")
            # numpy did not take ownership: release it ourselves
            ctypes.CFUNCTYPE(None, P)(m.deleter)(mt)
            continue
        ptr = P()
        assert lib.tsl_tensor_data(t, ctypes.byref(ptr), ctypes.byref(err)) == 0
        ok = True
        # as PyTorch exports: data at the view, byte_offset 0 (torch 1.13's
        # from_dlpack ignores byte_offset)
        if m.dl_tensor.byte_offset != 0 or (
                arr.size and m.dl_tensor.data != ptr.value):
            print(f"FAIL {key}: data {m.dl_tensor.data or 0:#x} byte_offset "
                  f"{m.dl_tensor.byte_offset}, the view starts at "
                  f"{ptr.value or 0:#x}")
            ok = False
        if arr.size and arr.__array_interface__["data"][0] != ptr.value:
            print(f"FAIL {key}: numpy copied (array at "
                  f"{arr.__array_interface__['data'][0]:#x}, tensor at {ptr.value:#x})")
            ok = False
        h = xxhash.xxh3_64_hexdigest(np.ascontiguousarray(arr).tobytes())
        if key in want and h != want[key]:
            print(f"FAIL {key}: xxh3 {h}, libtorch says {want[key]}")
            ok = False
        arrays.append((key, arr, h))
        passed += ok
        failed += not ok
    # the arrays must outlive the model: the exports hold it
    lib.tsl_model_free(model)
    for key, arr, h in arrays:
        if xxhash.xxh3_64_hexdigest(np.ascontiguousarray(arr).tobytes()) != h:
            print(f"FAIL {key}: data changed after tsl_model_free")
            failed += 1
    del arrays
    if passed == 0:
        print("FAIL: no tensor went through numpy")
        failed += 1
    print(f"dlpack: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
