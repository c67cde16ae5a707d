#!/bin/sh
# fuzz-run.sh SECONDS [TARGET...] - build the libFuzzer targets with clang
# (ASan+UBSan) in a separate build folder and run each for SECONDS.
#
#   sh tests/fuzz-run.sh 1800                 # all five, one after another
#   JOBS=4 sh tests/fuzz-run.sh 1800          # all four at once
#   sh tests/fuzz-run.sh 600 fuzz_pickle      # one target ("pickle" works too)
#
# Environment:
#   BUILD_DIR   build folder (default <srcdir>/build-fuzz); a git checkout
#               is copied to $BUILD_DIR/src and configured there, once
#   CC          compiler (default clang)
#   JOBS        1: targets run one after another; >1: all at once
#   WORK_DIR    where each target's new corpus units, crashes and log go
#               (default $BUILD_DIR/fuzz-work/<target>/)
#   FUZZ_ARGS   extra libFuzzer flags
#   KEEP_GOING  1: fork mode (-fork=1 -ignore_crashes=1 ...): a crash is
#               saved and fuzzing goes on until the time is up
#   SYNC        0: do not refresh the source copy (build what is there)
# Each target runs with -max_total_time=SECONDS -dict=fuzz/<t>.dict
# -rss_limit_mb=2048 -timeout=10 over a fresh corpus folder seeded from
# fuzz/corpus/<t>/ (the committed seeds are not modified: copy units you
# want to keep with `-merge=1` into fuzz/corpus/<t>/ by hand).  Crashes are
# written as $WORK_DIR/<t>/crash-*; move a reproducer into
# fuzz/crashes/<t>/ so that `make check` replays it forever.
# At the end the last stats line of each run (execs, cov:, ft:) is printed.
# Exit status: 0 when no target crashed, 1 otherwise.
set -eu

usage() { echo "usage: $0 SECONDS [TARGET...]" >&2; exit 2; }
[ $# -ge 1 ] || usage
secs=$1; shift
case $secs in ''|*[!0-9]*) usage ;; esac

src=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$src/build-fuzz}
work_root=${WORK_DIR:-$build/fuzz-work}
jobs=${JOBS:-1}
targets=
for t in "${@:-}"; do
	case $t in
	'') ;;
	fuzz_*) targets="$targets $t" ;;
	*) targets="$targets fuzz_$t" ;;
	esac
done
[ -n "$targets" ] || targets="fuzz_zip fuzz_pickle fuzz_load fuzz_class_header fuzz_inflate"

mkdir -p "$build"
# An in-tree configured source folder cannot also be configured out of tree,
# so build from a copy of the sources (git's list: tracked and untracked,
# not ignored), refreshed on every run so that fixes are picked up.
if [ "${SYNC:-1}" = 0 ] && [ -f "$build/src/Makefile" ]; then
	bsrc=$build/src
elif git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
	bsrc=$build/src
	mkdir -p "$bsrc"
	(cd "$src" && git ls-files -co --exclude-standard -z |
		tar --null --ignore-failed-read -T - -cf - 2>/dev/null) |
		tar -xf - -C "$bsrc" || exit 1
	if [ ! -f "$bsrc/Makefile" ]; then
		echo "fuzz-run: configuring $bsrc"
		(cd "$bsrc" && autoreconf -fi >/dev/null 2>&1 &&
			CC=${CC:-clang} ./configure -q --enable-fuzzers \
			CFLAGS="-O1 -g -fno-omit-frame-pointer") || exit 1
	fi
else
	bsrc=$build
	if [ ! -f "$bsrc/Makefile" ]; then
		echo "fuzz-run: configuring $bsrc"
		(cd "$bsrc" && CC=${CC:-clang} "$src/configure" -q \
			--enable-fuzzers CFLAGS="-O1 -g -fno-omit-frame-pointer") ||
			exit 1
	fi
fi
progs=
for t in $targets; do progs="$progs fuzz/$t"; done
make -C "$bsrc" -j"$(nproc 2>/dev/null || echo 2)" $progs >/dev/null || {
	echo "fuzz-run: build failed" >&2; exit 1; }

run_one() {
	t=$1
	w=$work_root/$t
	mkdir -p "$w/corpus" "$w/artifacts"
	cp -n "$src/fuzz/corpus/$t"/* "$w/corpus/" 2>/dev/null || true
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1} \
	keep=
	[ "${KEEP_GOING:-0}" = 1 ] && keep="-fork=1 -ignore_crashes=1 \
		-ignore_timeouts=1 -ignore_ooms=1"
	"$bsrc/fuzz/$t" $keep -max_total_time="$secs" -dict="$src/fuzz/$t.dict" \
		-rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 \
		-print_final_stats=1 -artifact_prefix="$w/artifacts/" \
		${FUZZ_ARGS:-} "$w/corpus" >"$w/log" 2>&1
}

status=0
if [ "$jobs" -gt 1 ]; then
	pids=
	for t in $targets; do run_one "$t" & pids="$pids $!"; done
	for p in $pids; do wait "$p" || status=1; done
else
	for t in $targets; do run_one "$t" || status=1; done
fi

for t in $targets; do
	w=$work_root/$t
	echo "== $t ($secs s)"
	grep -E '^#[0-9]+' "$w/log" | tail -n 1 || true
	grep -E 'INFO: fuzzed for' "$w/log" | tail -n 1 || true
	grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$w/log" || true
	echo "   corpus units: $(ls "$w/corpus" | wc -l)"
	if ls "$w/artifacts" | grep -q .; then
		echo "   ARTIFACTS: $(ls "$w/artifacts" | tr '\n' ' ')"
		grep -E 'ERROR|SUMMARY|invariant' "$w/log" | head -n 5
		status=1
	fi
done
exit $status
