#!/usr/bin/python3
"""Expected values for legacy TorchScript archives (PyTorch 1.0-1.2,
model.json), computed from the raw archive with zipfile + json + numpy only
(no tsload, no PyTorch: no PyTorch today reads these files).

    /usr/bin/python3 tests/gen/legacy_expected.py OUTDIR ARCHIVE...

writes OUTDIR/<basename of ARCHIVE>.json for each archive, holding
  root_type  "__torch__.<mainModule name>"
  modules    {dotted path: type}, the types "__torch__.<path of names>"
  methods    {dotted path: sorted top-level def names of its code file}
  tensors    the model.json tensor table, in order: dtype, shape, stride,
             storage_offset, requires_grad, saved_device, record, and xxh3:
             XXH3-64 of the view's elements in row-major order as
             little-endian bytes (the view built with numpy's as_strided
             over the whole record)
  slots      {dotted name: [kind, tensor index]} for parameters and buffers
Used for tests/data/real-legacy (the shared corpus) and tests/data/legacy
(gen_legacy.py's synthetic archives).
"""
import json
import os
import re
import sys
import zipfile

import numpy as np
import xxhash

# caffe2 TensorProto.DataType -> (numpy dtype, tsload dtype name)
DT = {"FLOAT": ("<f4", "float32"), "INT32": ("<i4", "int32"),
      "BYTE": ("u1", "uint8"), "BOOL": ("?", "bool"),
      "UINT8": ("u1", "uint8"), "INT8": ("i1", "int8"),
      "UINT16": ("<u2", "uint16"), "INT16": ("<i2", "int16"),
      "INT64": ("<i8", "int64"), "FLOAT16": ("<f2", "float16"),
      "DOUBLE": ("<f8", "float64")}
NUM = {1: "FLOAT", 2: "INT32", 3: "BYTE", 5: "BOOL", 6: "UINT8", 7: "INT8",
       8: "UINT16", 9: "INT16", 10: "INT64", 12: "FLOAT16", 13: "DOUBLE"}
QNAME = {"uint8": "quint8", "int8": "qint8", "int32": "qint32"}


def expected(path):
    z = zipfile.ZipFile(path)
    names = z.namelist()
    mj = [n for n in names if n.endswith("/model.json") and n.count("/") == 1]
    assert len(mj) == 1, "one model.json"
    prefix = mj[0][:-len("model.json")]
    model = json.loads(z.read(mj[0]))
    tensors = []
    for td in model.get("tensors", []):
        dt = td["dataType"]
        dt = NUM[dt] if isinstance(dt, int) else dt
        npdt, name = DT[dt]
        if td.get("isQuantized"):
            name = QNAME[name]
        dims = [int(x) for x in td.get("dims", [])]
        strides = [int(x) for x in td.get("strides", [])]
        off = int(td.get("offset", 0))
        raw = z.read(prefix + td["data"]["key"])
        base = np.frombuffer(raw, dtype=npdt)
        if 0 in dims:
            data = b""
        else:
            item = base.itemsize
            view = np.lib.stride_tricks.as_strided(
                base[off:], shape=dims, strides=[s * item for s in strides])
            data = np.ascontiguousarray(view).tobytes()
        tensors.append({
            "dtype": name, "shape": dims, "stride": strides,
            "storage_offset": off,
            "requires_grad": bool(td.get("requiresGrad", False)),
            "saved_device": td.get("device", "cpu"),
            "record": td["data"]["key"],
            "xxh3": "%016x" % xxhash.xxh3_64_intdigest(data)})
    modules, methods, slots = {}, {}, {}

    def walk(md, path, typ):
        modules[path] = typ
        key = md.get("torchscriptArena", {}).get("key")
        defs = []
        if key:
            src = z.read(prefix + key).decode()
            defs = sorted(re.findall(r"^def ([A-Za-z_][A-Za-z0-9_]*)\(",
                                     src, re.M))
        methods[path] = defs
        for sub in md.get("submodules", []):
            walk(sub, (path + "." if path else "") + sub["name"],
                 typ + "." + sub["name"])
        for p in md.get("parameters", []):
            slots[(path + "." if path else "") + p["name"]] = [
                "buffer" if p.get("isBuffer") else "parameter",
                int(p["tensorId"])]

    root = model["mainModule"]
    walk(root, "", "__torch__." + root["name"])
    return {"root_type": "__torch__." + root["name"], "modules": modules,
            "methods": methods, "tensors": tensors, "slots": slots}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for a in sys.argv[2:]:
        dst = os.path.join(out, os.path.basename(a) + ".json")
        with open(dst, "w") as f:
            json.dump(expected(a), f, indent=1, sort_keys=True)
            f.write("\n")
        print("wrote", dst)


if __name__ == "__main__":
    main()
