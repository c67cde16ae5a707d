#!/usr/bin/python3
"""good-traced-inputs.pt: a traced archive with a traced_inputs.pkl.

    /usr/bin/python3 tests/gen/gen_traced_inputs.py [OUTDIR]   # default tests/data

PyTorch 1.13 cannot write traced_inputs.pkl (torch.jit.trace stores its
example inputs from 2.0 on), so this adds one, as 2.x writes it
(FORMAT.md sections 5 and 10), to good-traced-mlp.pt, which
gen_fixtures.py traced with torch.randn(3, 4):

  traced_inputs.pkl   protocol-2 TorchScript-dialect pickle of
                      Dict[str, List[Tensor]] {"forward": [x]}: the dict
                      wrapped in restore_type_tag, the list in
                      build_tensorlist, x rebuilt with _rebuild_tensor_v2
                      from persistent id ("storage", FloatStorage, "0",
                      "cpu", 12), shape (3, 4), stride (4, 1)
  traced_inputs/0     0 bytes: traced inputs keep only metadata

Every other record is copied unchanged (64-byte aligned).  Expected dump:
good-traced-mlp.pt's (libtorch 1.13 ignores the extra records).
Standard library only; deterministic.
"""
import os
import pickletools
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gen_variants import read_members, write_aligned_zip, prefix_of  # noqa

OUT = os.path.normpath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(HERE, "..", "data"))
SRC = os.path.normpath(os.path.join(HERE, "..", "data"))

SHAPE = (3, 4)


class P:
    """A tiny writer for the opcodes the TorchScript pickler emits."""

    def __init__(self):
        self.b = bytearray(b"\x80\x02")
        self.memo = 0

    def op(self, code):
        self.b += code
        return self

    def put(self):
        self.b += b"q" + bytes([self.memo])
        self.memo += 1
        return self.memo - 1

    def get(self, i):
        self.b += b"h" + bytes([i])

    def glob(self, mod, name):
        self.b += b"c" + mod.encode() + b"\n" + name.encode() + b"\n"
        return self.put()

    def s(self, text):
        t = text.encode()
        self.b += b"X" + struct.pack("<I", len(t)) + t
        return self.put()

    def i(self, v):
        assert 0 <= v < 256
        self.b += b"K" + bytes([v])

    def tup(self, items):
        self.b += b"("
        for v in items:
            self.i(v)
        self.b += b"t"


def traced_inputs_pickle():
    p = P()
    numel = SHAPE[0] * SHAPE[1]
    p.glob("torch.jit._pickle", "restore_type_tag")
    p.op(b"}")                       # EMPTY_DICT
    p.put()
    p.op(b"(")                       # MARK
    p.s("forward")
    p.glob("torch.jit._pickle", "build_tensorlist")
    p.op(b"]")                       # EMPTY_LIST
    p.put()
    p.op(b"(")                       # MARK
    p.glob("torch._utils", "_rebuild_tensor_v2")
    p.op(b"(")                       # MARK (the argument tuple)
    p.op(b"(")                       # MARK (the persistent id)
    p.s("storage")
    p.glob("torch", "FloatStorage")
    p.s("0")
    p.s("cpu")
    p.i(numel)
    p.op(b"t")                       # TUPLE
    p.op(b"Q")                       # BINPERSID
    p.put()
    p.i(0)                           # storage_offset
    p.tup(SHAPE)
    p.tup((SHAPE[1], 1))
    p.op(b"\x89")                    # NEWFALSE: requires_grad
    p.glob("collections", "OrderedDict")
    p.op(b")R")                      # EMPTY_TUPLE REDUCE
    p.put()
    p.op(b"t")                       # TUPLE (MARK at the argument)
    p.op(b"R")                       # REDUCE: the tensor
    p.put()
    p.op(b"e")                       # APPENDS
    p.op(b"\x85R")                   # TUPLE1 REDUCE: build_tensorlist
    p.put()
    p.op(b"u")                       # SETITEMS
    p.s("Dict[str, List[Tensor]]")
    p.op(b"\x86R")                   # TUPLE2 REDUCE: restore_type_tag
    p.put()
    p.op(b".")
    data = bytes(p.b)
    pickletools.dis(data, out=open(os.devnull, "w"))   # well formed
    return data


def main():
    src, dst = "good-traced-mlp.pt", "good-traced-inputs.pt"
    os.makedirs(OUT, exist_ok=True)
    members = read_members(os.path.join(SRC, src))
    pre = prefix_of(members)
    out = []
    for zi, d in members:
        out.append((zi.filename, d, zi.compress_type))
        if zi.filename == pre + "data.pkl":
            out.append((pre + "traced_inputs.pkl", traced_inputs_pickle(),
                        0))
            out.append((pre + "traced_inputs/0", b"", 0))
    write_aligned_zip(os.path.join(OUT, dst), out)
    shutil.copyfile(os.path.join(SRC, src + ".json"),
                    os.path.join(OUT, dst + ".json"))
    print("ok %s" % dst)


if __name__ == "__main__":
    main()
