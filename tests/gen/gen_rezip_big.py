#!/usr/bin/python3
"""rezip-deflate-big.pt: a TorchScript module whose 2 MiB buffer is a
deflated record, for the test of tsl_storage_release on compressed records
(tests/test_storage.c, test_release_deflated_big).

    /usr/bin/python3 tests/gen/gen_rezip_big.py [OUTDIR]   # default tests/data

torch.jit.script + torch.jit.save (PyTorch 1.13), then every record re-packed
with deflate by Python's zipfile (aligned to 64 bytes as PyTorch writes).
The buffer is arange(2**19) % 251 as float32: not constant (a release that
zeroes its pages changes its hash) yet it deflates to a few KiB; decoded, it
is big enough for malloc to serve it with mmap.  No expected dump (not a
good-* fixture): the test compares hashes before and after releases.
"""
import io
import os
import sys
import zipfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_variants import write_aligned_zip  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(HERE, "..", "data"))


class Big(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer(
            "pattern", (torch.arange(1 << 19) % 251).to(torch.float32))
        self.w = torch.nn.Parameter(torch.arange(16, dtype=torch.float32))

    def forward(self, x):
        return x * self.w.sum() + self.pattern.sum()


def main():
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(Big()), buf)
    buf.seek(0)
    with zipfile.ZipFile(buf) as z:
        members = [(i.filename.replace("archive/", "rezip-deflate-big/", 1),
                    z.read(i.filename), zipfile.ZIP_DEFLATED)
                   for i in z.infolist()]
    write_aligned_zip(os.path.join(OUT, "rezip-deflate-big.pt"), members)
    print("ok rezip-deflate-big.pt")


if __name__ == "__main__":
    main()
