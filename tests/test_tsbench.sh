#!/bin/sh
# tsbench on a small fixture (tsload only: no libtorch or torch needed):
#  - `--json` prints one object with the documented keys, each figure a
#    [median, min, max] list with min <= median <= max, runs as asked,
#    huge_pages false;
#  - `--huge-pages` loads with TSL_OPEN_HUGE_PAGES (huge_pages true) and
#    finds the same records and storages;
#  - a missing archive fails (exit 1..125) with a message naming it;
#  - a CUDA-saved archive needs --map-location cpu here, and the error
#    says so in tsbench's words.
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
exit $fail
