#!/usr/bin/env python3
"""make_fuzz_seeds.py - (re)build the fuzz seed corpora from tests/data.

    python3 tests/gen/make_fuzz_seeds.py [SRCDIR]

fuzz/corpus/fuzz_zip/, fuzz/corpus/fuzz_load/: the good-* and legacy/*
fixtures of at most MAX_ARCHIVE bytes (the big resnet/mobilenet ones slow the fuzzers down and
are replayed by the conformance test anyway).
fuzz/corpus/fuzz_pickle/: every *.pkl record of every fixture, behind a
selector byte 0x00 (TorchScript dialect), plus a few Python pickles
(protocols 2-5, a torch.save-like tensor) behind 0x01 (TSL_PICKLE_PYTHON).
fuzz/corpus/fuzz_class_header/: every class of every code/*.py record of
the fixtures of at most MAX_ARCHIVE bytes, as selector byte (0x00 full
parse, 0x01 lazy) + qualified class name + newline + the file.
fuzz/corpus/fuzz_inflate/: every stream of tests/data/deflate-streams.bin
and the deflated records of the fixtures of at most MAX_ARCHIVE bytes
(one in four, they are alike), each as its decoded size (4 bytes, little
endian) + the raw deflate stream.
Files are named by the SHA-1 of their content (as libFuzzer does); existing
files are kept, so units added by fuzzing stay.
"""
import glob
import hashlib
import os
import pickle
import struct
import sys
import types
import zipfile
from collections import OrderedDict

MAX_ARCHIVE = 64 * 1024


def put(folder, data):
    os.makedirs(folder, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    path = os.path.join(folder, name)
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)
    return name


def python_pickles():
    """Python-dialect pickles like torch.save writes, made without torch."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    class LongStorage:
        pass

    def _rebuild_tensor_v2(*a):
        pass

    FloatStorage.__module__ = LongStorage.__module__ = "torch"
    FloatStorage.__qualname__ = FloatStorage.__name__ = "FloatStorage"
    LongStorage.__qualname__ = LongStorage.__name__ = "LongStorage"
    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    torch.FloatStorage, torch.LongStorage = FloatStorage, LongStorage
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = utils
    sys.modules["torch"], sys.modules["torch._utils"] = torch, utils

    class St:
        def __init__(self, cls, key, numel):
            self.cls, self.key, self.numel = cls, key, numel

    class T:
        def __init__(self, st, off, size, stride):
            self.args = (st, off, size, stride)

        def __reduce__(self):
            return (_rebuild_tensor_v2,
                    self.args + (False, OrderedDict()))

    class P(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, St):
                return ("storage", obj.cls, obj.key, "cpu", obj.numel)
            return None

    import io
    s0, s1 = St(FloatStorage, "0", 12), St(LongStorage, "1", 3)
    objs = [
        OrderedDict([("weight", T(s0, 0, (3, 4), (4, 1))),
                     ("bias", T(s0, 8, (4,), (1,))),
                     ("idx", T(s1, 0, (3,), (1,)))]),
        {"a": [1, 2.5, "x", b"\x00\xff", None, True, (1, 2)],
         "s": {1, 2, 3}, "f": frozenset({"q"}), "c": 1 + 2j,
         "big": 1 << 70, "neg": -5, "ba": bytearray(b"zz")},
        [[[[]]]],
    ]
    out = []
    for proto in (2, 3, 4, 5):
        for o in objs:
            b = io.BytesIO()
            P(b, protocol=proto).dump(o)
            out.append(b.getvalue())
    del sys.modules["torch"], sys.modules["torch._utils"]
    return out


def class_seeds(record, text):
    """Selector + qualified name + newline + file, for each class."""
    rel = record.split("/code/", 1)[1][:-3]
    module = rel.replace("/", ".")
    out = []
    for line in text.split(b"\n"):
        if line.startswith(b"class "):
            name = line[6:].split(b"(")[0].split(b":")[0].strip()
            q = module.encode() + b"." + name
            for sel in (b"\x00", b"\x01"):
                out.append(sel + q + b"\n" + text)
    return out


def raw_record(blob, info):
    """The compressed bytes of a zip record."""
    off = info.header_offset
    nlen, elen = struct.unpack("<HH", blob[off + 26:off + 30])
    start = off + 30 + nlen + elen
    return blob[start:start + info.compress_size]


def inflate_seeds(data, paths):
    with open(os.path.join(data, "deflate-streams.bin"), "rb") as f:
        b = f.read()
    count, pos = struct.unpack("<I", b[:4])[0], 4
    for _ in range(count):
        clen, ulen = struct.unpack("<II", b[pos:pos + 8])
        pos += 8
        if clen <= 16384:
            yield struct.pack("<I", ulen) + b[pos:pos + clen]
        pos += clen
    k = 0
    for path in sorted(paths):
        with open(path, "rb") as f:
            blob = f.read()
        if len(blob) > MAX_ARCHIVE or not zipfile.is_zipfile(path):
            continue
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if info.compress_type != zipfile.ZIP_DEFLATED:
                    continue
                k += 1
                if k % 4 == 0:
                    yield struct.pack("<I", info.file_size) + \
                        raw_record(blob, info)


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "."
    data = os.path.join(src, "tests", "data")
    corpus = os.path.join(src, "fuzz", "corpus")
    n = {"fuzz_zip": 0, "fuzz_load": 0, "fuzz_pickle": 0,
         "fuzz_class_header": 0, "fuzz_inflate": 0}
    paths = glob.glob(os.path.join(data, "good-*.pt")) + \
        glob.glob(os.path.join(data, "good-*.ptl")) + \
        glob.glob(os.path.join(data, "legacy", "*.pt"))
    for path in sorted(paths):
        with open(path, "rb") as f:
            blob = f.read()
        if len(blob) <= MAX_ARCHIVE:
            for t in ("fuzz_zip", "fuzz_load"):
                put(os.path.join(corpus, t), blob)
                n[t] += 1
        if not zipfile.is_zipfile(path):
            continue
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if info.filename.endswith(".pkl"):
                    put(os.path.join(corpus, "fuzz_pickle"),
                        b"\x00" + z.read(info))
                    n["fuzz_pickle"] += 1
                elif (info.filename.endswith(".py") and "/code/" in
                      info.filename and len(blob) <= MAX_ARCHIVE):
                    for seed in class_seeds(info.filename, z.read(info)):
                        put(os.path.join(corpus, "fuzz_class_header"),
                            seed)
                        n["fuzz_class_header"] += 1
    for seed in inflate_seeds(data, paths):
        put(os.path.join(corpus, "fuzz_inflate"), seed)
        n["fuzz_inflate"] += 1
    for p in python_pickles():
        put(os.path.join(corpus, "fuzz_pickle"), b"\x01" + p)
        n["fuzz_pickle"] += 1
    for t, k in sorted(n.items()):
        print("%s: %d seeds written or kept" % (t, k))


if __name__ == "__main__":
    main()
