#!/bin/sh
# Legacy TorchScript archives (PyTorch 1.0-1.2, model.json): tsinfo --json of
# each must agree with the values tests/gen/legacy_expected.py computed from
# the raw archive with zipfile + json + numpy (tensor table: dtype, shape,
# strides, offset, xxh3 of the elements; module types; methods; parameters
# and buffers; storage sharing), compared by tests/legacy_check.py.
# Archives: tests/data/legacy/*.pt (synthetic, tests/gen/gen_legacy.py) and
# the shared corpus's legacy files (tests/data/real-legacy/<file>.json), the
# latter by tests/test_legacy_corpus.sh, which runs this script with
# TSL_CORPUS_PART=only: only they are checked, or the script exits 77 (SKIP)
# when ../shared is absent; otherwise they are left out.
set -u
src=${TSL_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${TSL_BUILDDIR:-$src}
py=${PYTHON3:-python3}
[ -n "$py" ] || py=python3
tsinfo="$build/tools/tsinfo"
real=$src/../shared/corpus/real
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0

check() {  # archive expected name
	if ! "$tsinfo" --json --map-location cpu "$1" > "$tmp/out.json" 2> "$tmp/err"; then
		echo "FAIL $3: tsinfo failed: $(cat "$tmp/err")"
		fail=$((fail + 1))
	elif ! "$tsinfo" --map-location cpu "$1" > "$tmp/tree.txt" 2> "$tmp/err"; then
		echo "FAIL $3: tsinfo (tree) failed: $(cat "$tmp/err")"
		fail=$((fail + 1))
	elif "$py" "$src/tests/legacy_check.py" "$2" "$tmp/out.json" > "$tmp/diff"; then
		echo "ok   $3"
		pass=$((pass + 1))
	else
		echo "FAIL $3:"; head -n 10 "$tmp/diff" | sed 's/^/     /'
		fail=$((fail + 1))
	fi
}

part=${TSL_CORPUS_PART:-no}
if [ "$part" = only ] && [ ! -d "$real" ]; then
	echo "SKIP: $real not found; real-corpus legacy files not checked"
	exit 77
fi
[ "$part" = only ] || for a in "$src"/tests/data/legacy/*.pt; do
	check "$a" "$a.json" "legacy/$(basename "$a")"
done
if [ "$part" = only ]; then
	for exp in "$src"/tests/data/real-legacy/*.json; do
		b=$(basename "$exp" .json)
		if [ -f "$real/$b" ]; then
			check "$real/$b" "$exp" "real/$b"
		else
			echo "FAIL real/$b: not in $real"
			fail=$((fail + 1))
		fi
	done
	# every legacy file of the corpus has an expected file
	for f in $(awk -F'\t' '$7 ~ /^legacy/ {print $1}' "$real/SOURCES.tsv"); do
		[ -f "$src/tests/data/real-legacy/$f.json" ] || {
			echo "FAIL real/$f: no tests/data/real-legacy/$f.json"
			fail=$((fail + 1)); }
	done
fi
echo "legacy: $pass passed, $fail failed"
[ $fail -eq 0 ]
