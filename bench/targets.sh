#!/bin/sh
# bench/targets.sh - one full run of issue 15's targets, side by side with
# libtorch: warm loads, cold loads, the fleet; then the table of targets.
#
#   sh bench/targets.sh [OUT.jsonl]
#
# Needs the benchmark archives (/usr/bin/python3 bench/gen_models.py, or
# TSLOAD_BENCH_DIR), bench/tsbench-libtorch (libtorch-dev), root for --cold
# (page cache eviction) and about 14 GiB of free memory (8 libtorch
# processes of big_mlp_1g).  About 8 minutes on the 2-core benchmark VM.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tsbench=${TSBENCH:-$here/tsbench}
dir=${TSLOAD_BENCH_DIR:-/var/tmp/tsload-bench}
out=${1:-targets-$(date -u +%Y%m%dT%H%M%S).jsonl}
py=${PYTHON:-/usr/bin/python3}

for a in tiny resnet50_script resnet50_trace many_small big_mlp_1g big_4g; do
	test -f "$dir/$a.pt" || {
		echo "targets.sh: $dir/$a.pt is missing (bench/gen_models.py)" >&2
		exit 1
	}
done
: > "$out"
echo "targets.sh: warm cache" >&2
"$tsbench" --json --runs 7 --vs-libtorch "$dir/tiny.pt" \
	"$dir/resnet50_script.pt" "$dir/resnet50_trace.pt" \
	"$dir/many_small.pt" "$dir/big_4g.pt" >> "$out"
echo "targets.sh: cold cache" >&2
"$tsbench" --json --cold --runs 5 --vs-libtorch "$dir/resnet50_script.pt" \
	"$dir/many_small.pt" "$dir/big_mlp_1g.pt" >> "$out"
echo "targets.sh: fleet" >&2
"$tsbench" --json --fleet 8 --runs 3 --vs-libtorch "$dir/big_mlp_1g.pt" >> "$out"
echo "targets.sh: figures in $out" >&2
"$py" "$here/perf_table.py" "$out"
