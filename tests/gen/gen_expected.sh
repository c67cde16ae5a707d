#!/bin/sh
# Writes the expected dumps: tests/data/<archive>.json for every fixture and
# tests/data/real/<name>.json + STATUS.tsv for ../shared/corpus/real.
#
#   sh tests/gen/gen_expected.sh [REF_DUMP] [REAL_CORPUS_DIR]
#
# REF_DUMP defaults to /tmp/ref_dump (build it with
# sh ../shared/conformance/build_ref_dump.sh /tmp/ref_dump).
set -u
here=$(cd "$(dirname "$0")" && pwd)
data=$here/../data
ref=${1:-/tmp/ref_dump}
real=${2:-$here/../../../shared/corpus/real}
py=/usr/bin/python3
tvlib=$(ls /usr/lib/python3/dist-packages/torchvision/_C*.so 2>/dev/null | head -n 1)
status=0

check_json() {
  $py -c 'import json,sys; json.load(open(sys.argv[1]))' "$1"
}

for a in "$data"/good-*.pt "$data"/good-*.ptl; do
  [ -f "$a" ] || continue
  out=$a.json
  if "$ref" "$a" --map-location cpu > "$out.tmp" 2> "$out.err" && check_json "$out.tmp"; then
    mv "$out.tmp" "$out"; rm -f "$out.err"
  else
    echo "FAIL $(basename "$a"): $(cat "$out.err")" >&2
    rm -f "$out.tmp" "$out.err"; status=1
  fi
done

if [ -d "$real" ]; then
  mkdir -p "$data/real"
  st=$data/real/STATUS.tsv
  printf 'file\tstatus\tref_dump_extra_args\n' > "$st"
  for f in "$real"/*; do
    [ -f "$f" ] || continue
    b=$(basename "$f")
    case $b in README*|SOURCES.tsv) continue;; esac
    out=$data/real/$b.json
    args= ok=0
    if "$ref" "$f" --map-location cpu > "$out.tmp" 2> "$out.err"; then
      ok=1
    elif [ -n "$tvlib" ] &&
         "$ref" "$f" --map-location cpu --load-library "$tvlib" > "$out.tmp" 2> /dev/null; then
      ok=1 args="--load-library torchvision/_C.so"
    fi
    if [ $ok = 1 ] && check_json "$out.tmp"; then
      mv "$out.tmp" "$out"; printf '%s\tok\t%s\n' "$b" "$args" >> "$st"
    elif [ $ok = 1 ]; then
      printf '%s\tinvalid JSON from ref_dump\t\n' "$b" >> "$st"; rm -f "$out.tmp"
    else
      printf '%s\t%s\t\n' "$b" "$(head -n 1 "$out.err" | tr '\t' ' ')" >> "$st"
      rm -f "$out.tmp" "$out"
    fi
    rm -f "$out.err"
  done
fi
exit $status
