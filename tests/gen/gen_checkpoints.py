#!/usr/bin/python3
"""Write the torch.save checkpoint fixtures tests/data/ckpt-*.pt and their
expected values tests/data/ckpt-*.pt.json (checked by tests/test_checkpoint.sh).

Run with Debian's Python (PyTorch 1.13 from python3-torch, torchvision 0.14,
python3-xxhash), never a pyenv python:

    /usr/bin/python3 tests/gen/gen_checkpoints.py [OUTDIR]   # default tests/data

Every checkpoint is written by a real torch.save (zip format; the record
prefix is the file's basename without extension).  The expected file is
computed from what torch.load gives back, not from the saved objects:

    {"file": "ckpt-NAME.pt", "kind": "torch.save",
     "leaves": [LEAF, ...]}                 # depth-first, in the dump's order

LEAF is one of
    {"path": P, "dtype", "shape", "stride", "storage_offset",
     "requires_grad", "storage", "xxh3"}    # a strided tensor
    {"path": P, "layout": "sparse_coo", "dtype", "shape", "requires_grad"}
                                            # then P.indices and P.values
    {"path": P, "value": V}                 # None, bool, int, float, str
    {"path": P, "bytes": HEX}               # bytes / bytearray

P is the dotted path from the root: dict keys (str() of int keys), list and
tuple indices; "" is the root itself.  "xxh3" is DUMP.md's tensor hash:
XXH3-64 of the elements in row-major order as little-endian bytes (bfloat16
as its 16-bit pattern, complex as (re, im) pairs).  "storage" numbers the
storages in the order the walk first meets them (DUMP.md's rule), so views
sharing a storage carry the same number.

A negative case has {"file", "error": [TEXT, ...]} instead of "leaves":
tsinfo must refuse it (exit 1..125) with every TEXT in its message.

Deterministic: every fixture reseeds the RNG; torch 1.13 writes no
serialization id, so the same run makes the same bytes.
"""
import collections
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import xxhash

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "data")
OUT = os.path.normpath(OUT)

FIXTURES = []


def fixture(fn):
    FIXTURES.append(fn)
    return fn


def seed():
    torch.manual_seed(1234)


# ------------------------------------------------------------ expectations

DTYPES = {
    torch.float32: "float32", torch.float64: "float64",
    torch.float16: "float16", torch.bfloat16: "bfloat16",
    torch.complex64: "complex64", torch.complex128: "complex128",
    torch.uint8: "uint8", torch.int8: "int8", torch.int16: "int16",
    torch.int32: "int32", torch.int64: "int64", torch.bool: "bool",
}


def tensor_bytes(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    a = t.numpy()
    # little-endian element bytes, row-major (complex: (re, im) pairs)
    if a.dtype.byteorder == ">":
        a = a.byteswap().newbyteorder()
    return a.tobytes(order="C")


def xxh3(t):
    return "%016x" % xxhash.xxh3_64_intdigest(tensor_bytes(t))


class Walker:
    def __init__(self):
        self.leaves = []
        self.storages = {}      # storage key -> number

    def storage_id(self, t):
        # the StorageImpl's address: views loaded by torch.load share it
        # (1.13: TypedStorage._storage is the UntypedStorage)
        st = t.storage()
        key = getattr(getattr(st, "_storage", st), "_cdata", None)
        if key is None:
            key = (st.data_ptr(), st.nbytes())
        if key not in self.storages:
            self.storages[key] = len(self.storages)
        return self.storages[key]

    def tensor(self, path, t):
        if t.layout == torch.sparse_coo:
            self.leaves.append({
                "path": path, "layout": "sparse_coo",
                "dtype": DTYPES[t.dtype], "shape": list(t.shape),
                "requires_grad": t.requires_grad})
            self.tensor(join(path, "indices"), t._indices())
            self.tensor(join(path, "values"), t._values())
            return
        assert t.layout == torch.strided, t.layout
        self.leaves.append({
            "path": path, "dtype": DTYPES[t.dtype], "shape": list(t.shape),
            "stride": list(t.stride()),
            "storage_offset": t.storage_offset(),
            "requires_grad": t.requires_grad,
            "storage": self.storage_id(t), "xxh3": xxh3(t)})

    def walk(self, path, v):
        if isinstance(v, torch.Tensor):
            self.tensor(path, v)
        elif isinstance(v, dict):
            for i, (k, x) in enumerate(v.items()):
                # tsload's names: a str key as it is, unless it holds a
                # NUL; None, bool, int and float keys as str() prints them;
                # anything else by its position
                if isinstance(k, str) and "\0" not in k:
                    name = k
                elif k is None or isinstance(k, (bool, int, float)):
                    name = str(k)
                else:
                    name = str(i)
                self.walk(join(path, name), x)
        elif isinstance(v, (list, tuple)):
            for i, x in enumerate(v):
                self.walk(join(path, str(i)), x)
        elif isinstance(v, (bytes, bytearray)):
            self.leaves.append({"path": path, "bytes": bytes(v).hex()})
        elif v is None or isinstance(v, (bool, int, float, str)):
            self.leaves.append({"path": path, "value": v})
        else:
            raise TypeError("%s: %r" % (path, type(v)))


def join(path, k):
    return k if path == "" else path + "." + k


def save(name, obj, **kw):
    path = os.path.join(OUT, name)
    torch.save(obj, path, **kw)
    back = torch.load(path, map_location="cpu")
    w = Walker()
    w.walk("", back)
    exp = {"file": name, "kind": "torch.save", "leaves": w.leaves}
    write_json(path + ".json", exp)
    return path


def write_json(path, exp):
    """One leaf a line: reviewable diffs."""
    with open(path, "w") as f:
        f.write("{")
        for i, (k, v) in enumerate(exp.items()):
            f.write(",\n " if i else "")
            f.write(json.dumps(k) + ": ")
            if k == "leaves":
                f.write("[\n  " + ",\n  ".join(json.dumps(x) for x in v)
                        + "\n ]")
            else:
                f.write(json.dumps(v))
        f.write("}\n")


def save_negative(name, obj, error, **kw):
    path = os.path.join(OUT, name)
    torch.save(obj, path, **kw)
    write_json(path + ".json", {"file": name, "error": error})
    return path


# ---------------------------------------------------------------- models

class Small(nn.Module):
    """A little conv net: conv, batch norm (with num_batches_tracked),
    a nested Sequential, a linear layer."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.block = nn.Sequential(nn.Conv2d(4, 4, 1, bias=False), nn.ReLU(),
                                   nn.Linear(4, 3))
        self.register_buffer("scale", torch.tensor(0.5, dtype=torch.float64))


def small_sd():
    seed()
    m = Small()
    m.bn.running_mean.uniform_()
    m.bn.running_var.uniform_(0.5, 1.5)
    m.bn.num_batches_tracked.fill_(5)
    return m.state_dict()


# --------------------------------------------------------------- fixtures

@fixture
def mobilenet_sd():
    """(a) a torchvision state dict: an OrderedDict with _metadata (in
    half precision, to stay under 300 KB; num_batches_tracked stay int64)."""
    import torchvision
    seed()
    m = torchvision.models.mobilenet_v3_small(width_mult=0.25,
                                             reduced_tail=True, num_classes=10)
    m.eval()
    m.half()
    seed()
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.9, 1.1)
            mod.num_batches_tracked.fill_(3)
    save("ckpt-mobilenet-sd.pt", m.state_dict())


@fixture
def resnet_sd():
    """(a) a torchvision ResNet state dict (BasicBlock, [1, 1, 1, 1]) kept
    small by storing it in float16."""
    import torchvision
    from torchvision.models.resnet import BasicBlock, ResNet
    seed()
    m = ResNet(BasicBlock, [1, 1, 1, 1], num_classes=10)
    sd = collections.OrderedDict(
        (k, v.half() if v.is_floating_point() else v)
        for k, v in m.layer1.state_dict().items())
    sd._metadata = m.layer1.state_dict()._metadata
    save("ckpt-resnet-layer1-sd.pt", sd)


def nested_obj():
    seed()
    model = Small()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    opt.step()
    return {
        "model": small_sd(),
        "optimizer": {"step": 3, "lr": [0.1, 0.01]},
        "sgd": opt.state_dict(),      # int keys, param_groups, None, bools
        "epoch": 7,
        "name": "x",
        "loss": 0.125,
        "best": -1.5e-05,
        "done": False,
        "none": None,
        "big": 2 ** 40 + 3,
        "neg": -(2 ** 63),
        "unicode": "caf\u00e9 \u2713",
        "cl\u00e9": 1,
        "pair": (1, "two", 3.0),
    }


@fixture
def nested():
    """(b) a nested dict: model, optimizer, scalars (protocol 2)."""
    save("ckpt-nested.pt", nested_obj())


@fixture
def nested_p4():
    """(c) the same with pickle_protocol=4 (FRAME, MEMOIZE, STACK_GLOBAL,
    SHORT_BINUNICODE, SHORT_BINBYTES), plus bytes."""
    obj = nested_obj()
    obj["raw"] = b"\x00\x01abc\xff"
    obj["long_str"] = "y" * 300
    save("ckpt-nested-p4.pt", obj, pickle_protocol=4)


@fixture
def nested_p5():
    """(d) pickle_protocol=5, plus bytes and a bytearray (BYTEARRAY8)."""
    obj = nested_obj()
    obj["raw"] = b"\x00\x01abc\xff"
    obj["buf"] = bytearray(b"\x10\x20\x30")
    save("ckpt-nested-p5.pt", obj, pickle_protocol=5)


@fixture
def bytes_p2():
    """bytes in protocol 2: GLOBAL _codecs encode (str, 'latin1')."""
    seed()
    save("ckpt-bytes-p2.pt", {"raw": b"\x00\x01abc\xff", "t": torch.arange(4)})


@fixture
def dtypes():
    """(e) tensors of many dtypes, views sharing a storage, non-contiguous
    views, 0-dim and empty tensors."""
    seed()
    base = torch.randn(4, 6)
    obj = collections.OrderedDict()
    obj["float32"] = torch.randn(3, 4)
    obj["float64"] = torch.randn(2, 3, dtype=torch.float64)
    obj["float16"] = torch.randn(5).half()
    obj["bfloat16"] = torch.randn(2, 5).to(torch.bfloat16)
    obj["complex64"] = torch.randn(3, dtype=torch.complex64)
    obj["complex128"] = torch.randn(2, 2, dtype=torch.complex128)
    obj["bool"] = torch.rand(7) > 0.5
    obj["int8"] = torch.randint(-128, 127, (6,), dtype=torch.int8)
    obj["uint8"] = torch.randint(0, 255, (2, 3), dtype=torch.uint8)
    obj["int16"] = torch.randint(-30000, 30000, (4,), dtype=torch.int16)
    obj["int32"] = torch.randint(-2 ** 31, 2 ** 31 - 1, (4,),
                                 dtype=torch.int32)
    obj["int64"] = torch.tensor([-(2 ** 62), -1, 0, 1, 2 ** 62 + 5])
    obj["scalar"] = torch.tensor(3.25)
    obj["empty"] = torch.zeros(0, 3)
    obj["base"] = base
    obj["row"] = base[1]                     # view, offset 6
    obj["slice"] = base[1:3]                 # view, offset 6, contiguous
    obj["transposed"] = base.t()             # non-contiguous
    obj["strided"] = base[:, ::2]            # non-contiguous, stride 2
    obj["reshaped"] = base.view(2, 12)
    obj["expanded"] = torch.arange(3.0).unsqueeze(1).expand(3, 4)  # stride 0
    h = torch.randn(3, 4).half()
    obj["half_t"] = h.t()
    c = torch.randn(3, 4, dtype=torch.complex64)
    obj["complex_t"] = c.t()
    save("ckpt-dtypes.pt", obj)


@fixture
def containers():
    """(f) a list at the root, tuples of tensors, Parameters."""
    seed()
    shared = torch.randn(6)
    p = nn.Parameter(torch.randn(2, 3))
    q = nn.Parameter(torch.randn(4), requires_grad=False)
    obj = [
        torch.randn(2),
        (torch.ones(3, dtype=torch.int32), shared[2:], shared),
        p,
        {"param": q, "list": [shared[:3], torch.randn(1, 1, 2)], "t": ()},
        [],
        torch.randn(3, requires_grad=True),
    ]
    save("ckpt-containers.pt", obj)


@fixture
def names():
    """(i) what names tensors get: a container saved under two keys (every
    path is a name: {"model": sd, "ema": sd}), keys that are not str
    (None, True, a float, a tuple), a str key with a NUL in it."""
    seed()
    sd = {"w": torch.randn(2, 2), "b": torch.randn(2)}
    obj = {
        "model": sd,
        "ema": sd,
        "steps": [sd["b"], sd],
        "keys": {None: torch.randn(1), True: torch.randn(1),
                 0.5: torch.randn(1), 2.0: torch.randn(1),
                 (1, 2): torch.randn(1), "a\0b": torch.randn(1)},
    }
    save("ckpt-names.pt", obj)


@fixture
def sparse():
    """(g) a sparse COO tensor (coalesced): _rebuild_sparse_tensor with
    torch.serialization._get_layout."""
    seed()
    i = torch.tensor([[0, 1, 3], [2, 0, 1]])
    v = torch.tensor([1.5, -2.0, 3.0])
    sp = torch.sparse_coo_tensor(i, v, (4, 3)).coalesce()
    save("ckpt-sparse.pt", {"sp": sp, "dense": torch.arange(6).view(2, 3)})


@fixture
def legacy():
    """(h) the pre-1.6 pickle stream: refused (not a zip checkpoint)."""
    seed()
    save_negative("ckpt-legacy.pt", {"w": torch.randn(3)},
                  ["torch.save", "legacy"],
                  _use_new_zipfile_serialization=False)


@fixture
def whole_module():
    """torch.save(model): pickles the nn.Module classes themselves
    (GLOBAL torch.nn.modules.container Sequential...): refused, since the
    allow-list never admits arbitrary Python classes."""
    seed()
    save_negative("ckpt-module.pt", nn.Sequential(nn.Linear(2, 2)),
                  ["GLOBAL", "torch.nn.modules"])


def main():
    os.makedirs(OUT, exist_ok=True)
    only = os.environ.get("ONLY")
    failed = 0
    for fn in FIXTURES:
        if only and fn.__name__ not in only.split(","):
            continue
        try:
            fn()
            print("ok  ", fn.__name__)
        except Exception as e:   # noqa: BLE001
            if os.environ.get("DEBUG"):
                raise
            print("FAIL", fn.__name__, e)
            failed += 1
    total = 0
    for f in sorted(os.listdir(OUT)):
        if f.startswith("ckpt-") and f.endswith(".pt"):
            size = os.path.getsize(os.path.join(OUT, f))
            total += size
            print("  %-28s %8d bytes" % (f, size))
    print("  total %d bytes" % total)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
