#!/usr/bin/python3
"""Write the synthetic legacy TorchScript archives (PyTorch 1.0-1.2 layout,
FORMAT.md section 12) of tests/data/legacy/.

No PyTorch release that writes this format runs on Debian today, so these
are made by hand, record by record, as torch 1.1/1.2's export.cpp laid them
out: model.json (protobuf JSON mapping of torch.ModelDef, int64 as strings),
attributes.pkl (a tuple, or a list for protoVersion 2, whose tensors are
tensor-table references), tensors/<n> (each the whole storage), and
code/<module path>.py.  The real corpus (../shared/corpus/real) holds the
archives an actual PyTorch 1.0-1.2 wrote.

    /usr/bin/python3 tests/gen/gen_legacy.py [OUTDIR]   # default tests/data/legacy
    /usr/bin/python3 tests/gen/legacy_expected.py ...    # then the expected values
"""
import json
import os
import struct
import sys
import zipfile

import numpy as np

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "data", "legacy")


# ---- a tiny pickler for the opcodes torch 1.1/1.2 wrote ----
def p_int(i):
    if 0 <= i < 256:
        return b"K" + bytes([i])
    return b"J" + struct.pack("<i", i)


def p_str(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def p_float(f):
    return b"G" + struct.pack(">d", f)


def p_tuple(items):
    return b"(" + b"".join(items) + b"t"


def p_list(items):
    return b"]" + (b"(" + b"".join(items) + b"e" if items else b"")


def p_dict(pairs):
    return b"}" + (b"(" + b"".join(k + v for k, v in pairs) + b"u"
                   if pairs else b"")


def tid_11(i):      # torch 1.1: __main__.TensorID, NEWOBJ, BUILD
    return b"c__main__\nTensorID\n)\x81" + p_int(i) + b"b"


def intlist_11(xs):
    return b"c__main__\nIntList\n)\x81" + p_list([p_int(x) for x in xs]) + b"b"


def tid_12(i):      # torch 1.2: build_tensor_from_id REDUCE
    return (b"ctorch.jit._pickle\nbuild_tensor_from_id\n" +
            p_tuple([p_int(i)]) + b"R")


def intlist_12(xs):
    return (b"ctorch.jit._pickle\nbuild_intlist\n" +
            p_tuple([p_list([p_int(x) for x in xs])]) + b"R")


def pickle(top):
    return b"\x80\x02" + top + b"."


# ---- tensors ----
class Table:
    def __init__(self):
        self.defs = []
        self.records = {}

    def storage(self, arr):
        key = "tensors/%d" % len(self.defs)
        self.records[key] = np.ascontiguousarray(arr).astype(
            arr.dtype.newbyteorder("<")).tobytes()
        return key

    def add(self, dtype_name, dims, strides, key, offset=0, rg=False,
            device="cpu", numbers=False, **extra):
        d = {}
        if dims:                      # protobuf leaves empty repeated out
            d["dims"] = [x if numbers else str(x) for x in dims]
            d["strides"] = [x if numbers else str(x) for x in strides]
        d["offset"] = offset if numbers else str(offset)
        d["requiresGrad"] = rg
        d["dataType"] = dtype_name
        d["data"] = {"key": key}
        d["device"] = device
        d.update(extra)
        self.defs.append(d)
        return len(self.defs) - 1

    def new(self, dtype_name, arr, **kw):
        key = self.storage(arr)
        dims = list(arr.shape)
        strides = []
        s = 1
        for n in reversed(dims):
            strides.insert(0, s)
            s *= n
        return self.add(dtype_name, dims, strides, key, **kw)


def write(name, prefix, model, records, code):
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        def put(rel, data):
            zi = zipfile.ZipInfo(prefix + "/" + rel, (1980, 1, 1, 0, 0, 0))
            z.writestr(zi, data)
        put("version", b"1\n")
        for rel, src in code.items():
            put(rel, src.encode())
        for rel, data in records.items():
            put(rel, data)
        put("model.json", json.dumps(model, separators=(",", ":")).encode())
    print("wrote", path)


def param(name, tid, buf=False):
    d = {"name": name, "tensorId": str(tid)}
    if buf:
        d["isBuffer"] = True
    return d


def attr(name, typ, i):
    return {"type": typ, "name": name, "id": str(i)}


def tree():
    """torch 1.1 (protoVersion 3): nested modules, parameters and buffers,
    storages shared by views, many dtypes, TensorID attributes."""
    rng = np.random.default_rng(7)
    t = Table()
    w = t.new("FLOAT", rng.standard_normal((3, 4)).astype(np.float32),
              rg=True)
    b = t.new("FLOAT", rng.standard_normal(3).astype(np.float32), rg=True)
    rm = t.new("FLOAT", np.arange(3, dtype=np.float32))
    nbt = t.new("INT64", np.array(42, dtype=np.int64))          # 0-d
    wt = t.add("FLOAT", [4, 3], [1, 4], t.defs[w]["data"]["key"])
    sl = t.add("FLOAT", [2, 2], [4, 1], t.defs[w]["data"]["key"], offset=5)
    f64 = t.new("DOUBLE", rng.standard_normal((2, 2)))
    f16 = t.new("FLOAT16", rng.standard_normal(5).astype(np.float16))
    u8 = t.new("BYTE", np.array([1, 2, 250, 7], dtype=np.uint8))
    bo = t.new("BOOL", np.array([True, False, True]))
    i32 = t.new(2, np.arange(6, dtype=np.int32).reshape(2, 3), numbers=True)
    i16 = t.new("INT16", np.array([-3, 300], dtype=np.int16))
    i8 = t.new("INT8", np.array([-128, 127], dtype=np.int8))
    empty = t.add("FLOAT", [0], [1], t.storage(np.zeros(0, np.float32)))
    expd = t.add("FLOAT", [3, 4], [1, 0], t.defs[b]["data"]["key"])
    inner = t.new("FLOAT", rng.standard_normal((2, 3)).astype(np.float32),
                  rg=True)
    attrs = pickle(p_tuple([
        p_dict([(p_str("a"), p_int(1)), (p_str("b"), p_int(300))]),
        intlist_11([1, 2, 3]),
        p_float(0.25),
        p_str("hello"),
        tid_11(bo),
        p_list([tid_11(f16), tid_11(u8)]),
        b"\x88",            # training: True
        b"\x89",            # bn.training: False
    ]))
    root = {
        "torchscriptArena": {"key": "code/legacy_tree.py"},
        "name": "legacy_tree",
        "optimize": True,
        "submodules": [
            {"torchscriptArena": {"key": "code/legacy_tree_fc1.py"},
             "name": "fc1", "optimize": True,
             "parameters": [param("weight", w), param("bias", b)]},
            {"torchscriptArena": {"key": "code/legacy_tree_bn.py"},
             "name": "bn", "optimize": True,
             "parameters": [param("running_mean", rm, True),
                            param("num_batches_tracked", nbt, True)],
             "attributes": [attr("training", "bool", 7)]},
            {"name": "seq", "optimize": True, "submodules": [
                {"name": "0", "optimize": True,
                 "parameters": [param("weight", inner)]}]},
        ],
        "parameters": [param("wt", wt), param("sl", sl, True),
                       param("f64", f64, True), param("i32", i32, True),
                       param("i16", i16, True), param("i8", i8, True),
                       param("empty", empty, True),
                       param("expanded", expd, True)],
        "attributes": [attr("cfg", "Dict[str, int]", 0),
                       attr("sizes", "List[int]", 1),
                       attr("scale", "float", 2),
                       attr("label", "str", 3),
                       attr("mask", "Tensor", 4),
                       attr("extra", "List[Tensor]", 5),
                       attr("training", "bool", 6)],
    }
    model = {"protoVersion": "3", "mainModule": root,
             "producerName": "pytorch", "producerVersion": "1.0",
             "tensors": t.defs}
    recs = dict(t.records)
    recs["attributes.pkl"] = attrs
    code = {
        "code/legacy_tree.py": "op_version_set = 1\n"
        "def forward(self,\n    x: Tensor) -> Tensor:\n"
        "  _0 = (self.fc1).forward(x, )\n"
        "  return torch.add(_0, CONSTANTS.c0, alpha=1)\n"
        "def helper(self,\n    y: Tensor,\n    n: int=2) -> List[Tensor]:\n"
        "  return [y, y]\n",
        "code/legacy_tree_fc1.py": "op_version_set = 1\n"
        "def forward(self,\n    input: Tensor) -> Tensor:\n"
        "  return torch.addmm(self.bias, input, torch.t(self.weight), "
        "beta=1, alpha=1)\n",
        "code/legacy_tree_bn.py": "op_version_set = 1\n"
        "def forward(self,\n    input: Tensor) -> Tensor:\n"
        "  return input\n",
    }
    write("legacy-tree.pt", "legacy_tree", model, recs, code)


def quant():
    """torch 1.2 (protoVersion 5): build_tensor_from_id, a quantized tensor,
    __getstate__ state, a tensor saved on cuda:0, a debug arena."""
    t = Table()
    q = t.new("UINT8", np.array([[0, 3, 255], [7, 8, 9]], dtype=np.uint8),
              isQuantized=True, scale=0.5, zeroPoint="3")
    qi = t.new("INT32", np.array([1, -2], dtype=np.int32),
               isQuantized=True, scale=1.5e-3, zeroPoint="0")
    g = t.new("FLOAT", np.linspace(0, 1, 6, dtype=np.float32), device="cuda:0")
    lin = t.new("DOUBLE", np.array([1.0, 2.0, 3.0]))
    attrs = pickle(p_tuple([
        p_tuple([tid_12(q), intlist_12([4, 5]), p_str("state")]),
        tid_12(lin),
        b"N",
        b"\x88",
    ]))
    root = {
        "torchscriptArena": {"key": "code/legacy_q.py"},
        "torchscriptDebugArena": {"key": "debug/legacy_q.pkl"},
        "name": "legacy_q", "optimize": True,
        "parameters": [param("gpu", g, True), param("qi", qi, True)],
        "attributes": [attr("lin", "Tensor", 1), attr("opt", "Optional[int]", 2),
                       attr("training", "bool", 3)],
        "getStateAttributeId": "0",
    }
    model = {"protoVersion": "5", "mainModule": root,
             "producerName": "pytorch", "producerVersion": "1.0",
             "tensors": t.defs}
    recs = dict(t.records)
    recs["attributes.pkl"] = attrs
    recs["debug/legacy_q.pkl"] = pickle(p_tuple([]))
    code = {"code/legacy_q.py": "op_version_set = 1\n"
            "def __getstate__(self) -> Tuple[Tensor, List[int], str]:\n"
            "  return (self.lin, [4, 5], \"state\")\n"
            "def __setstate__(self,\n"
            "    state: Tuple[Tensor, List[int], str]) -> None:\n"
            "  return None\n"
            "def forward(self,\n    x: Tensor) -> Tensor:\n"
            "  return x\n"}
    write("legacy-q.pt", "legacy_q", model, recs, code)


def plain():
    """protoVersion 2: attributes.pkl a list; an attribute with id -1; an
    attribute that repeats a buffer's name (skipped); no code arena."""
    t = Table()
    a = t.new("FLOAT", np.array([1.5, -2.5], dtype=np.float32))
    attrs = pickle(p_list([tid_11(a), p_int(5)]))
    root = {"name": "legacy_plain", "optimize": False,
            "parameters": [param("buf", a, True)],
            "attributes": [attr("buf", "Tensor", 0),
                           attr("count", "int", 1),
                           attr("nothing", "NoneType", -1)]}
    model = {"protoVersion": "2", "mainModule": root,
             "producerName": "pytorch", "producerVersion": "1.0",
             "tensors": t.defs}
    recs = dict(t.records)
    recs["attributes.pkl"] = attrs
    write("legacy-plain.pt", "legacy_plain", model, recs, {})


if __name__ == "__main__":
    tree()
    quant()
    plain()
