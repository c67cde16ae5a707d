#!/usr/bin/python3
"""tsbench's PyTorch peer: time torch.jit.load in a fresh Python process.

    python3 torch_load.py ARCHIVE

Imports torch first (not timed), then times only the torch.jit.load call
(map_location="cpu") and prints one JSON object on stdout:
{"load_ms": T, "rss_before_kib": A, "rss_after_kib": B,
 "rss_load_kib": B - A, "minflt": F, "majflt": G}.  tsbench runs it once
per measured run.
"""
import json
import os
import resource
import sys
import time

import torch


def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: %s ARCHIVE\n" % argv[0])
        return 2
    path = argv[1]
    rss0 = rss_kib()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    m = torch.jit.load(path, map_location="cpu")
    t1 = time.perf_counter()
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    rss1 = rss_kib()
    sys.stdout.write(json.dumps({
        "load_ms": (t1 - t0) * 1e3,
        "rss_before_kib": rss0,
        "rss_after_kib": rss1,
        "rss_load_kib": rss1 - rss0,
        "minflt": r1.ru_minflt - r0.ru_minflt,
        "majflt": r1.ru_majflt - r0.ru_majflt,
    }) + "\n")
    sys.stdout.flush()
    del m
    # skip interpreter teardown: not timed, only costs wall time
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
