#!/bin/sh
# tsbench on a small fixture (tsload only: no libtorch or torch needed):
#  - `--json` prints one object with the documented keys, each figure a
#    [median, min, max] list with min <= median <= max, runs as asked,
#    huge_pages false;
#  - `--huge-pages` loads with TSL_OPEN_HUGE_PAGES (huge_pages true) and
#    finds the same records and storages;
#  - a missing archive fails (exit 1..125) with a message naming it;
#  - a CUDA-saved archive needs --map-location cpu here, and the error
#    says so in tsbench's words;
#  - `--fleet 3` (memory mode) measures 3 processes held alive at once:
#    PSS, Pss_Anon, Pss_File and RSS numbers > 0 for each, totals that are
#    the sums of the processes (last run), each loaded process resident by
#    at least the storage bytes more than its idle twin (materialize
#    touched the mapping); --fleet 0, 257 and "3x" are refused, naming
#    --fleet, and --fleet with --cold is refused; a fleet whose processes
#    fail (not an archive) exits 1 with the children's errors.
# Exit 77 without Python (the JSON is checked with it).
set -u
src=${TSL_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${TSL_BUILDDIR:-$src}
data=${TSL_TEST_DATA:-$src/tests/data}
py=${PYTHON3:-}
[ -n "$py" ] || py=python3
if ! command -v "$py" >/dev/null 2>&1 || ! "$py" -c 'import json' 2>/dev/null; then
	echo "SKIP: no python3 ($py)"
	exit 77
fi
tsbench="$build/bench/tsbench"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
fx="$data/good-resnet-trace.pt"

for mode in plain huge; do
	flag=
	[ "$mode" = huge ] && flag=--huge-pages
	if ! "$tsbench" -q -n 3 -w 0 --settle 0 --json $flag "$fx" \
		>"$tmp/$mode.json" 2>"$tmp/err"; then
		echo "FAIL tsbench $mode exited non-zero"; cat "$tmp/err"
		fail=1
		continue
	fi
	if "$py" - "$tmp/$mode.json" "$mode" <<'PYEOF'
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
assert len(lines) == 1, "one object per archive, got %d lines" % len(lines)
d = json.loads(lines[0])
for k in ("archive", "runs", "records", "storages", "tsload_load_ms",
          "tsload_first_tensor_ms", "tsload_materialize_ms",
          "tsload_rss_load_kib", "tsload_rss_materialize_kib",
          "mmap_touch_ms", "ratio_materialize_mmap"):
    assert k in d, "missing key " + k
assert d["runs"] == 3, d["runs"]
assert d["archive"].endswith("good-resnet-trace.pt"), d["archive"]
assert d["storages"] > 0 and d["records"] > d["storages"], d
for k, v in d.items():
    if k.endswith(("_ms", "_kib")) or k.startswith("ratio_"):
        assert isinstance(v, list) and len(v) == 3, (k, v)
        assert v[1] <= v[0] <= v[2], (k, v)
assert d["tsload_load_ms"][1] > 0, d["tsload_load_ms"]
assert d["tsload_first_tensor_ms"][0] >= d["tsload_load_ms"][1], d
assert d["huge_pages"] is (sys.argv[2] == "huge"), d["huge_pages"]
assert "libtorch_load_ms" not in d and "ratio_libtorch_load" not in d
print("ok   tsbench --json (%s): load %.3f ms median, %d storages" %
      (sys.argv[2], d["tsload_load_ms"][0], d["storages"]))
PYEOF
	then :; else echo "FAIL tsbench --json ($mode)"; fail=1; fi
done
# both modes saw the same archive
if [ -s "$tmp/plain.json" ] && [ -s "$tmp/huge.json" ] && ! "$py" -c '
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
assert (a["records"], a["storages"], a["storage_bytes"]) == \
       (b["records"], b["storages"], b["storage_bytes"]), (a, b)
' "$tmp/plain.json" "$tmp/huge.json"; then
	echo "FAIL plain and --huge-pages runs differ"; fail=1
else
	echo "ok   same records and storages with and without --huge-pages"
fi

if "$tsbench" -q -n 1 -w 0 --settle 0 "$tmp/missing.pt" >/dev/null 2>"$tmp/err"; then
	echo "FAIL a missing archive succeeded"; fail=1
elif ! grep -q "missing.pt" "$tmp/err"; then
	echo "FAIL the error does not name the archive:"; cat "$tmp/err"; fail=1
else
	echo "ok   a missing archive fails, naming it"
fi
# a CUDA-saved archive on a CPU machine: refused in tsbench's words, then
# timed with --map-location cpu (and --map-location=cpu)
if "$tsbench" -q -n 1 -w 0 --settle 0 "$data/good-cuda.pt" >/dev/null 2>"$tmp/err"; then
	echo "FAIL good-cuda.pt without --map-location succeeded"; fail=1
elif ! grep -qF -- "--map-location cpu" "$tmp/err" || grep -qF "map_location=" "$tmp/err"; then
	echo "FAIL the CUDA error is not in tsbench's words:"; cat "$tmp/err"; fail=1
else
	echo "ok   good-cuda.pt refused, pointing at --map-location cpu"
fi
for form in "--map-location cpu" "--map-location=cpu"; do
	# shellcheck disable=SC2086
	if ! "$tsbench" -q -n 1 -w 0 --settle 0 --json $form "$data/good-cuda.pt" \
		>"$tmp/cuda.json" 2>"$tmp/err"; then
		echo "FAIL tsbench $form good-cuda.pt:"; cat "$tmp/err"; fail=1
	elif ! "$py" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["storages"] == 4 and d["storage_bytes"] == 232, d
' "$tmp/cuda.json"; then
		echo "FAIL tsbench $form good-cuda.pt: wrong JSON"; fail=1
	else
		echo "ok   tsbench $form times good-cuda.pt"
	fi
done

# fleet mode (no libtorch: tsload against its idle fleet only)
if ! "$tsbench" -q -n 2 --settle 0 --json --fleet 3 "$fx" >"$tmp/fleet.json" \
	2>"$tmp/err"; then
	echo "FAIL tsbench --fleet 3 exited non-zero"; cat "$tmp/err"; fail=1
elif "$py" - "$tmp/fleet.json" <<'PYEOF'
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
assert len(lines) == 1, "one object per archive, got %d lines" % len(lines)
d = json.loads(lines[0])
assert d["mode"] == "fleet" and d["fleet"] == 3 and d["runs"] == 2, d
assert d["baseline"] == "idle fleet", d["baseline"]
assert d["storages"] > 0 and d["storage_bytes"] > 0, d
procs = d["tsload_fleet_procs"]
assert len(procs) == 3, "3 processes, got %d" % len(procs)
for p in procs:
    for k in ("pss_kib", "pss_anon_kib", "pss_file_kib", "rss_kib",
              "idle_pss_kib", "idle_rss_kib"):
        assert isinstance(p[k], (int, float)) and p[k] > 0, (k, p)
    assert p["pss_kib"] <= p["rss_kib"], p
    assert abs(p["pss_anon_kib"] + p["pss_file_kib"] - p["pss_kib"]) <= 2, p
    # materialized: the storages' pages of the mapping are resident
    assert p["rss_kib"] - p["idle_rss_kib"] >= d["storage_bytes"] / 1024, \
        (p, d["storage_bytes"])
for k in ("pss_kib", "pss_added_kib", "pss_anon_kib", "pss_file_kib",
          "rss_kib", "idle_pss_kib", "idle_rss_kib"):
    v = d["tsload_fleet_" + k]
    assert isinstance(v, list) and len(v) == 3 and v[1] <= v[0] <= v[2], (k, v)
    assert v[1] > 0, (k, v)
# the totals are sums over the processes (the last run lies in [min, max])
tot = sum(p["pss_kib"] for p in procs)
lo, hi = d["tsload_fleet_pss_kib"][1:]
assert lo - 1 <= tot <= hi + 1, (tot, lo, hi)
assert "libtorch_fleet_pss_kib" not in d and "ratio_fleet_pss_added" not in d
print("ok   tsbench --fleet 3: 3 processes, PSS %d KiB, %d KiB added" %
      (tot, d["tsload_fleet_pss_added_kib"][0]))
PYEOF
then :; else echo "FAIL tsbench --fleet 3 --json"; fail=1; fi
if ! "$tsbench" -q -n 1 --settle 0 --fleet 2 "$fx" >"$tmp/fleet.txt" 2>"$tmp/err"; then
	echo "FAIL tsbench --fleet 2 (text) exited non-zero"; cat "$tmp/err"; fail=1
elif ! grep -q "fleet of 2 processes" "$tmp/fleet.txt" ||
	! grep -q "tsload PSS added" "$tmp/fleet.txt"; then
	echo "FAIL tsbench --fleet 2 text output:"; cat "$tmp/fleet.txt"; fail=1
else
	echo "ok   tsbench --fleet 2 prints its table"
fi
for bad in 0 257 3x -1; do
	if "$tsbench" -q --fleet "$bad" "$fx" >/dev/null 2>"$tmp/err"; then
		echo "FAIL --fleet $bad accepted"; fail=1
	elif ! grep -q -- "--fleet wants a number of processes from 1 to 256" "$tmp/err"; then
		echo "FAIL --fleet $bad: unclear error:"; cat "$tmp/err"; fail=1
	else
		echo "ok   --fleet $bad refused"
	fi
done
# a fleet whose processes fail: exit 1, the fleet named, no hang
printf 'not a zip\n' >"$tmp/notzip.pt"
if "$tsbench" -q -n 1 --settle 0 --fleet 3 "$tmp/notzip.pt" >/dev/null 2>"$tmp/err"; then
	echo "FAIL --fleet on a non-archive succeeded"; fail=1
elif ! grep -q "tsload fleet of 3 failed" "$tmp/err" ||
	! grep -q "TSL_ENOTTORCHSCRIPT" "$tmp/err"; then
	echo "FAIL --fleet on a non-archive: unclear error:"; cat "$tmp/err"; fail=1
else
	echo "ok   --fleet on a non-archive fails, naming the fleet"
fi
if "$tsbench" -q --fleet 2 --cold "$fx" >/dev/null 2>"$tmp/err"; then
	echo "FAIL --fleet with --cold accepted"; fail=1
elif ! grep -q -- "--cold" "$tmp/err"; then
	echo "FAIL --fleet --cold: unclear error:"; cat "$tmp/err"; fail=1
else
	echo "ok   --fleet with --cold refused"
fi
exit $fail
