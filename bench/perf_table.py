#!/usr/bin/env python3
"""Turn `tsbench --json` output into the Markdown tables of doc/PERFORMANCE.md
and check the targets of issue 15 (warm and, for records made with --cold,
cold cache).

    tsbench --json --vs-libtorch --vs-torch ARCHIVES... > bench.jsonl
    python3 bench/perf_table.py bench.jsonl

Objects of `tsbench --fleet N --json` ("mode": "fleet") get a table of
their own (fleet memory) and the fleet target of issue 15.

Plain python3; no torch needed.
"""
import json
import os
import sys


def name(rec):
    return os.path.basename(rec["archive"]).rsplit(".", 1)[0]


def fmt_ms(v):
    if v is None:
        return "-"
    if v < 1:
        return "%.3f" % v
    if v < 100:
        return "%.2f" % v
    return "%.0f" % v


def fmt_ratio(v):
    if v is None:
        return "-"
    return "%.0f×" % v if v >= 10 else "%.2f×" % v


def fmt_kib(v):
    if v is None:
        return "-"
    if abs(v) < 10240:
        return "%.0f KiB" % v
    return "%.1f MiB" % (v / 1024)


def fmt_size(b):
    if b >= 1 << 30:
        return "%.2f GiB" % (b / (1 << 30))
    if b >= 1 << 20:
        return "%.1f MiB" % (b / (1 << 20))
    return "%.1f KiB" % (b / 1024)


def med(rec, key):
    v = rec.get(key)
    return v[0] if v else None


def cell(rec, key, f):
    v = rec.get(key)
    if not v:
        return "-"
    return "%s (%s–%s)" % (f(v[0]), f(v[1]), f(v[2]))


def fleet_table(recs):
    """Fleet memory: totals over the N processes, medians (min–max)."""
    print("| archive | processes | runs | tsload PSS | tsload PSS added "
          "| of which file | libtorch PSS | libtorch PSS added | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in recs:
        print("| %s | %d | %d | %s | %s | %s | %s | %s | %s |" % (
            name(r), r["fleet"], r["runs"],
            fmt_kib(med(r, "tsload_fleet_pss_kib")),
            cell(r, "tsload_fleet_pss_added_kib", fmt_kib),
            fmt_kib(med(r, "tsload_fleet_pss_file_kib")),
            fmt_kib(med(r, "libtorch_fleet_pss_kib")),
            cell(r, "libtorch_fleet_pss_added_kib", fmt_kib),
            cell(r, "ratio_fleet_pss_added", fmt_ratio)))
    print()
    print("| target | holds | measured (medians) |")
    print("|---|---|---|")
    for r in recs:
        if name(r) != "big_mlp_1g" or r["fleet"] != 8:
            continue
        v = med(r, "tsload_fleet_pss_added_kib")
        t = med(r, "libtorch_fleet_pss_added_kib")
        print("| 8 processes of big_mlp_1g add < 1.2 GiB PSS | %s | "
              "tsload %s, libtorch %s |" % (
                  "yes" if v < 1.2 * 1024 * 1024 else "**NO**",
                  fmt_kib(v), fmt_kib(t)))
    print()


def main(argv):
    recs = []
    for path in argv[1:] or ["-"]:
        f = sys.stdin if path == "-" else open(path)
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                recs.append(json.loads(line))
    fleet = [r for r in recs if r.get("mode") == "fleet"]
    recs = [r for r in recs if r.get("mode") != "fleet"]
    by = {name(r): r for r in recs}
    if fleet:
        fleet_table(fleet)
    if not recs:
        return 0

    print("| archive | size | records | runs | tsload load ms | first tensor ms "
          "| materialize ms | mmap+touch ms | RSS load | RSS +materialize |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in recs:
        print("| %s | %s | %s | %d | %s | %s | %s | %s | %s | %s |" % (
            name(r), fmt_size(r["archive_bytes"]), r.get("records"), r["runs"],
            cell(r, "tsload_load_ms", fmt_ms),
            fmt_ms(med(r, "tsload_first_tensor_ms")),
            cell(r, "tsload_materialize_ms", fmt_ms),
            cell(r, "mmap_touch_ms", fmt_ms),
            fmt_kib(med(r, "tsload_rss_load_kib")),
            fmt_kib(med(r, "tsload_rss_materialize_kib"))))
    print()
    print("| archive | tsload load ms | torch::jit::load ms | ratio | "
          "torch.jit.load (Python) ms | ratio | libtorch RSS load |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in recs:
        print("| %s | %s | %s | %s | %s | %s | %s |" % (
            name(r), fmt_ms(med(r, "tsload_load_ms")),
            cell(r, "libtorch_load_ms", fmt_ms),
            cell(r, "ratio_libtorch_load", fmt_ratio),
            cell(r, "torch_py_load_ms", fmt_ms),
            cell(r, "ratio_torch_py_load", fmt_ratio),
            fmt_kib(med(r, "libtorch_rss_load_kib"))))
    print()

    # targets of issue 15 (medians); warm and cold records apart
    warm = {name(r): r for r in recs if r.get("cache", "warm") == "warm"}
    cold = {name(r): r for r in recs if r.get("cache") == "cold"}
    checks = []

    def ratio_target(table, n, want, how):
        r = table.get(n)
        v = r and med(r, "ratio_libtorch_load")
        what = "load ≥%d× faster than torch::jit::load on %s (%s)" % (
            want, n, how)
        if v is None:
            checks.append((what, None, "not measured"))
        else:
            checks.append((what, v >= want, "%.0f×" % v))

    fault_us = [med(r, "page_fault_us") for r in recs
                if med(r, "page_fault_us") is not None]
    if fault_us:
        fault_us.sort()
        print("Page fault cost on this machine during the run (median of "
              "the archives' medians): %.2f us (a fresh VM: 10-20 us, a "
              "warm one: about 1 us)." % fault_us[len(fault_us) // 2])
        print()
    ratio_target(warm, "many_small", 200, "warm cache")
    for n in ("resnet50_script", "resnet50_trace"):
        ratio_target(warm, n, 300, "warm cache")
    ratio_target(warm, "big_4g", 10000, "warm cache")
    if "many_small" in warm:
        r = warm["many_small"]
        v = med(r, "tsload_rss_anon_load_kib")
        if v is not None:
            checks.append(("anonymous RSS growth from the load on "
                           "many_small ≤ 3 MiB", v <= 3072, fmt_kib(v)))
        v = med(r, "tsload_minflt_load")
        if v is not None:
            checks.append(("minor faults of the load on many_small ≤ 600",
                           v <= 600, "%.0f" % v))
    if "big_4g" in warm and "tiny" in warm:
        a, b = med(warm["big_4g"], "tsload_load_ms"), med(warm["tiny"], "tsload_load_ms")
        checks.append(("big_4g load ≤ 3× tiny", a <= 3 * b,
                       "%.3f ms vs %.3f ms: %.2f×" % (a, b, a / b)))
    if "big_4g" in warm:
        v = med(warm["big_4g"], "tsload_rss_load_kib")
        checks.append(("RSS growth from the load on big_4g < 4 MiB",
                       v < 4096, fmt_kib(v)))
    for n in ("resnet50_script", "many_small"):
        if n in cold:
            ratio_target(cold, n, 100, "cold cache")
    if "big_mlp_1g" in cold:
        r = cold["big_mlp_1g"]
        a, b = med(r, "tsload_materialize_ms"), med(r, "mmap_touch_ms")
        q = med(r, "ratio_materialize_mmap")
        checks.append(("materialize big_mlp_1g cold within 1.5× of "
                       "mmap+touch cold", q is not None and q <= 1.5,
                       "%.1f ms vs %.1f ms; run-by-run ratio %.2f"
                       % (a, b, q if q is not None else float("nan"))))
    print("| target | holds | measured (medians) |")
    print("|---|---|---|")
    for what, ok, txt in checks:
        print("| %s | %s | %s |" % (what, "—" if ok is None else
                                    ("yes" if ok else "**NO**"), txt))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
