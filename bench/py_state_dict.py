#!/usr/bin/python3
"""tsload.load(p).state_dict() against torch.jit.load(p).state_dict().

    PYTHONPATH=python/.libs /usr/bin/python3 bench/py_state_dict.py \\
        [--runs N] [--json] ARCHIVE...

Every measurement is a fresh Python process (this script re-runs itself
with --child); the module (tsload or torch) is imported first and not
timed.  Per archive and loader, after one warm-up process, N processes
(default 7), the loaders interleaved run by run, warm page cache.  Two
figures per process:

  state_dict   the load call and state_dict() (tsload reads no tensor bytes
               here; torch has read and copied every tensor)
  +read all    the same, then every tensor read once as numpy
               (numpy.asarray(t).sum() for tsload, t.numpy().sum() for
               torch): what a consumer that uses every weight pays

and the process's RSS growth over the measured span.  Prints medians, min
and max (ms, MiB); --json prints one object per archive and loader with
the raw runs.
"""
import json
import os
import statistics
import subprocess
import sys
import time


def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def child(loader, path):
    import numpy as np
    if loader == "tsload":
        import tsload
    else:
        import torch
    rss0 = rss_kib()
    t0 = time.perf_counter()
    if loader == "tsload":
        m = tsload.load(path, map_location="cpu")
        sd = m.state_dict()
    else:
        m = torch.jit.load(path, map_location="cpu")
        sd = m.state_dict()
    t1 = time.perf_counter()
    rss1 = rss_kib()
    total = 0.0
    for v in sd.values():
        a = np.asarray(v) if loader == "tsload" else v.numpy()
        if a.dtype.kind in "fiu" and a.size:
            total += float(a.sum(dtype=np.float64))
    t2 = time.perf_counter()
    rss2 = rss_kib()
    json.dump({"n": len(sd), "state_dict_ms": (t1 - t0) * 1e3,
               "read_all_ms": (t2 - t0) * 1e3,
               "rss_state_dict_kib": rss1 - rss0,
               "rss_read_all_kib": rss2 - rss0, "checksum": total},
              sys.stdout)
    return 0


def run_one(loader, path):
    out = subprocess.run([sys.executable, __file__, "--child", loader, path],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main(argv):
    runs, as_json, paths = 7, False, []
    args = iter(argv[1:])
    for a in args:
        if a == "--child":
            return child(next(args), next(args))
        if a == "--runs":
            runs = int(next(args))
        elif a == "--json":
            as_json = True
        else:
            paths.append(a)
    if not paths:
        sys.stderr.write(__doc__)
        return 2
    loaders = ("tsload", "torch")
    for path in paths:
        res = {ld: [] for ld in loaders}
        for ld in loaders:
            run_one(ld, path)          # warm-up: page cache, .pyc files
        for _ in range(runs):
            for ld in loaders:
                res[ld].append(run_one(ld, path))
        # the same tensors: same count, same sum of every element
        n = {res[ld][0]["n"] for ld in loaders}
        chk = {ld: res[ld][0]["checksum"] for ld in loaders}
        if len(n) != 1 or abs(chk["tsload"] - chk["torch"]) > \
                1e-6 * max(1.0, abs(chk["torch"])):
            sys.stderr.write("%s: the loaders disagree: %s %s\n" %
                             (path, n, chk))
            return 1
        name = os.path.basename(path)
        for ld in loaders:
            r = res[ld]
            row = {"archive": name, "loader": ld, "runs": runs,
                   "tensors": r[0]["n"]}
            for k in ("state_dict_ms", "read_all_ms"):
                v = [x[k] for x in r]
                row[k] = {"median": statistics.median(v), "min": min(v),
                          "max": max(v)}
            for k in ("rss_state_dict_kib", "rss_read_all_kib"):
                row[k] = statistics.median(x[k] for x in r)
            if as_json:
                row["raw"] = r
                print(json.dumps(row))
            else:
                print("%-22s %-7s %5d tensors  state_dict %9.2f ms "
                      "(%.2f-%.2f) %8.1f MiB   +read all %9.2f ms "
                      "(%.2f-%.2f) %8.1f MiB" % (
                          name, ld, row["tensors"],
                          row["state_dict_ms"]["median"],
                          row["state_dict_ms"]["min"],
                          row["state_dict_ms"]["max"],
                          row["rss_state_dict_kib"] / 1024,
                          row["read_all_ms"]["median"],
                          row["read_all_ms"]["min"],
                          row["read_all_ms"]["max"],
                          row["rss_read_all_kib"] / 1024))
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
