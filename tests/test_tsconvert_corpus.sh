#!/bin/sh
# tsconvert on the shared corpus of real-world archives
# (../shared/corpus/real): every file libtorch loads (an expected dump in
# tests/data/real/, or expected legacy values in tests/data/real-legacy/)
# is converted four ways and checked by tests/tsconvert_check.py, as
# tests/test_tsconvert.sh does for the fixtures.  Files listed in
# tests/data/real/KNOWN_DIFFERENCES are skipped (the dump differs there).
# SKIP (exit 77) when the corpus or a python3 with numpy and xxhash is
# missing.
set -u
src=${TSL_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${TSL_BUILDDIR:-$src}
data=${TSL_TEST_DATA:-$src/tests/data}
real=$src/../shared/corpus/real
py=${PYTHON3:-}
[ -n "$py" ] || py=python3
if [ ! -d "$real" ]; then
	echo "SKIP: $real not found"
	exit 77
fi
if ! "$py" -c 'import json, numpy, xxhash' 2>/dev/null; then
	echo "SKIP: no python3 with numpy and xxhash ($py)"
	exit 77
fi
tsconvert="$build/tools/tsconvert"
chk="$src/tests/tsconvert_check.py"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0 skip=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; [ -s "$tmp/why" ] && sed 's/^/     /' "$tmp/why" | head -n 20; fail=$((fail + 1)); }
. "$src/tests/tsconvert_lib.sh"

known=" $(cut -f1 "$data/real/KNOWN_DIFFERENCES" 2>/dev/null | tr '\n' ' ') "
for exp in "$data"/real/*.json "$data"/real-legacy/*.json; do
	[ -f "$exp" ] || continue
	b=$(basename "$exp" .json)
	case "$known" in
	*" $b "*) echo "skip real/$b (known difference)"; skip=$((skip + 1)); continue;;
	esac
	if [ ! -f "$real/$b" ]; then
		echo "skip real/$b (not in the corpus)"; skip=$((skip + 1)); continue
	fi
	convert_check "$real/$b" "$exp" "real/$b"
done
echo "tsconvert corpus: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
