#!/usr/bin/python3
"""A/B two builds of libtsload with the same tsbench binary.

    python3 bench/ab_libs.py [--rounds N] [--runs K] [--single]
        OLD_LIBDIR NEW_LIBDIR ARCHIVE...

OLD_LIBDIR and NEW_LIBDIR are folders holding a libtsload.so.0 (a build
tree's lib/.libs).  Every round runs, for each archive, `tsbench --json
-n K` once with each library (LD_LIBRARY_PATH), the order of the two
alternating from round to round so that neither always runs first; each
tsbench run is K fresh processes.  The table gives, per archive and
library, the median over the rounds of tsbench's per-run medians: load
time, materialize time and minor faults of the load, and new/old ratios.

--single: each round is instead one fresh process per library and archive
(`tsbench --child=tsload`: open, load, materialize, no warm-up), the order
alternating as above; the table gives the medians over the rounds.  The
finest interleaving, for differences of a few percent (use 60 rounds or
more).

tsbench is taken from $TSBENCH (default: bench/.libs/tsbench, the real
binary behind libtool's wrapper, which would otherwise pick its own
library).  Only the library changes between A and B.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys


def run(tsbench, libdir, archive, runs):
    env = dict(os.environ, LD_LIBRARY_PATH=libdir)
    out = subprocess.run(
        [tsbench, "--json", "-q", "--no-mmap", "-n", str(runs), "-w", "1",
         "--settle", "100", archive],
        env=env, check=True, capture_output=True, text=True).stdout
    obj = json.loads(out.strip().splitlines()[-1])
    return {
        "load_ms": obj["tsload_load_ms"][0],
        "mat_ms": obj["tsload_materialize_ms"][0],
        "minflt": obj["tsload_minflt_load"][0],
    }


def run_single(tsbench, libdir, archive):
    env = dict(os.environ, LD_LIBRARY_PATH=libdir)
    out = subprocess.run(
        [tsbench, "--child=tsload", archive],
        env=env, check=True, capture_output=True, text=True).stdout
    obj = json.loads(out.strip().splitlines()[-1])
    return {
        "load_ms": obj["load_ms"],
        "mat_ms": obj["materialize_ms"],
        "minflt": obj["minflt_load"],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--single", action="store_true")
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("archives", nargs="+")
    a = ap.parse_args()
    tsbench = os.environ.get("TSBENCH", "bench/.libs/tsbench")
    res = {(ar, s): [] for ar in a.archives for s in ("old", "new")}
    for r in range(a.rounds):
        for ar in a.archives:
            order = ("old", "new") if r % 2 == 0 else ("new", "old")
            for side in order:
                lib = a.old if side == "old" else a.new
                res[(ar, side)].append(
                    run_single(tsbench, lib, ar) if a.single else
                    run(tsbench, lib, ar, a.runs))
        if not a.single or (r + 1) % 10 == 0:
            print(f"round {r + 1}/{a.rounds} done", file=sys.stderr)

    print(f"| archive | old load ms | new load ms | new/old | old materialize ms"
          f" | new materialize ms | old faults | new faults |")
    print("|---|---|---|---|---|---|---|---|")
    for ar in a.archives:
        med = {}
        for side in ("old", "new"):
            rows = res[(ar, side)]
            med[side] = {k: statistics.median(x[k] for x in rows)
                         for k in rows[0]}
        o, n = med["old"], med["new"]
        name = os.path.basename(ar).rsplit(".", 1)[0]
        print(f"| {name} | {o['load_ms']:.3f} | {n['load_ms']:.3f} | "
              f"{n['load_ms'] / o['load_ms']:.2f} | {o['mat_ms']:.3f} | "
              f"{n['mat_ms']:.3f} | {o['minflt']:.0f} | {n['minflt']:.0f} |")


if __name__ == "__main__":
    main()
