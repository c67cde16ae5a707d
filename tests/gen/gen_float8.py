#!/usr/bin/python3
"""Write tests/data/float8-e4m3fn.pt and float8-e5m2.pt with their expected
float32 values (.expected, gather.expected's format) for tests/test_tensor.c.

PyTorch 1.13 has no float8 types, so the archives are made from a real
torch.save of uint8 tensors (every byte value 0..255, and a transposed
16x16 view of them) whose pickle is then edited to name the float8
storage class instead of ByteStorage (the bytes are unchanged).  The
expected values come from a decoder written here from the OCP 8-bit
floating point definitions (E4M3FN: bias 7, no infinities, S.1111.111 is
NaN; E5M2: bias 15, IEEE-like with infinities and NaNs), itself checked
against values the specification lists; NaNs carry the bits c10's
conversions give them (see f32_bytes).  Run with Debian's python (torch
1.13):

    /usr/bin/python3 tests/gen/gen_float8.py [OUTDIR]    # default tests/data
"""
import math
import os
import struct
import sys
import zipfile

import torch

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "data")


def decode(b, ebits, mbits, bias, fn):
    s = -1.0 if b & 0x80 else 1.0
    e = (b >> mbits) & ((1 << ebits) - 1)
    m = b & ((1 << mbits) - 1)
    if fn and (b & 0x7f) == 0x7f:
        return math.copysign(math.nan, s)
    if not fn and e == (1 << ebits) - 1:
        return math.copysign(math.nan, s) if m else s * math.inf
    if e == 0:
        return s * m * 2.0 ** (1 - bias - mbits)
    return s * (1 + m / 2 ** mbits) * 2.0 ** (e - bias)


def f32_bytes(v, b, fmt):
    """NaNs as c10's conversions produce them: E4M3FN sign | 0x7ff00000
    (every mantissa bit of the format set); E5M2 through float16: quiet,
    the mantissa kept (sign | 0x7fc00000 | m << 21)."""
    if math.isnan(v):
        sign = 0x80000000 if b & 0x80 else 0
        if fmt["fn"]:
            return struct.pack("<I", sign | 0x7ff00000)
        return struct.pack("<I", sign | 0x7fc00000 | (b & 3) << 21)
    return struct.pack("<f", v)


E4M3 = dict(ebits=4, mbits=3, bias=7, fn=True)
E5M2 = dict(ebits=5, mbits=2, bias=15, fn=False)
# values from the specification's tables
assert decode(0x7e, **E4M3) == 448.0 and decode(0x01, **E4M3) == 2 ** -9
assert decode(0x38, **E4M3) == 1.0 and math.isnan(decode(0xff, **E4M3))
assert decode(0x7b, **E5M2) == 57344.0 and decode(0x01, **E5M2) == 2 ** -16
assert decode(0x3c, **E5M2) == 1.0 and decode(0x7c, **E5M2) == math.inf
assert math.isnan(decode(0x7d, **E5M2)) and decode(0xfc, **E5M2) == -math.inf


def make(name, storage, fmt):
    base = torch.arange(256, dtype=torch.int32).to(torch.uint8)
    tmp = os.path.join(OUT, name + ".tmp")
    torch.save({"all": base, "view": base.view(16, 16).t()}, tmp)
    path = os.path.join(OUT, name)
    with zipfile.ZipFile(tmp) as zi, zipfile.ZipFile(path, "w") as zo:
        for info in zi.infolist():
            b = zi.read(info)
            if info.filename.endswith("/data.pkl"):
                assert b.count(b"ByteStorage") == 1
                b = b.replace(b"ByteStorage", storage.encode())
            zo.writestr(info, b)
    os.unlink(tmp)
    order = list(range(256))
    view = [r * 16 + c for c in range(16) for r in range(16)]
    with open(path[:-3] + ".expected", "w") as f:
        for key, bs in (("all", order), ("view", view)):
            h = b"".join(f32_bytes(decode(b, **fmt), b, fmt) for b in bs).hex()
            f.write("%s float32 %d %s\n" % (key, len(h) // 2, h))
    print("wrote", path)


make("float8-e4m3fn.pt", "Float8_e4m3fnStorage", E4M3)
make("float8-e5m2.pt", "Float8_e5m2Storage", E5M2)
