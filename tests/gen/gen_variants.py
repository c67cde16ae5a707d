#!/usr/bin/python3
"""Derived fixtures: rewrite real archives into variants PyTorch 1.13 cannot
write (or that need a device this machine lacks).

    /usr/bin/python3 tests/gen/gen_variants.py [OUTDIR]     # default tests/data

Writes, from fixtures made by gen_fixtures.py:

good-bigendian.pt   good-dtypes.pt with a `byteorder` record "big" and every
                    storage record (data/, constants/) byte-swapped per
                    element (complex types per component), as a big-endian
                    host would have written it.  Expected dump: the
                    original's (the loader swaps back to host order; note that
                    libtorch's C++ reader would NOT swap, see FORMAT.md 5.4).
good-cuda.pt        good-scripted-mlp.pt with every storage location "cpu"
                    rewritten to "cuda:1" in data.pkl (the pickle is
                    re-encoded op by op, so BINUNICODE lengths stay right).
                    Expected dump (taken with --map-location cpu): the
                    original's.

Both are written with records aligned to 64 bytes like PyTorchStreamWriter
(an "FB" padding extra field), so the only reason for a copy is the one
under test.  Needs nothing but the Python standard library; deterministic.
"""
import os
import pickle
import pickletools
import shutil
import struct
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(HERE, "..", "data"))
SRC = os.path.normpath(os.path.join(HERE, "..", "data"))

# Storage type -> width of one byte-swapped unit (complex: one component).
SWAP_WIDTH = {
    "ByteStorage": 1, "CharStorage": 1, "BoolStorage": 1,
    "QInt8Storage": 1, "QUInt8Storage": 1, "QUInt4x2Storage": 1,
    "ShortStorage": 2, "HalfStorage": 2, "BFloat16Storage": 2,
    "IntStorage": 4, "FloatStorage": 4, "QInt32Storage": 4,
    "LongStorage": 8, "DoubleStorage": 8,
    "ComplexHalfStorage": 2, "ComplexFloatStorage": 4,
    "ComplexDoubleStorage": 8,
}


def read_members(path):
    """[(ZipInfo, bytes)] in archive order."""
    with zipfile.ZipFile(path) as z:
        return [(i, z.read(i.filename)) for i in z.infolist()]


def write_aligned_zip(path, members, align=64):
    """Write members [(name, data, compress_type)] so that every record's
    data starts at a multiple of `align`, with PyTorch's "FB" padding extra
    field in the local header."""
    with open(path, "wb") as f:
        with zipfile.ZipFile(f, "w") as z:
            for name, data, method in members:
                zi = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                zi.compress_type = method
                zi.external_attr = 0
                start = f.tell() + 30 + len(name.encode()) + 4
                pad = (align - start % align) % align
                zi.extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
                z.writestr(zi, data)
    # check the alignment we promise
    with zipfile.ZipFile(path) as z, open(path, "rb") as f:
        for zi in z.infolist():
            f.seek(zi.header_offset + 26)
            n, e = struct.unpack("<HH", f.read(4))
            off = zi.header_offset + 30 + n + e
            assert off % align == 0, (zi.filename, off)


class _Obj:
    def __init__(self, *a, **k):
        pass

    def __setstate__(self, state):
        pass


class StorageFinder(pickle.Unpickler):
    """Runs a TorchScript pickle with inert stand-ins for every class and
    collects the storages: {key: storage type name}."""

    def __init__(self, data):
        import io
        super().__init__(io.BytesIO(data))
        self.storages = {}

    def find_class(self, module, name):
        if module == "torch" and name.endswith("Storage"):
            return name
        return type(name, (_Obj,), {})

    def persistent_load(self, pid):
        assert pid[0] == "storage", pid
        self.storages[pid[2]] = pid[1]
        return _Obj()


def storages_of(pkl):
    u = StorageFinder(pkl)
    u.load()
    return u.storages


def swap(data, width):
    if width == 1:
        return data
    assert len(data) % width == 0
    out = bytearray(len(data))
    for i in range(0, len(data), width):
        out[i:i + width] = data[i:i + width][::-1]
    return bytes(out)


def prefix_of(members):
    return members[0][0].filename.split("/", 1)[0] + "/"


def copy_json(src_name, dst_name):
    shutil.copyfile(os.path.join(SRC, src_name + ".json"),
                    os.path.join(OUT, dst_name + ".json"))


def gen_bigendian():
    src, dst = "good-dtypes.pt", "good-bigendian.pt"
    members = read_members(os.path.join(SRC, src))
    pre = prefix_of(members)
    byname = {zi.filename: d for zi, d in members}
    types = {}
    for pkl, folder in (("data.pkl", "data/"), ("constants.pkl", "constants/")):
        if pre + pkl in byname:
            for key, st in storages_of(byname[pre + pkl]).items():
                types[pre + folder + key] = st
    out = []
    swapped = 0
    for zi, d in members:
        if zi.filename in types:
            d = swap(d, SWAP_WIDTH[types[zi.filename]])
            swapped += 1
        out.append((zi.filename, d, zi.compress_type))
        if zi.filename == pre + "version":
            out.append((pre + "byteorder", b"big", zipfile.ZIP_STORED))
    assert any(n == pre + "byteorder" for n, _, _ in out)
    write_aligned_zip(os.path.join(OUT, dst), out)
    copy_json(src, dst)
    print("ok %s (%d storages swapped)" % (dst, swapped))


def rewrite_strings(pkl, old, new):
    """Re-encode a pickle, replacing every BINUNICODE `old` by `new`; other
    ops are copied byte for byte (memo indices do not move)."""
    ops = list(pickletools.genops(pkl))
    out = bytearray()
    n = 0
    for i, (op, arg, pos) in enumerate(ops):
        end = ops[i + 1][2] if i + 1 < len(ops) else len(pkl)
        if op.name == "BINUNICODE" and arg == old:
            b = new.encode()
            out += b"X" + struct.pack("<I", len(b)) + b
            n += 1
        else:
            out += pkl[pos:end]
    return bytes(out), n


def gen_cuda():
    src, dst = "good-scripted-mlp.pt", "good-cuda.pt"
    members = read_members(os.path.join(SRC, src))
    pre = prefix_of(members)
    out = []
    for zi, d in members:
        if zi.filename == pre + "data.pkl":
            d, n = rewrite_strings(d, "cpu", "cuda:1")
            assert n >= 1, "no 'cpu' location in data.pkl"
            # the storages now say cuda:1
            pickletools.dis(d, out=open(os.devnull, "w"))
        out.append((zi.filename, d, zi.compress_type))
    write_aligned_zip(os.path.join(OUT, dst), out)
    copy_json(src, dst)
    print("ok %s" % dst)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    gen_bigendian()
    gen_cuda()
