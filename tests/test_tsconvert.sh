#!/bin/sh
# tsconvert: every fixture with expected values (tests/data/good-*,
# legacy/*, ckpt-*) converted four ways (--all --keep-quantized, --all,
# default, --dedupe) and read back by tests/tsconvert_check.py (its own
# safetensors reader: json, numpy, xxhash; no tsload code) against the
# expected dumps; the negative checkpoints and hostile inputs (malformed
# and truncated archives, unsupported dtypes, bad arguments) must fail
# with a message, exit 1..125 (never a signal, no sanitizer report in an
# ASan build), and leave no output file, no temporary file, and an
# existing OUTPUT untouched.
# Prints one line per check and "N passed, N failed"; exit 77 without a
# python3 with numpy and xxhash.
set -u
src=${TSL_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${TSL_BUILDDIR:-$src}
data=${TSL_TEST_DATA:-$src/tests/data}
py=${PYTHON3:-}
[ -n "$py" ] || py=python3
if ! "$py" -c 'import json, numpy, xxhash' 2>/dev/null; then
	echo "SKIP: no python3 with numpy and xxhash ($py)"
	exit 77
fi
tsconvert="$build/tools/tsconvert"
chk="$src/tests/tsconvert_check.py"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; [ -s "$tmp/why" ] && sed 's/^/     /' "$tmp/why" | head -n 20; fail=$((fail + 1)); }
. "$src/tests/tsconvert_lib.sh"

# refused NAME ARGS...: tsconvert ARGS must fail cleanly, saying why, and
# leave $tmp/out/ as it was (only old.st, unchanged)
mkdir "$tmp/out"
refused() {
	name=$1; shift
	: > "$tmp/why"
	rm -rf "$tmp/out"; mkdir "$tmp/out"
	echo old > "$tmp/out/old.st"
	"$tsconvert" "$@" > /dev/null 2> "$tmp/err"
	rc=$?
	left=$(ls -A "$tmp/out" | tr '\n' ' ')
	if [ $rc -lt 1 ] || [ $rc -gt 125 ]; then
		echo "exit status $rc: $(head -c 300 "$tmp/err")" > "$tmp/why"; bad "$name"
	elif grep -q "Sanitizer\|runtime error" "$tmp/err"; then
		head -c 1500 "$tmp/err" > "$tmp/why"; bad "$name"
	elif [ ! -s "$tmp/err" ] || grep -q "tsl_\|TSL_\|NULL" "$tmp/err"; then
		echo "message: '$(head -c 300 "$tmp/err")'" > "$tmp/why"; bad "$name"
	elif [ "$left" != "old.st " ] || [ "$(cat "$tmp/out/old.st")" != old ]; then
		echo "output folder holds: $left" > "$tmp/why"; bad "$name"
	else
		ok "$name: $(head -n 1 "$tmp/err" | cut -c 1-110)"
	fi
}

for exp in "$data"/good-*.json "$data"/legacy/*.json "$data"/ckpt-*.json \
		"$data"/tsconvert-*.json; do
	[ -f "$exp" ] || continue
	a=${exp%.json}
	b=${a#"$data"/}
	if grep -q '"error"' "$exp"; then
		refused "$b (refused)" "$a" "$tmp/out/old.st"
		continue
	fi
	convert_check "$a" "$exp" "$b"
done

# tied weights (tests/gen/gen_tsconvert.py): --dedupe writes the first
# name and records the two others as its aliases; the other view of the
# same storage is written; the quantized tensors come out as F32
: > "$tmp/why"
if convert_one "$data/tsconvert-tied.pt" dd --dedupe &&
   "$py" - "$tmp/o-dd.st" > "$tmp/why" 2>&1 <<'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
h = json.loads(b[8:8 + struct.unpack("<Q", b[:8])[0]])
m = h.pop("__metadata__")
al = {k: v for k, v in m.items() if k.startswith("alias:")}
assert al == {"alias:head.weight": "embed.weight",
              "alias:decoder.weight": "embed.weight"}, al
assert sorted(h) == ["embed.rows", "embed.weight", "head.bias",
                     "q.per_channel", "q.per_tensor"], sorted(h)
assert h["q.per_tensor"]["dtype"] == "F32", h["q.per_tensor"]
PY
then ok "tsconvert-tied.pt: --dedupe aliases"; else bad "tsconvert-tied.pt: --dedupe aliases"; fi

# hostile inputs: refused, nothing written, OUTPUT untouched
# a record shorter than the tensor views on it
"$py" - "$data/good-scripted-mlp.pt" "$tmp/short.pt" <<'PY'
import sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w") as zo:
    for info in zi.infolist():
        b = zi.read(info)
        if info.filename.endswith("/data/0"):
            b = b[:len(b) // 2]
        zo.writestr(info, b)
PY
refused "record shorter than its tensor" "$tmp/short.pt" "$tmp/out/old.st"
grep -q "data/0" "$tmp/err" || { echo "no record named: $(cat "$tmp/err")" > "$tmp/why"; bad "short record: names the record"; }
refused "missing file" "$data/no-such-file.pt" "$tmp/out/old.st"
refused "not an archive" "$data/gather.expected" "$tmp/out/old.st"
refused "complex without --skip-unsupported" "$data/good-dtypes.pt" "$tmp/out/old.st"
grep -q "complex" "$tmp/err" || { echo "no tensor named: $(cat "$tmp/err")" > "$tmp/why"; bad "complex: names the dtype"; }
refused "sparse without --skip-unsupported" "$data/good-sparse.pt" "$tmp/out/old.st"
refused "unknown option" --frobnicate "$data/good-views.pt" "$tmp/out/old.st"
refused "one argument" "$data/good-views.pt"
refused "two names written alike" "$data/tsconvert-name-clash.pt" "$tmp/out/old.st"
refused "output in a missing folder" "$data/good-views.pt" "$tmp/out/nodir/x.st"
for f in good-views.pt good-quant-static.pt ckpt-nested.pt good-rezip-deflate.pt legacy/legacy-plain.pt; do
	size=$(wc -c < "$data/$f")
	for cut in 30 $((size / 3)) $((size / 2)) $((size - 30)) $((size - 1)); do
		head -c "$cut" "$data/$f" > "$tmp/trunc.pt"
		refused "$f truncated to $cut bytes" "$tmp/trunc.pt" "$tmp/out/old.st"
	done
	# a flipped byte in every record's data: either refused cleanly or a
	# valid safetensors file
	python_flip='import sys; b = bytearray(open(sys.argv[1], "rb").read()); i = int(sys.argv[2]); b[i] ^= 0xff; open(sys.argv[3], "wb").write(b)'
	for at in 60 $((size / 4)) $((size / 2)) $((size * 3 / 4)); do
		"$py" -c "$python_flip" "$data/$f" "$at" "$tmp/flip.pt"
		: > "$tmp/why"
		"$tsconvert" -q --all --skip-unsupported "$tmp/flip.pt" "$tmp/flip.st" 2> "$tmp/err"
		rc=$?
		if [ $rc -eq 0 ]; then
			if "$py" -c 'import sys; sys.path.insert(0, sys.argv[1]); import tsconvert_check as c; c.read_st(sys.argv[2])' "$src/tests" "$tmp/flip.st" 2> "$tmp/why"; then
				ok "$f, byte $at flipped: converted, valid file"
			else
				bad "$f, byte $at flipped: invalid output"
			fi
		elif [ $rc -le 125 ] && [ -s "$tmp/err" ] && [ ! -e "$tmp/flip.st" ] &&
		     ! grep -q "Sanitizer\|runtime error" "$tmp/err"; then
			ok "$f, byte $at flipped: refused: $(head -n 1 "$tmp/err" | cut -c 1-80)"
		else
			echo "exit $rc: $(head -c 300 "$tmp/err")" > "$tmp/why"
			bad "$f, byte $at flipped"
		fi
		rm -f "$tmp/flip.st"
	done
done
# a signal while writing: either killed with no output and no temporary
# file left, or (the signal came after the rename: exit 0, or 143 when it
# landed before the exit) a complete file; the delays vary where it is
# hit, the invariant holds at every one
for delay in 0 0.005 0.01 0.02 0.04 0.08; do
	rm -rf "$tmp/out"; mkdir "$tmp/out"
	: > "$tmp/why"
	"$tsconvert" -q --all "$data/good-mobilenet-script.pt" "$tmp/out/m.st" 2> "$tmp/err" &
	pid=$!
	sleep "$delay"
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
	rc=$?
	left=$(ls -A "$tmp/out" | tr '\n' ' ')
	if { [ $rc -eq 0 ] || [ $rc -eq 143 ]; } && [ "$left" = "m.st " ] &&
	   "$py" -c 'import sys; sys.path.insert(0, sys.argv[1]); import tsconvert_check as c; c.read_st(sys.argv[2])' "$src/tests" "$tmp/out/m.st" 2> "$tmp/why"; then
		ok "SIGTERM after ${delay}s: renamed into place first, complete file"
	elif [ $rc -eq 143 ] && [ -z "$left" ]; then
		ok "SIGTERM after ${delay}s: killed, nothing left"
	else
		echo "exit $rc, left: '$left'" >> "$tmp/why"
		bad "SIGTERM after ${delay}s"
	fi
done

# the same, sent as soon as the temporary file exists
rm -rf "$tmp/out"; mkdir "$tmp/out"
: > "$tmp/why"
"$tsconvert" -q --all "$data/good-mobilenet-script.pt" "$tmp/out/m.st" 2> "$tmp/err" &
pid=$!
n=0
while [ -z "$(ls -A "$tmp/out")" ] && [ $n -lt 100000 ] && kill -0 "$pid" 2>/dev/null; do
	n=$((n + 1))
done
seen=$(ls -A "$tmp/out" | tr '\n' ' ')
kill -TERM "$pid" 2>/dev/null
wait "$pid"
rc=$?
left=$(ls -A "$tmp/out" | tr '\n' ' ')
if [ $rc -eq 143 ] && [ -z "$left" ]; then
	ok "SIGTERM with '$seen' present: killed, nothing left"
elif { [ $rc -eq 0 ] || [ $rc -eq 143 ]; } && [ "$left" = "m.st " ] &&
     "$py" -c 'import sys; sys.path.insert(0, sys.argv[1]); import tsconvert_check as c; c.read_st(sys.argv[2])' "$src/tests" "$tmp/out/m.st" 2> "$tmp/why"; then
	ok "SIGTERM with '$seen' present: renamed into place first, complete file"
else
	echo "exit $rc, seen '$seen', left: '$left'" > "$tmp/why"
	bad "SIGTERM once the temporary file exists"
fi

# outputs that are not regular files: a symbolic link is followed (the
# link stays, its target gets the file), a FIFO is written in place (it
# was replaced by a regular file, and so was /dev/null when run as root)
rm -rf "$tmp/out"; mkdir "$tmp/out"
: > "$tmp/why"
"$tsconvert" -q "$data/good-views.pt" "$tmp/out/direct.st" 2> "$tmp/why"
echo old > "$tmp/out/target.st"
ln -s target.st "$tmp/out/link.st"
if "$tsconvert" -q "$data/good-views.pt" "$tmp/out/link.st" 2> "$tmp/why" &&
   [ -L "$tmp/out/link.st" ] && cmp -s "$tmp/out/target.st" "$tmp/out/direct.st" &&
   [ "$(ls -A "$tmp/out" | tr '\n' ' ')" = "direct.st link.st target.st " ]; then
	ok "a symbolic link as output: its target written, the link kept"
else
	ls -la "$tmp/out" >> "$tmp/why"; bad "a symbolic link as output"
fi
if mkfifo "$tmp/out/fifo"; then
	# (bounded: a tsconvert that renames over the FIFO never opens it)
	timeout 60 cat "$tmp/out/fifo" > "$tmp/fifo.st" &
	reader=$!
	"$tsconvert" -q "$data/good-views.pt" "$tmp/out/fifo" 2> "$tmp/why"
	rc=$?
	wait "$reader"
	if [ $rc -eq 0 ] && [ -p "$tmp/out/fifo" ] &&
	   cmp -s "$tmp/fifo.st" "$tmp/out/direct.st" &&
	   [ "$(ls -A "$tmp/out" | tr '\n' ' ')" = "direct.st fifo link.st target.st " ]; then
		ok "a FIFO as output: written in place, still a FIFO"
	else
		echo "exit $rc" >> "$tmp/why"; ls -la "$tmp/out" >> "$tmp/why"
		bad "a FIFO as output"
	fi
fi

echo "tsconvert: $pass passed, $fail failed"
[ $fail -eq 0 ]
