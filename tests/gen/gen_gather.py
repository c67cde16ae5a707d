#!/usr/bin/python3
"""Write tests/data/gather.pt and tests/data/gather.expected for the gather,
conversion and dequantization tests of tests/test_tensor.c.

Run with Debian's Python (PyTorch 1.13 from python3-torch), never pyenv:

    /usr/bin/python3 tests/gen/gen_gather.py [OUTDIR]   # default tests/data

gather.pt is a torch.save checkpoint (a dict of tensors: views, every dtype
torch 1.13 converts, quantized tensors per tensor and per channel).  The
expected values are what torch computes from torch.load's tensors, one line
per check:

    NAME TARGET NBYTES HEX

TARGET is "same" (t.contiguous(), for quantized tensors their int_repr()),
"float32" (t.float(), for quantized tensors t.dequantize()), "float64"
(t.double()) or "int64" (t.long()); HEX is the result's bytes, little-endian,
in row-major order.  Deterministic (fixed seed; torch 1.13 writes no
serialization id).
"""
import os
import sys

import torch

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "data")
torch.manual_seed(1313)

t = {}
# every 61st 16-bit pattern plus the special ones: zeros, subnormals,
# the largest finite, infinities, NaNs
pat = sorted(set(list(range(0, 65536, 61)) + [0x0000, 0x8000, 0x0001, 0x8001,
              0x03ff, 0x0400, 0x7bff, 0xfbff, 0x7c00, 0xfc00, 0x7e00, 0x7c01,
              0xfe01, 0x3c00, 0x7f7f, 0x7f80, 0xff80, 0x7fc0, 0x0080, 0x007f]))
bits = torch.tensor(pat, dtype=torch.int32).to(torch.int16)
t["f16_all"] = bits.clone().view(torch.float16)
t["bf16_all"] = bits.clone().view(torch.bfloat16)
base = torch.randn(4, 6)
t["f32_transposed"] = base.t()
t["f32_sliced"] = base[1:, ::2]
t["f32_expanded"] = torch.randn(3, 1).expand(3, 4)
t["f32_scalar"] = torch.tensor(2.5)
t["f32_empty"] = torch.zeros(2, 0)
t["f16_view"] = torch.randn(3, 5).half().t()
t["f64"] = (torch.randn(2, 3, dtype=torch.float64) * 1e3)[:, 1:]
t["f64_special"] = torch.tensor([1e300, -1e300, 1e-310, float("inf"),
                                 float("nan"), 0.1, 16777217.0], dtype=torch.float64)
t["u8"] = torch.randint(0, 256, (5, 4), dtype=torch.uint8).t()
t["i8"] = torch.randint(-128, 128, (7,), dtype=torch.int8)[::2]
t["i16"] = torch.randint(-30000, 30000, (3, 3), dtype=torch.int16)
t["i32"] = torch.tensor([2**31 - 1, -2**31, 16777217, -16777217, 3], dtype=torch.int32)
t["i64"] = torch.tensor([2**62 + 1, -2**63, 2**24 + 1, 9007199254740993, -7], dtype=torch.int64)
t["bool"] = (torch.randn(3, 4) > 0).t()
x = torch.randn(4, 5, 3) * 4
t["q8_pt"] = torch.quantize_per_tensor(x, 0.0137, 3, torch.qint8)
t["qu8_pt"] = torch.quantize_per_tensor(x, 0.031, 130, torch.quint8)
t["q32_pt"] = torch.quantize_per_tensor(x, 0.0003, -17, torch.qint32)
sc = torch.rand(5, dtype=torch.float64) * 0.05 + 0.001
t["q8_pc"] = torch.quantize_per_channel(x, sc, torch.randint(-5, 5, (5,)), 1, torch.qint8)
t["qu8_pc"] = torch.quantize_per_channel(x, torch.rand(4, dtype=torch.float64) * 0.1 + 0.01,
                                         torch.randint(100, 150, (4,)), 0, torch.quint8)
t["q32_pc"] = torch.quantize_per_channel(x, torch.rand(3, dtype=torch.float64) * 0.001 + 1e-5,
                                         torch.randint(-50, 50, (3,)), 2, torch.qint32)
t["q8_sym"] = torch.quantize_per_tensor(x, 0.05, 0, torch.qint8)
# sub-byte: elements packed two (four) to a byte, in row-major order; the
# storage torch allocates is padded per row (3 x 3 bytes for [3, 5])
y = torch.rand(3, 5) * 1.5
t["qu4_pt"] = torch.quantize_per_tensor(y, 0.1, 2, torch.quint4x2)
t["qu2_pt"] = torch.quantize_per_tensor(y, 0.5, 1, torch.quint2x4)
# float qparams (the weights of nn.quantized.Embedding): torch.save writes
# their scheme as per_channel_affine; torch.load makes them float-qparams
# again from the float zero points, and dequantizes in float
t["qu8_fq"] = torch.quantize_per_channel(x, torch.rand(5) * 0.05 + 0.001,
                                         torch.randn(5) * 3, 1, torch.quint8)
t["qu4_fq"] = torch.quantize_per_channel(torch.randn(6, 8) * 2,
                                         torch.rand(6) * 0.1 + 0.01,
                                         torch.randn(6) * 2, 0, torch.quint4x2)

path = os.path.join(out, "gather.pt")
torch.save(t, path)
back = torch.load(path)


def hexof(v):
    return v.contiguous().numpy().tobytes().hex()


lines = []
for name, v in back.items():
    if v.is_quantized:
        lines.append((name, "same", v.int_repr()))
        lines.append((name, "float32", v.dequantize()))
        continue
    lines.append((name, "same", v))
    if v.dtype in (torch.bfloat16,):
        # numpy has no bfloat16: its bits as int16
        lines[-1] = (name, "same", v.contiguous().view(torch.int16))
    lines.append((name, "float32", v.float()))
    lines.append((name, "float64", v.double()))
    if not v.is_floating_point():
        lines.append((name, "int64", v.long()))
with open(path[:-3] + ".expected", "w") as f:
    for name, target, v in lines:
        b = hexof(v)
        f.write("%s %s %d %s\n" % (name, target, len(b) // 2, b))
print("wrote", path, "and", len(lines), "expected values")
