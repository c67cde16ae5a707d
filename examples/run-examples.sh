#!/bin/sh
# examples/run-examples.sh - run the example programs on fixtures from
# tests/data and check what they print (make check).
#
# Environment (exported by the Makefile): TSL_BUILDDIR, where the examples
# were built; TSL_TEST_DATA, the fixtures.
B=${TSL_BUILDDIR:-.}
D=${TSL_TEST_DATA:-${TSL_SRCDIR:-${srcdir:-.}}/tests/data}
fail=0
n=0

# run WANT_RC PATTERN... -- PROGRAM ARGS: run examples/PROGRAM, check its
# exit status and that its output (stdout and stderr) matches every
# PATTERN (grep -E).
run() {
	want=$1
	shift
	pats=
	while [ "$1" != "--" ]; do
		pats="$pats
$1"
		shift
	done
	shift
	prog=$1
	shift
	n=$((n + 1))
	out=$("$B/examples/$prog" "$@" 2>&1)
	rc=$?
	ok=1
	if [ "$rc" -ne "$want" ]; then
		echo "FAIL: $prog $*: exit $rc, expected $want"
		ok=0
	fi
	# one pattern per line
	old_ifs=$IFS
	IFS='
'
	for p in $pats; do
		if ! printf '%s\n' "$out" | grep -Eq -- "$p"; then
			echo "FAIL: $prog $*: no line matches /$p/"
			ok=0
		fi
	done
	IFS=$old_ifs
	if [ $ok -eq 1 ]; then
		echo "ok   $prog $*"
	else
		printf '%s\n' "$out" | sed 's/^/  | /'
		fail=1
	fi
}

MLP=$D/good-scripted-mlp.pt
VIEWS=$D/good-views.pt
RESNET=$D/good-resnet-script.pt
EXTRA=$D/good-extra-files.pt
CUDA=$D/good-cuda.pt

# print_params: the parameter table, lookup by dotted path, first values
# in logical order (through strides and offsets)
run 0 'layers\.0\.weight +float32 +\[8, 4\]' 'layers\.2\.bias +float32 +\[2\]' \
	'\(4 parameters\)' '^layers\.0\.weight: float32 \[8, 4\], storage data/0' \
	'values: -0\.471021 ' -- print_params "$MLP"
run 0 '^layer1\.0\.conv1\.weight: float32 \[8, 8, 3, 3\]' \
	-- print_params "$RESNET" layer1.0.conv1.weight
run 0 'values: 0 1 2 3 4 5 \.\.\.' -- print_params "$VIEWS" base
run 0 'values: 0 6 12 18 1 7 \.\.\.' -- print_params "$VIEWS" transposed
run 0 'values: 0 0 0 0 1 1 \.\.\.' -- print_params "$VIEWS" expanded
run 0 'offset 8' 'values: 8 9 10 14 15 16$' -- print_params "$VIEWS" sliced
run 1 "'layers\.9\.weight' not found" -- print_params "$MLP" layers.9.weight
run 1 'TSL_ENOTFOUND' -- print_params "$D/no-such-file.pt"

# load_to_device: a registered backend, map_location, one storage copied
run 0 '^device demo:1: available \(2 of its type\)' \
	'storage data/0 \(float32, saved on cpu\) -> demo:1: 128 bytes' \
	'device copy matches the CPU bytes' \
	'1 allocs, 1 copies \(128 bytes\), 1 frees' -- load_to_device "$MLP" demo:1
run 0 'saved on cuda:1\) -> demo:0' 'matches' -- load_to_device "$CUDA" demo:0
run 0 'saved on cuda:1\) -> cpu' '0 allocs' -- load_to_device "$CUDA" cpu
run 1 'TSL_EDEVICE' 'device_count\(\) is 2' -- load_to_device "$MLP" demo:5

# extra_files: no model loaded
run 0 '^6 extra files' 'config\.json +41 bytes' 'empty +0 bytes +\(empty\)' \
	'binary\.bin +7 bytes +00ff007f80ff00' -- extra_files "$EXTRA"
run 0 '^hello$' -- extra_files "$MLP" meta.txt
run 0 '^nested$' -- extra_files "$EXTRA" sub/dir/nested.txt
run 1 'TSL_ENOTFOUND' -- extra_files "$MLP" no-such-extra

# dlpack_feed: sums read by the consumer through DLPack strides/offsets
# (good-views: base = arange(24).view(4, 6) and views of it)
run 0 '^  base +code 2 bits 32 \[4,6\] sum 276$' \
	'^  transposed +code 2 bits 32 \[6,4\] sum 276$' \
	'^  sliced +code 2 bits 32 \[2,3\] sum 72$' \
	'^  narrowed +code 2 bits 32 \[7\] sum 56$' \
	'^  stepped +code 2 bits 32 \[4,3\] sum 132$' \
	'^  expanded +code 2 bits 32 \[3,4\] sum 12$' \
	'^  scalar_int +code 0 bits 64 \[\] sum 7$' \
	'^14 tensors fed through DLPack, 14 summed$' -- dlpack_feed "$VIEWS"
run 0 '^74 tensors fed through DLPack, 74 summed$' -- dlpack_feed "$RESNET"
run 0 '^1 tensors fed through DLPack, 1 summed$' -- dlpack_feed "$RESNET" fc.bias

echo "$n example runs"
exit $fail
