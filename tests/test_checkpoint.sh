#!/bin/sh
# torch.save checkpoints (tests/data/ckpt-*.pt, written by
# tests/gen/gen_checkpoints.py with a real torch.save): for each one,
#  - `tsinfo --json --checkpoint` must print a value tree whose tensors
#    (dtype, shape, strides, offset, storage sharing, xxh3) and scalars equal
#    what torch.load gave (ckpt-*.pt.json; compared by tests/checkpoint_check.py);
#  - `tsinfo --json` without --checkpoint must refuse it (exit 1..125) with a
#    message that names torch.save;
#  - a negative case ({"error": [...]}) must be refused, with every text in
#    the message, even with --checkpoint.
# Prints one line per check and "N passed, N failed"; exit 77 without Python.
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
tsinfo="$build/tools/tsinfo"
chk="$src/tests/checkpoint_check.py"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0

ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; [ -s "$tmp/why" ] && sed 's/^/     /' "$tmp/why" | head -n 20; fail=$((fail + 1)); }

# refused NAME TEXTS... : the last tsinfo run ($rc, $tmp/err) refused the file
# cleanly, with every TEXT in its message
refused() {
	name=$1; shift
	: > "$tmp/why"
	if [ "$rc" -lt 1 ] || [ "$rc" -gt 125 ]; then
		echo "exit status $rc (want 1..125): $(head -c 300 "$tmp/err")" > "$tmp/why"
		bad "$name"; return
	fi
	for text in "$@"; do
		if ! grep -qF -- "$text" "$tmp/err"; then
			echo "message lacks '$text': $(head -c 300 "$tmp/err")" > "$tmp/why"
			bad "$name"; return
		fi
	done
	ok "$name"
}

found=0
for exp in "$data"/ckpt-*.pt.json; do
	[ -f "$exp" ] || continue
	found=1
	a=${exp%.json}
	b=$(basename "$a")
	if [ ! -f "$a" ]; then
		echo "missing $a" > "$tmp/why"; bad "$b"; continue
	fi
	# the negative cases: "error": [texts]
	"$py" -c 'import json,sys
e = json.load(open(sys.argv[1])).get("error")
sys.stdout.write("\n".join(e) + "\n" if e else "")' "$exp" > "$tmp/texts"
	if [ -s "$tmp/texts" ]; then
		"$tsinfo" --json --checkpoint "$a" > "$tmp/out.json" 2> "$tmp/err"
		rc=$?
		set --
		while IFS= read -r t; do set -- "$@" "$t"; done < "$tmp/texts"
		refused "$b (refused)" "$@"
		continue
	fi
	# the value tree, checked against torch.load
	: > "$tmp/why"
	"$tsinfo" --json --checkpoint "$a" > "$tmp/out.json" 2> "$tmp/err"
	rc=$?
	if [ $rc -ne 0 ]; then
		echo "tsinfo --json --checkpoint: exit $rc: $(head -c 400 "$tmp/err")" > "$tmp/why"
		bad "$b"
	elif "$py" "$chk" "$exp" "$tmp/out.json" > "$tmp/why" 2>&1; then
		echo "ok   $b: $(tail -n 1 "$tmp/why")"; pass=$((pass + 1))
	else
		bad "$b"
	fi
	# the human listing works too
	: > "$tmp/why"
	if "$tsinfo" --checkpoint "$a" > "$tmp/out.txt" 2> "$tmp/err"; then
		ok "$b (listing)"
	else
		echo "tsinfo --checkpoint: exit $?: $(head -c 300 "$tmp/err")" > "$tmp/why"
		bad "$b (listing)"
	fi
	# without --checkpoint: refused, naming torch.save
	"$tsinfo" --json "$a" > "$tmp/out.json" 2> "$tmp/err"
	rc=$?
	refused "$b (refused without --checkpoint)" "torch.save"
done
if [ $found -eq 0 ]; then
	echo "FAIL no tests/data/ckpt-*.pt.json found in $data"
	fail=$((fail + 1))
fi
echo "checkpoints: $pass passed, $fail failed"
[ $fail -eq 0 ]
