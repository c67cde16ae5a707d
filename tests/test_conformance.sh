#!/bin/sh
# Conformance: tsinfo --json of every fixture must equal libtorch's dump
# (tests/data/*.json, made by tests/gen/gen_expected.sh), compared as
# ../shared/conformance/compare.py compares (a copy: tests/compare.py).
# Real-corpus files (../shared/corpus/real) are checked by
# tests/test_conformance_corpus.sh, which runs this script with
# TSL_CORPUS_PART=only: then only they are checked, and the script exits 77
# (SKIP) when ../shared is absent; otherwise they are left out.
# Prints one line per archive and a "N passed, N failed" summary.
set -u
src=${TSL_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${TSL_BUILDDIR:-$src}
py=${PYTHON3:-python3}
[ -n "$py" ] || py=python3
tsinfo="$build/tools/tsinfo"
cmp="$src/tests/compare.py"
real=$src/../shared/corpus/real
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0 skip=0

check() {  # archive expected name
	if ! "$tsinfo" --json --map-location cpu "$1" > "$tmp/out.json" 2> "$tmp/err"; then
		echo "FAIL $3: tsinfo failed: $(cat "$tmp/err")"
		fail=$((fail + 1))
	elif "$py" "$cmp" "$2" "$tmp/out.json" > "$tmp/diff"; then
		echo "ok   $3"
		pass=$((pass + 1))
	else
		echo "FAIL $3:"; head -n 5 "$tmp/diff" | sed 's/^/     /'
		fail=$((fail + 1))
	fi
}

part=${TSL_CORPUS_PART:-no}
if [ "$part" = only ] && [ ! -d "$real" ]; then
	echo "SKIP: $real not found; real-corpus conformance not run"
	exit 77
fi
[ "$part" = only ] || for exp in "$src"/tests/data/good-*.json; do
	a=${exp%.json}
	check "$a" "$exp" "$(basename "$a")"
done
if [ "$part" = only ]; then
	for exp in "$src"/tests/data/real/*.json; do
		b=$(basename "$exp" .json)
		case " $(cat "$src/tests/data/real/KNOWN_DIFFERENCES" 2>/dev/null | cut -f1 | tr '\n' ' ') " in
		*" $b "*) echo "skip real/$b (known difference, see tests/data/real/KNOWN_DIFFERENCES)"
			skip=$((skip + 1)); continue;;
		esac
		[ -f "$real/$b" ] && check "$real/$b" "$exp" "real/$b"
	done
fi
echo "conformance: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
