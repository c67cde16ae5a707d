#!/usr/bin/python3
"""Writes the TorchScript fixture corpus into tests/data/.

Run with Debian's Python (PyTorch 1.13.1 from python3-torch, torchvision 0.14):

    /usr/bin/python3 tests/gen/gen_fixtures.py [OUTDIR]      # default: tests/data

Every archive is made with a real torch.jit.save (or _save_for_lite_interpreter),
except the good-rezip-* / good-zip64-* files, which re-pack a real archive with
Python's zipfile.  The expected dumps (<name>.json) are made afterwards by
tests/gen/gen_expected.sh with the libtorch reference dumper.

Deterministic: every fixture reseeds the RNG and uses fixed shapes.
"""
import enum
import io
import math
import os
import sys
import zipfile
from typing import Dict, List, NamedTuple, Optional, Tuple

if os.environ.get("PYTHONHASHSEED") != "0":
    # Module constants (__constants__ sets) are printed in set order, which
    # depends on string hashing: fix it so that the archives are reproducible.
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "data")
OUT = os.path.normpath(OUT)

FIXTURES = []


def fixture(fn):
    FIXTURES.append(fn)
    return fn


def path(name):
    return os.path.join(OUT, name)


def seed():
    torch.manual_seed(1234)


# ---------------------------------------------------------------- basic MLPs

class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        # Linear(4, 8) and Linear(8, 2) differ in their Final constants, so the
        # second one gets a ___torch_mangle_N qualified name; the Sequential
        # children are named "0", "1", "2" (__annotations__["0"] lines).
        self.layers = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        self.scale = 2.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x) * self.scale


@fixture
def good_scripted_mlp():
    seed()
    m = torch.jit.script(MLP())
    torch.jit.save(m, path("good-scripted-mlp.pt"),
                   _extra_files={"meta.txt": b"hello"})


@fixture
def good_traced_mlp():
    seed()
    m = torch.jit.trace(MLP().eval(), torch.randn(3, 4))
    torch.jit.save(m, path("good-traced-mlp.pt"))


def scaled_sum(x: torch.Tensor, y: torch.Tensor, k: int = 2) -> torch.Tensor:
    return (x + y) * k


@fixture
def good_function():
    f = torch.jit.script(scaled_sum)
    torch.jit.save(f, path("good-function.pt"))


@fixture
def good_extra_files():
    seed()
    m = torch.jit.script(nn.Linear(2, 2))
    extra = {
        "binary.bin": bytes([0x00, 0xff, 0x00, 0x7f, 0x80, 0xff, 0x00]),
        "empty": b"",
        "all-bytes.bin": bytes(range(256)),
        "config.json": b'{"name": "linear", "classes": ["a", "b"]}',
        "sub/dir/nested.txt": b"nested\n",
        "unicode-\u00e9\u4e2d.txt": "caf\u00e9 \u4e2d\u6587\n".encode("utf-8"),
    }
    torch.jit.save(m, path("good-extra-files.pt"), _extra_files=extra)


@fixture
def good_buffer_prefix():
    seed()
    m = torch.jit.script(MLP())
    buf = io.BytesIO()
    torch.jit.save(m, buf)          # written through a stream: prefix "archive"
    with open(path("good-buffer-prefix.pt"), "wb") as f:
        f.write(buf.getvalue())


# ---------------------------------------------------------------- torchvision

def small_resnet():
    """torchvision's ResNet (BasicBlock, [1, 1, 1, 1]) with widths 8/16/32/64
    instead of 64/128/256/512 (the real classes, smaller tensors)."""
    from torchvision.models import resnet
    orig = resnet.ResNet._make_layer

    def make_layer(self, block, planes, blocks, stride=1, dilate=False):
        if planes == 64:
            self.inplanes = 8
        return orig(self, block, planes // 8, blocks, stride, dilate)

    resnet.ResNet._make_layer = make_layer
    try:
        m = resnet.ResNet(resnet.BasicBlock, [1, 1, 1, 1], num_classes=10)
    finally:
        resnet.ResNet._make_layer = orig
    m.conv1 = nn.Conv2d(3, 8, kernel_size=7, stride=2, padding=3, bias=False)
    m.bn1 = nn.BatchNorm2d(8)
    m.fc = nn.Linear(64, 10)
    # non-trivial running stats
    m.train()
    with torch.no_grad():
        m(torch.randn(2, 3, 32, 32))
    return m.eval()


@fixture
def good_resnet():
    seed()
    m = small_resnet()
    torch.jit.save(torch.jit.script(m), path("good-resnet-script.pt"))
    seed()
    m = small_resnet()
    torch.jit.save(torch.jit.trace(m, torch.randn(1, 3, 32, 32)),
                   path("good-resnet-trace.pt"))


def small_mobilenet():
    from torchvision.models import mobilenet_v3_small
    m = mobilenet_v3_small(width_mult=0.25, num_classes=10)
    m.train()
    with torch.no_grad():
        m(torch.randn(2, 3, 32, 32))
    return m.eval()


@fixture
def good_mobilenet():
    seed()
    m = small_mobilenet()
    torch.jit.save(torch.jit.script(m), path("good-mobilenet-script.pt"))
    seed()
    m = small_mobilenet()
    torch.jit.save(torch.jit.trace(m, torch.randn(1, 3, 32, 32)),
                   path("good-mobilenet-trace.pt"))


# ---------------------------------------------------------------- frozen

class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        x = x.mean(dim=(2, 3))
        return self.fc(x)


@fixture
def good_frozen():
    seed()
    m = torch.jit.freeze(torch.jit.script(ConvNet().eval()))
    torch.jit.save(m, path("good-frozen.pt"))


# ---------------------------------------------------------------- RNNs, transformer

@fixture
def good_lstm():
    seed()
    m = torch.jit.script(nn.LSTM(4, 6, num_layers=2, batch_first=True))
    torch.jit.save(m, path("good-lstm.pt"))


@fixture
def good_gru():
    seed()
    m = torch.jit.script(nn.GRU(4, 5, bidirectional=True))
    torch.jit.save(m, path("good-gru.pt"))


@fixture
def good_transformer_layer():
    seed()
    m = nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16,
                                   dropout=0.0, batch_first=True)
    torch.jit.save(torch.jit.script(m.eval()), path("good-transformer-layer.pt"))


# ---------------------------------------------------------------- quantized

class DynNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 6)
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.fc(y)


@fixture
def good_quant_dynamic():
    seed()
    m = torch.quantization.quantize_dynamic(DynNet().eval(), {nn.Linear, nn.LSTM},
                                            dtype=torch.qint8)
    torch.jit.save(torch.jit.script(m), path("good-quant-dynamic.pt"))


class StaticNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.quant = torch.quantization.QuantStub()
        self.conv = nn.Conv2d(3, 4, 3)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(4, 2)
        self.dequant = torch.quantization.DeQuantStub()

    def forward(self, x):
        x = self.quant(x)
        x = self.relu(self.conv(x))
        x = x.mean(dim=(2, 3))
        x = self.fc(x)
        return self.dequant(x)


@fixture
def good_quant_static():
    seed()
    # Debian's libtorch has no FBGEMM (engines: qnnpack, onednn); onednn's
    # default qconfig also uses per-channel symmetric weights.
    torch.backends.quantized.engine = "onednn"
    m = StaticNet().eval()
    m.qconfig = torch.quantization.get_default_qconfig("onednn")  # per-channel weights
    torch.quantization.prepare(m, inplace=True)
    with torch.no_grad():
        for _ in range(4):
            m(torch.randn(2, 3, 8, 8))
    torch.quantization.convert(m, inplace=True)
    torch.jit.save(torch.jit.script(m), path("good-quant-static.pt"))


# ---------------------------------------------------------------- dtypes, views

class Dtypes(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("f16", torch.randn(2, 3).half())
        self.register_buffer("bf16", torch.randn(2, 3).bfloat16())
        self.register_buffer("c64", torch.randn(3, dtype=torch.complex64))
        self.register_buffer("c128", torch.randn(2, 2, dtype=torch.complex128))
        self.register_buffer("b", torch.tensor([True, False, True, True]))
        self.register_buffer("i8", torch.tensor([-128, -1, 0, 1, 127], dtype=torch.int8))
        self.register_buffer("i16", torch.tensor([-32768, 0, 32767], dtype=torch.int16))
        self.register_buffer("i32", torch.tensor([[-2**31, 0], [1, 2**31 - 1]], dtype=torch.int32))
        self.register_buffer("u8", torch.tensor([0, 1, 128, 255], dtype=torch.uint8))
        self.register_buffer("i64", torch.tensor([-2**63, -1, 0, 2**63 - 1], dtype=torch.int64))
        self.register_buffer("f64", torch.tensor([math.pi, -0.0, 1e-300, float("inf")],
                                                 dtype=torch.float64))
        self.f32 = nn.Parameter(torch.randn(3))
        # a tensor attribute that is neither parameter nor buffer
        self.plain = torch.tensor([1.5, float("nan"), float("-inf")])

    def forward(self, x):
        return x + self.f32


@fixture
def good_dtypes():
    seed()
    torch.jit.save(torch.jit.script(Dtypes()), path("good-dtypes.pt"))


class Views(nn.Module):
    def __init__(self):
        super().__init__()
        base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
        self.register_buffer("base", base)
        self.register_buffer("transposed", base.t())                # stride [1, 6]
        self.register_buffer("sliced", base[1:3, 2:5])              # offset 8
        self.register_buffer("narrowed", base.view(-1).narrow(0, 5, 7))
        self.register_buffer("stepped", base[:, ::2])               # stride [6, 2]
        col = torch.arange(3, dtype=torch.float32).reshape(3, 1)
        self.register_buffer("expanded", col.expand(3, 4))          # stride [1, 0]
        self.register_buffer("scalar", torch.tensor(3.5))
        self.register_buffer("scalar_int", torch.tensor(7))
        # Both empty tensors share one (0-byte) storage: ref_dump numbers
        # storages by data pointer, and every 0-byte storage has a null one,
        # so two distinct empty storages would get one number (see README).
        empty = torch.zeros(0)
        self.register_buffer("empty", empty)
        self.register_buffer("empty2", empty.view(2, 0))
        self.frozen_param = nn.Parameter(torch.ones(2, 2), requires_grad=False)
        self.param = nn.Parameter(torch.randn(3))
        # parameter and buffer sharing one storage with an offset
        shared = torch.randn(10)
        self.register_buffer("shared_a", shared[:4])
        self.register_buffer("shared_b", shared[4:].view(2, 3))

    def forward(self, x):
        return x + self.base


@fixture
def good_views():
    seed()
    torch.jit.save(torch.jit.script(Views()), path("good-views.pt"))


# ---------------------------------------------------------------- containers

class Containers(nn.Module):
    ints: List[int]
    strs: List[str]
    empty_list: List[float]
    floats: List[float]
    bools: List[bool]
    str_int: Dict[str, int]
    int_str: Dict[int, str]
    str_tensor: Dict[str, torch.Tensor]
    tup: Tuple[int, str, float]
    opt_none: Optional[int]
    opt_set: Optional[int]
    nested: List[Dict[str, List[int]]]
    tensors: List[torch.Tensor]

    def __init__(self):
        super().__init__()
        self.ints = [1, -2, 3, 300, 70000, -70000]
        self.strs = ["a", "", "b c", "quote\"back\\slash\nnewline\ttab"]
        self.empty_list = []
        self.floats = [0.5, -1.25, 1e-5, 1e300]
        self.bools = [True, False]
        self.str_int = {"z": 1, "a": 2, "m": 3}            # insertion order, not sorted
        self.int_str = {3: "three", 1: "one", 2: "two"}
        self.str_tensor = {"w": torch.ones(2), "v": torch.arange(3)}
        self.tup = (7, "seven", 7.5)
        self.opt_none = None
        self.opt_set = 42
        self.nested = [{"x": [1, 2], "y": []}, {}]
        self.tensors = [torch.zeros(1), torch.ones(2, dtype=torch.int64)]
        self.unicode = "h\u00e9llo \u4e16\u754c \U0001F600"
        self.nan = float("nan")
        self.inf = float("inf")
        self.ninf = float("-inf")
        self.neg_zero = -0.0
        self.one = 1.0
        self.tiny = 5e-324
        self.big = 2 ** 62
        self.neg_big = -2 ** 40
        self.min_i64 = -2 ** 63
        self.small_neg = -1
        self.cplx = complex(1.5, -2.0)
        self.dev = torch.device("cpu")
        self.flag = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


@fixture
def good_containers():
    torch.jit.save(torch.jit.script(Containers()), path("good-containers.pt"))


# ---------------------------------------------------------------- classes

@torch.jit.script
class Point(object):
    def __init__(self, x: int, y: float):
        self.x = x
        self.y = y

    def norm(self) -> float:
        return math.sqrt(float(self.x * self.x) + self.y * self.y)


@torch.jit.script
class Holder(object):
    def __init__(self, name: str, t: torch.Tensor):
        self.name = name
        self.t = t

    def __getstate__(self) -> Tuple[str, torch.Tensor, int]:
        return (self.name, self.t, 99)

    def __setstate__(self, state: Tuple[str, torch.Tensor, int]) -> None:
        self.name = state[0]
        self.t = state[1]


class Color(enum.Enum):
    RED = 1
    GREEN = 2


class Pair(NamedTuple):
    a: int
    b: torch.Tensor


class StatefulSub(nn.Module):
    def __init__(self):
        super().__init__()
        self.k = 3
        self.w = torch.ones(2)

    @torch.jit.export
    def __getstate__(self) -> Tuple[int, torch.Tensor, bool]:
        return (self.k, self.w, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[int, torch.Tensor, bool]) -> None:
        self.k = state[0]
        self.w = state[1]
        self.training = state[2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.k + self.w


class ClassObjects(nn.Module):
    pair: Pair

    def __init__(self):
        super().__init__()
        self.p = Point(3, 4.0)
        self.holder = Holder("h", torch.arange(4))
        self.color = Color.GREEN
        self.pair = Pair(5, torch.ones(3))
        self.sub = StatefulSub()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.color == Color.RED:
            return x
        return self.sub(x) * self.p.norm() + self.pair.b + self.pair.a


@fixture
def good_class_objects():
    torch.jit.save(torch.jit.script(ClassObjects()), path("good-class-objects.pt"))


# ---------------------------------------------------------------- sparse

class Sparse(nn.Module):
    def __init__(self):
        super().__init__()
        # Already coalesced (sorted, unique indices).  Not built with
        # .coalesce(): that leaves uninitialised bytes at the end of the
        # indices storage, so the archive would differ from run to run; and
        # an uncoalesced tensor's expected dump would carry the layout that
        # libtorch's coalesce() happens to make (indices stride [nnz_before, 1]).
        i = torch.tensor([[0, 1, 2], [2, 0, 1]])
        v = torch.tensor([4.0, -4.0, 5.0])
        self.register_buffer("sp", torch.sparse_coo_tensor(i, v, (3, 3)))
        self.register_buffer("dense", torch.ones(2))

    def forward(self, x):
        return torch.sparse.mm(self.sp, x)


@fixture
def good_sparse():
    torch.jit.save(torch.jit.script(Sparse()), path("good-sparse.pt"))


# ---------------------------------------------------------------- lite

@fixture
def good_lite():
    seed()
    m = torch.jit.script(MLP())
    m._save_for_lite_interpreter(path("good-lite.ptl"))


# ---------------------------------------------------------------- hooks, versions

class Hooked(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


def pre_hook(self, input: Tuple[torch.Tensor]) -> Tuple[torch.Tensor]:
    return (input[0] * 2.0,)


def post_hook(self, input: Tuple[torch.Tensor], output: torch.Tensor) -> torch.Tensor:
    return output + 1.0


@fixture
def good_hooks():
    seed()
    m = Hooked()
    m.register_forward_pre_hook(pre_hook)
    m.register_forward_hook(post_hook)
    torch.jit.save(torch.jit.script(m), path("good-hooks.pt"))


class Div(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.div(a, b)


@fixture
def good_version_div():
    torch.jit.save(torch.jit.script(Div()), path("good-version-div.pt"))


class Gelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.fc(x), approximate="tanh")


@fixture
def good_gelu():
    seed()
    torch.jit.save(torch.jit.script(Gelu()), path("good-gelu.pt"))


# ---------------------------------------------------------------- re-zipped

def rezip(src, dst, compress, force_zip64=False):
    with zipfile.ZipFile(path(src)) as zin, \
            zipfile.ZipFile(path(dst), "w", compression=compress, allowZip64=True) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zi = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = compress
            zi.external_attr = 0
            with zout.open(zi, "w", force_zip64=force_zip64) as f:
                f.write(data)


class LongPackageSub(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(2))

    def forward(self, x):
        return x + self.w


class LongPackageRoot(nn.Module):
    def __init__(self):
        super().__init__()
        self.s = LongPackageSub()

    def forward(self, x):
        return self.s(x)


@fixture
def good_long_package():
    """A submodule whose class lives in a module of 1,010 characters: its
    code file's name is over 1 KiB (it became a plain attribute)."""
    seed()
    long = "a" * 1000 + "." + "b" * 9
    sys.modules[long] = sys.modules[__name__]
    LongPackageSub.__module__ = long
    try:
        m = torch.jit.script(LongPackageRoot())
        torch.jit.save(m, path("good-long-package.pt"))
    finally:
        LongPackageSub.__module__ = __name__
        del sys.modules[long]


@fixture
def good_rezips():
    rezip("good-scripted-mlp.pt", "good-rezip-deflate.pt", zipfile.ZIP_DEFLATED)
    rezip("good-scripted-mlp.pt", "good-rezip-unaligned.pt", zipfile.ZIP_STORED)
    rezip("good-scripted-mlp.pt", "good-zip64-entries.pt", zipfile.ZIP_STORED,
          force_zip64=True)


def main():
    os.makedirs(OUT, exist_ok=True)
    only = set(os.environ.get("ONLY", "").split(",")) - {""}
    failed = []
    for fn in FIXTURES:
        if only and fn.__name__ not in only:
            continue
        try:
            fn()
            print("ok   ", fn.__name__)
        except Exception as e:  # report and go on
            if os.environ.get("DEBUG"):
                raise
            print("FAIL ", fn.__name__, type(e).__name__, str(e).splitlines()[0] if str(e) else "")
            failed.append(fn.__name__)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
