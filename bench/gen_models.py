#!/usr/bin/python3
"""Write the tsbench benchmark archives (TorchScript, torch.jit.save).

Run with Debian's python3-torch (/usr/bin/python3); no downloads are made
(torchvision's resnet50 is built with weights=None and seeded).

    /usr/bin/python3 bench/gen_models.py [--out DIR] [--force] [NAME...]

The archives go OUTSIDE the repository, to DIR (default /var/tmp/tsload-bench):

  tiny.pt             a 2-layer MLP (scripted), 4 tensors
  resnet50_script.pt  torchvision resnet50, torch.jit.script
  resnet50_trace.pt   torchvision resnet50, torch.jit.trace
  many_small.pt       10,000 Linear(4, 4) in a ModuleList: 20,002 small tensors
  big_mlp_1g.pt       4 x Linear(8192, 8192): about 1 GiB of float32
  big_4g.pt           16 x Linear(8192, 8192): about 4 GiB, zip64 offsets

Every model is seeded, so the tensor bytes are the same on every run.  An
archive that already exists is kept unless --force is given.  A model is
skipped, with a message, when the disk has not room for it (plus a margin).
"""

import argparse
import os
import shutil
import sys
import time

import torch

GIB = 1 << 30
MIB = 1 << 20


class TinyMLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(16, 32)
        self.fc2 = torch.nn.Linear(32, 4)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


class ManySmall(torch.nn.Module):
    """About 20,000 tiny tensors, each in its own record."""

    def __init__(self, n=10000):
        super().__init__()
        self.layers = torch.nn.ModuleList(
            [torch.nn.Linear(4, 4) for _ in range(n)])
        self.head = torch.nn.Linear(4, 4)

    def forward(self, x):
        return self.head(x)


class BigMLP(torch.nn.Module):
    """n square Linear layers of width w (float32)."""

    def __init__(self, n, w=8192):
        super().__init__()
        self.layers = torch.nn.ModuleList(
            [torch.nn.Linear(w, w) for _ in range(n)])

    def forward(self, x):
        for layer in self.layers:
            x = torch.relu(layer(x))
        return x


def _fast_init(mod):
    """Seeded, cheap initialisation for the big models (kaiming init of
    4 GiB is slow and needs no realism here)."""
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for p in mod.parameters():
            # a small random block tiled over the tensor: deterministic,
            # not constant, and fast
            blk = torch.rand(4096, generator=g) - 0.5
            flat = p.view(-1)
            reps = (flat.numel() + blk.numel() - 1) // blk.numel()
            flat.copy_(blk.repeat(reps)[:flat.numel()])
    return mod


def make_tiny():
    torch.manual_seed(0)
    return torch.jit.script(TinyMLP().eval())


def _resnet50():
    import torchvision
    torch.manual_seed(0)
    return torchvision.models.resnet50(weights=None).eval()


def make_resnet50_script():
    return torch.jit.script(_resnet50())


def make_resnet50_trace():
    m = _resnet50()
    torch.manual_seed(1)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        return torch.jit.trace(m, x)


def make_many_small():
    torch.manual_seed(0)
    return torch.jit.script(ManySmall().eval())


def make_big_mlp_1g():
    torch.manual_seed(0)
    m = BigMLP(4)
    return torch.jit.script(_fast_init(m).eval())


def make_big_4g():
    torch.manual_seed(0)
    m = BigMLP(16)
    return torch.jit.script(_fast_init(m).eval())


# name -> (maker, approximate archive size in bytes, RAM needed)
MODELS = [
    ("tiny", make_tiny, 64 * 1024),
    ("resnet50_script", make_resnet50_script, 110 * MIB),
    ("resnet50_trace", make_resnet50_trace, 110 * MIB),
    ("many_small", make_many_small, 40 * MIB),
    ("big_mlp_1g", make_big_mlp_1g, GIB + 2 * MIB),
    ("big_4g", make_big_4g, 4 * GIB + 2 * MIB),
]

MARGIN = 512 * MIB  # leave this much free on the disk


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="/var/tmp/tsload-bench",
                    help="output directory (default %(default)s)")
    ap.add_argument("--force", action="store_true",
                    help="rewrite archives that already exist")
    ap.add_argument("names", nargs="*",
                    help="models to write (default: all): " +
                    ", ".join(n for n, _, _ in MODELS))
    args = ap.parse_args(argv)

    known = {n for n, _, _ in MODELS}
    for n in args.names:
        if n not in known:
            ap.error("unknown model %r" % n)
    want = set(args.names) if args.names else known

    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    skipped = 0
    for name, maker, size in MODELS:
        if name not in want:
            continue
        path = os.path.join(args.out, name + ".pt")
        if os.path.exists(path) and not args.force:
            print("%-16s exists, kept (%s; --force rewrites)" % (name, path))
            continue
        free = shutil.disk_usage(args.out).free
        if free < size + MARGIN:
            print("%-16s SKIPPED: needs about %d MiB on disk, %d MiB free in %s"
                  % (name, (size + MARGIN) // MIB, free // MIB, args.out))
            skipped += 1
            continue
        t0 = time.time()
        mod = maker()
        # torch.jit.save names the archive's folder after the file's stem,
        # so write NAME.pt in a scratch folder, then move it into place
        tmpdir = os.path.join(args.out, ".partial")
        os.makedirs(tmpdir, exist_ok=True)
        tmp = os.path.join(tmpdir, name + ".pt")
        torch.jit.save(mod, tmp)
        os.replace(tmp, path)
        os.rmdir(tmpdir)
        del mod
        print("%-16s %10.1f MiB  %6.1f s  %s"
              % (name, os.path.getsize(path) / MIB, time.time() - t0, path))
        sys.stdout.flush()
    if skipped:
        print("%d model(s) skipped for lack of disk space" % skipped)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
