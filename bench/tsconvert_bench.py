#!/usr/bin/python3
"""Time `tsconvert ARCHIVE OUT.safetensors` against `cp ARCHIVE OUT` and
record tsconvert's peak anonymous and file-backed RSS.

    bench/tsconvert_bench.py [--runs N] [--tsconvert PATH] [--out DIR] ARCHIVE

Runs are interleaved (cp, tsconvert, cp, tsconvert, ...) with the archive
in the page cache (one untimed read first), each writing a fresh file in
DIR (default: next to nothing else, /var/tmp) that is deleted after the
run; fsync is part of both (cp is followed by sync of its file, tsconvert
fsyncs before its rename).  Peak RSS is sampled from /proc/PID/status
(RssAnon, RssFile) every 2 ms.  Prints one JSON object: medians, minima,
maxima in seconds, the ratio of the medians and the peak RSS in MiB.
Needs only the Python standard library.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def rss(pid):
    anon = fil = 0
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    anon = int(line.split()[1])
                elif line.startswith("RssFile:"):
                    fil = int(line.split()[1])
    except OSError:
        pass
    return anon, fil


def run(cmd):
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd)
    peak_a = peak_f = 0
    while p.poll() is None:
        a, f = rss(p.pid)
        peak_a, peak_f = max(peak_a, a), max(peak_f, f)
        time.sleep(0.002)
    dt = time.perf_counter() - t0
    if p.returncode:
        sys.exit("%s: exit %d" % (cmd[0], p.returncode))
    return dt, peak_a, peak_f


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tsconvert", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tools", "tsconvert"))
    ap.add_argument("--out", default="/var/tmp")
    ap.add_argument("archive")
    a = ap.parse_args()
    out = os.path.join(a.out, "tsconvert-bench-%d" % os.getpid())
    with open(a.archive, "rb") as f:
        while f.read(1 << 24):
            pass
    cp, ts, anon, fil = [], [], [], []
    for _ in range(a.runs):
        dt, _, _ = run(["sh", "-c", 'cp "$1" "$2" && sync "$2"', "cp",
                        a.archive, out + ".cp"])
        cp.append(dt)
        os.unlink(out + ".cp")
        dt, pa, pf = run([a.tsconvert, "-q", a.archive, out + ".st"])
        ts.append(dt)
        anon.append(pa)
        fil.append(pf)
        os.unlink(out + ".st")
    res = {
        "archive": os.path.basename(a.archive),
        "bytes": os.path.getsize(a.archive),
        "runs": a.runs,
        "cp_s": {"median": statistics.median(cp), "min": min(cp), "max": max(cp)},
        "tsconvert_s": {"median": statistics.median(ts), "min": min(ts),
                        "max": max(ts)},
        "ratio_of_medians": statistics.median(ts) / statistics.median(cp),
        "tsconvert_peak_rss_anon_mib": max(anon) / 1024.0,
        "tsconvert_peak_rss_file_mib": max(fil) / 1024.0,
    }
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
