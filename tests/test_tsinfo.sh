#!/bin/sh
# tsinfo as a person uses it (the text output; --json is checked by
# test_conformance.sh):
#  - --checkpoint on a nested checkpoint lists every tensor at its dotted
#    path (list items by index) and the other values (issue 14, item 2)
#  - messages in tsinfo's words: --checkpoint, --map-location cpu, never
#    the C API's names; standard input read as `-` and /dev/stdin (item 5)
#  - options: an unknown one is named, --map-location=DEV, --json with
#    --records refused, -h/--help listed, several archives (item 6)
#  - the --json format is described in doc/tsinfo-json.md, whose version
#    is the one printed (item 7)
#  - the table: columns aligned for long names, elements and sizes with
#    units, sparse tensors marked, attributes, traced inputs,
#    --restore-shapes (item 15; the warning is a warning: exit 0); a
#    quantized model's packed weights and the tensor constants counted
set -u
src=${TSL_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${TSL_BUILDDIR:-$src}
data=${TSL_TEST_DATA:-$src/tests/data}
tsinfo="$build/tools/tsinfo"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

bad() { echo "FAIL $*"; fail=1; }
# has FILE TEXT: FILE holds the fixed string TEXT
has() { grep -qF -- "$2" "$1" || bad "$(basename "$1") lacks '$2'"; }
# lacks FILE TEXT
lacks() { ! grep -qF -- "$2" "$1" || bad "$(basename "$1") has '$2'"; }
# run NAME ARGS...: tsinfo's stdout in $tmp/NAME.out, stderr in
# $tmp/NAME.err, exit status in $rc
run() {
	n=$1; shift
	"$tsinfo" "$@" > "$tmp/$n.out" 2> "$tmp/$n.err"
	rc=$?
}

# --- item 2: a nested checkpoint -------------------------------------------
run ckpt --checkpoint "$data/ckpt-nested.pt"
[ "$rc" -eq 0 ] || bad "tsinfo --checkpoint ckpt-nested.pt: exit $rc"
for t in "model.conv.weight " "model.bn.running_mean " \
	"model.block.0.weight " "model.block.2.bias " \
	"sgd.state.0.momentum_buffer " "sgd.state.6.momentum_buffer " \
	"(18 tensors, 312 elements, 1.2 KiB)" "Other values:" "epoch: 7" \
	"optimizer.lr: [0.1, 0.01]" "sgd.param_groups.0.params: [0, 1, 2, 3, 4, 5, 6]" \
	"pair: (1, 'two', 3)"; do
	has "$tmp/ckpt.out" "$t"
done
lacks "$tmp/ckpt.out" "(0 tensors"

# --- item 5: the tool's words, standard input -------------------------------
# quint4x2 / quint2x4: elements packed two / four to a byte (gather.pt)
run packed --checkpoint "$data/gather.pt"
[ "$rc" -eq 0 ] || bad "tsinfo --checkpoint gather.pt: exit $rc"
grep -E '^  qu4_pt +quint4x2 +\[3, 5\] +15 +8 B ' "$tmp/packed.out" >/dev/null ||
	bad "gather.pt: qu4_pt is not 15 elements in 8 B"
grep -E '^  qu2_pt +quint2x4 +\[3, 5\] +15 +4 B ' "$tmp/packed.out" >/dev/null ||
	bad "gather.pt: qu2_pt is not 15 elements in 4 B"

run refuse "$data/ckpt-nested.pt"
[ "$rc" -eq 1 ] || bad "checkpoint without --checkpoint: exit $rc, not 1"
has "$tmp/refuse.err" "--checkpoint"
lacks "$tmp/refuse.err" "TSL_OPEN"
run cuda "$data/good-cuda.pt"
[ "$rc" -eq 1 ] || bad "good-cuda.pt on a CPU machine: exit $rc, not 1"
has "$tmp/cuda.err" "--map-location cpu"
lacks "$tmp/cuda.err" "map_location="
run file "$data/good-traced-mlp.pt"
"$tsinfo" - < "$data/good-traced-mlp.pt" > "$tmp/redir.out" 2>&1 ||
	bad "tsinfo - < file: exit $?"
cmp -s "$tmp/file.out" "$tmp/redir.out" || bad "tsinfo - < file differs"
cat "$data/good-traced-mlp.pt" | "$tsinfo" - > "$tmp/pipe.out" 2> "$tmp/pipe.err" ||
	bad "cat | tsinfo -: exit $?: $(cat "$tmp/pipe.err")"
cmp -s "$tmp/file.out" "$tmp/pipe.out" || bad "cat | tsinfo - differs"
cat "$data/good-traced-mlp.pt" | "$tsinfo" /dev/stdin > "$tmp/devstdin.out" 2> "$tmp/devstdin.err" ||
	bad "cat | tsinfo /dev/stdin: exit $?: $(cat "$tmp/devstdin.err")"
cmp -s "$tmp/file.out" "$tmp/devstdin.out" || bad "cat | tsinfo /dev/stdin differs"
cat "$data/ckpt-nested.pt" | "$tsinfo" --checkpoint --json - > "$tmp/pipejson.out" 2>&1 ||
	bad "cat ckpt | tsinfo --checkpoint --json -: exit $?"
"$tsinfo" --checkpoint --json "$data/ckpt-nested.pt" > "$tmp/filejson.out" 2>&1
cmp -s "$tmp/pipejson.out" "$tmp/filejson.out" || bad "--json from a pipe differs"
printf 'not a zip at all' | "$tsinfo" - > /dev/null 2> "$tmp/junk.err"
rc=$?
[ "$rc" -eq 1 ] || bad "junk on a pipe: exit $rc, not 1"
lacks "$tmp/junk.err" "tsl_"

# --- item 6: options --------------------------------------------------------
run unknown --bogus "$data/good-traced-mlp.pt"
[ "$rc" -eq 2 ] || bad "unknown option: exit $rc, not 2"
has "$tmp/unknown.err" "'--bogus'"
run mapeq --map-location=cpu "$data/good-cuda.pt"
[ "$rc" -eq 0 ] || bad "--map-location=cpu: exit $rc: $(cat "$tmp/mapeq.err")"
run mapsp --map-location cpu "$data/good-cuda.pt"
cmp -s "$tmp/mapeq.out" "$tmp/mapsp.out" || bad "--map-location=cpu and --map-location cpu differ"
run both --json --records "$data/good-traced-mlp.pt"
[ "$rc" -eq 2 ] || bad "--json --records: exit $rc, not 2"
has "$tmp/both.err" "--json"
has "$tmp/both.err" "--records"
[ -s "$tmp/both.out" ] && bad "--json --records printed something"
run help --help
[ "$rc" -eq 0 ] || bad "--help: exit $rc"
has "$tmp/help.out" "-h, --help"
has "$tmp/help.out" "--restore-shapes"
run two "$data/good-traced-mlp.pt" "$data/good-sparse.pt"
[ "$rc" -eq 0 ] || bad "two archives: exit $rc: $(cat "$tmp/two.err")"
has "$tmp/two.out" "==> $data/good-traced-mlp.pt <=="
has "$tmp/two.out" "==> $data/good-sparse.pt <=="
has "$tmp/two.out" "layers.0.weight"
has "$tmp/two.out" "sparse_coo"
run twobad "$data/good-traced-mlp.pt" "$tmp/missing.pt"
[ "$rc" -eq 1 ] || bad "a missing second archive: exit $rc, not 1"
has "$tmp/twobad.out" "layers.0.weight"
has "$tmp/twobad.err" "missing.pt"
run twojson --json --map-location cpu "$data/good-traced-mlp.pt" "$data/good-cuda.pt"
[ "$rc" -eq 0 ] || bad "--json with two archives: exit $rc"
n=$(grep -c '^{' "$tmp/twojson.out")
[ "$n" -eq 2 ] || bad "--json with two archives: $n documents, not 2"

# --- item 7: the --json format is described in doc/, with its version ----
fmt="$src/doc/tsinfo-json.md"
if [ ! -f "$fmt" ]; then
	bad "doc/tsinfo-json.md is missing"
else
	v=$(sed -n 's/^Every document starts with `"tsload_dump": \([0-9]*\)`.*/\1/p' "$fmt")
	[ -n "$v" ] || bad "doc/tsinfo-json.md does not state the version"
	for f in good-traced-mlp.pt ckpt-nested.pt; do
		"$tsinfo" --json --checkpoint "$data/$f" | grep -q "^{\"tsload_dump\": $v," ||
			bad "tsinfo --json $f does not start with version $v of doc/tsinfo-json.md"
	done
	# every top-level key the dumps print is described
	for k in root constants extra_files kind value saved_device xxh3; do
		grep -qF "\"$k\"" "$fmt" || grep -qF "\`$k\`" "$fmt" ||
			bad "doc/tsinfo-json.md does not describe '$k'"
	done
fi

# --- item 15: the table ----------------------------------------------------
# columns line up: in every table, each row's dtype starts where the
# header's "dtype" does (rows whose long name has a line of its own are
# the line after it)
run mobile "$data/good-mobilenet-script.pt"
awk '
/^  name +dtype/ { col = index($0, "dtype"); next }
/^  \(/ { col = 0; next }
col && /^  [^ ]/ {
	# the dtype column: after the name and two spaces
	if (substr($0, col - 2, 2) != "  " || substr($0, col, 1) == " ") {
		print "misaligned: " $0; bad = 1
	}
	rows++
}
END { if (rows < 10) { print "only " rows " table rows"; bad = 1 }; exit bad }' "$tmp/mobile.out" || bad "good-mobilenet-script.pt: columns out of line"
has "$tmp/mobile.out" "elements"
run mlp "$data/good-traced-mlp.pt"
has "$tmp/mlp.out" "(4 parameters, 58 elements, 232 B)"
has "$tmp/mlp.out" "(0 buffers, 0 elements, 0 B)"
run extra "$data/good-extra-files.pt"
has "$tmp/extra.out" "config.json"
lacks "$tmp/extra.out" " bytes"
has "$tmp/extra.out" "41 B"
run sparse "$data/good-sparse.pt"
grep -E '^  sp +float32 .* sparse_coo$' "$tmp/sparse.out" > /dev/null ||
	bad "good-sparse.pt: sp not marked sparse_coo"
grep -E '^  dense .*sparse' "$tmp/sparse.out" > /dev/null &&
	bad "good-sparse.pt: dense marked sparse"
run attrs "$data/good-containers.pt"
has "$tmp/attrs.out" "Attributes:"
has "$tmp/attrs.out" "opt_set: Optional[int] = 42"
has "$tmp/attrs.out" "ints: List[int] = ["
has "$tmp/attrs.out" "unicode: str = 'héllo"
run traced "$data/good-traced-inputs.pt"
has "$tmp/traced.out" "Traced inputs:"
has "$tmp/traced.out" "forward(float32[3, 4])"
lacks "$tmp/traced.out" "(float32[3, 4])) ->"
run restore --restore-shapes "$data/good-traced-inputs.pt"
[ "$rc" -eq 0 ] || bad "--restore-shapes: exit $rc"
has "$tmp/restore.out" "x: Tensor (float32[3, 4])) -> Tensor"
# a quantized model's weights are packed (inside __getstate__ state), not
# parameters: a "Packed weights" table, counted on the parameters' line,
# quantized dtypes with their scheme; tensor constants are counted
run qstatic "$data/good-quant-static.pt"
[ "$rc" -eq 0 ] || bad "good-quant-static.pt: exit $rc"
has "$tmp/qstatic.out" "(0 parameters, 4 packed weights (122 elements, 140 B))"
lacks "$tmp/qstatic.out" "(0 parameters, 0 elements"
has "$tmp/qstatic.out" "Packed weights (in __getstate__ state):"
has "$tmp/qstatic.out" "(4 packed weights, 122 elements, 140 B)"
grep -E '^  conv\.__getstate__\.10 +qint8 +\[4, 3, 3, 3\] +108 +108 B +cpu  quantized per_channel_affine axis=0$' \
	"$tmp/qstatic.out" > /dev/null ||
	bad "good-quant-static.pt: conv's packed weight row"
grep -E '^  fc\._packed_params\._packed_params\.__getstate__\.1 +float32 +\[2\] +2 +8 B +cpu$' \
	"$tmp/qstatic.out" > /dev/null ||
	bad "good-quant-static.pt: fc's packed bias row"
awk '
/^  name +dtype/ { col = index($0, "dtype"); next }
/^  \(/ { col = 0; next }
col && /^  [^ ]/ {
	if (substr($0, col - 2, 2) != "  " || substr($0, col, 1) == " ") {
		print "misaligned: " $0; bad = 1
	}
	rows++
}
END { if (rows != 6) { print rows " table rows, not 6"; bad = 1 }; exit bad }' "$tmp/qstatic.out" || bad "good-quant-static.pt: columns out of line"
run qdynamic "$data/good-quant-dynamic.pt"
has "$tmp/qdynamic.out" "(0 parameters, 6 packed weights (309 elements, 462 B))"
grep -E '^  fc\._packed_params\._packed_params\.__getstate__\.0 +qint8 +\[3, 6\] .* quantized per_tensor_affine scale=0\.00290384 zero_point=0$' \
	"$tmp/qdynamic.out" > /dev/null ||
	bad "good-quant-dynamic.pt: fc's packed weight row with its scale"
# a name too long for the column has a line of its own
grep -qx '  lstm._all_weight_values.0.param.__getstate__.4.0.__getstate__.0' \
	"$tmp/qdynamic.out" || bad "good-quant-dynamic.pt: long packed name"
# a plain model has no packed weights: no table, the usual line
lacks "$tmp/mlp.out" "Packed weights"
lacks "$tmp/mlp.out" "packed weight"
has "$tmp/mlp.out" "Constants: 1 (1 tensor, 1 elements, 8 B)"
run frozen "$data/good-frozen.pt"
has "$tmp/frozen.out" "Constants: 4 (4 tensors, 127 elements, 508 B)"
lacks "$tmp/frozen.out" "Packed weights"
run nowarn --restore-shapes "$data/good-traced-mlp.pt"
[ "$rc" -eq 0 ] || bad "--restore-shapes without traced inputs: exit $rc, not 0"
has "$tmp/nowarn.err" "warning: Cannot restore shapes"
has "$tmp/nowarn.out" "layers.0.weight"

[ "$fail" -eq 0 ] && echo "ok: tsinfo"
exit $fail
