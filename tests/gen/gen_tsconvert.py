#!/usr/bin/python3
"""Write tests/data/tsconvert-tied.pt, a torch.save checkpoint for
tests/test_tsconvert.sh, and its expected values tsconvert-tied.pt.json
(tests/gen/gen_checkpoints.py's leaf format, computed from torch.load's
tensors; quantized leaves add DUMP.md's "qscheme" with "scale" and
"zero_point", or "scales" and "zero_points" as {"tensor": {...}} and
"axis"; their "xxh3" is that of the integer representation).

It holds what the other fixtures lack: one tensor saved under three names
(tied weights: --dedupe must keep one and record two aliases), a different
view of the same storage (not an alias), and quantized tensors per tensor
and per channel in the state dict (dequantized by default).

    /usr/bin/python3 tests/gen/gen_tsconvert.py [OUTDIR]   # default tests/data
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_checkpoints as gc  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "data")
QDT = {torch.qint8: "qint8", torch.quint8: "quint8", torch.qint32: "qint32"}


class Walker(gc.Walker):
    def tensor(self, path, t):
        if not t.is_quantized:
            return super().tensor(path, t)
        leaf = {"path": path, "dtype": QDT[t.dtype], "shape": list(t.shape),
                "stride": list(t.stride()),
                "storage_offset": t.storage_offset(),
                "requires_grad": t.requires_grad,
                "storage": self.storage_id(t), "xxh3": gc.xxh3(t.int_repr())}
        if t.qscheme() == torch.per_tensor_affine:
            leaf.update(qscheme="per_tensor_affine", scale=t.q_scale(),
                        zero_point=t.q_zero_point())
        else:
            s, z = t.q_per_channel_scales(), t.q_per_channel_zero_points()
            leaf.update(qscheme="per_channel_affine",
                        scales={"tensor": {"dtype": "float64",
                                           "shape": list(s.shape),
                                           "xxh3": gc.xxh3(s)}},
                        zero_points={"tensor": {"dtype": "int64",
                                                "shape": list(z.shape),
                                                "xxh3": gc.xxh3(z)}},
                        axis=t.q_per_channel_axis())
        self.leaves.append(leaf)


def main():
    torch.manual_seed(1313)
    w = torch.randn(5, 4)
    x = torch.randn(3, 4, 2) * 3
    sd = {
        "embed.weight": w,
        "head.weight": w,
        "decoder.weight": w,
        "head.bias": torch.randn(5),
        "embed.rows": w[1:3],
        "q.per_tensor": torch.quantize_per_tensor(x, 0.023, 7, torch.quint8),
        "q.per_channel": torch.quantize_per_channel(
            x, torch.rand(4, dtype=torch.float64) * 0.05 + 0.001,
            torch.randint(-4, 4, (4,)), 1, torch.qint8),
    }
    path = os.path.join(OUT, "tsconvert-tied.pt")
    torch.save(sd, path)
    back = torch.load(path)
    wk = Walker()
    wk.walk("", back)
    gc.write_json(path + ".json", {"file": "tsconvert-tied.pt",
                                   "kind": "torch.save", "leaves": wk.leaves})
    print("wrote", path)
    # two keys that differ in bytes that are not UTF-8 (a lone surrogate,
    # pickled as ED B3 BF) but are written alike in JSON ("\u00ed..."):
    # tsconvert must refuse them (no .json: not a conversion fixture)
    path = os.path.join(OUT, "tsconvert-name-clash.pt")
    torch.save({"\udcff": torch.ones(1), "\u00ed\u00b3\u00bf": torch.zeros(1)},
               path)
    print("wrote", path)


if __name__ == "__main__":
    main()
