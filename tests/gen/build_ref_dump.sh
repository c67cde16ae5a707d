#!/bin/sh
# Builds the libtorch oracle from ../shared/conformance/ref_dump.cpp with two
# corrections to match DUMP.md (reported upstream in our closing notes):
#  1. storages are numbered by StorageImpl, not by data pointer: distinct
#     empty (0-byte) storages all have a NULL data pointer and were merged;
#  2. extra_files are printed sorted by name (ExtraFilesMap is an
#     unordered_map, so its iteration order was hash order).
# Needs: apt-get install -y libtorch-dev libxxhash-dev
#   sh tests/gen/build_ref_dump.sh [OUT]   (default /tmp/ref_dump)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=${TSL_REF_DUMP_SRC:-$here/../../../shared/conformance/ref_dump.cpp}
out=${1:-/tmp/ref_dump}
tmp=$(mktemp -d)
sed -e 's/t0\.storage()\.data()/(const void*)t0.storage().unsafeGetStorageImpl()/' \
    -e 's/for (const auto& kv : extra) {/for (const auto\& kv : std::map<std::string, std::string>(extra.begin(), extra.end())) {/' \
    "$src" > "$tmp/ref_dump.cpp"
grep -q unsafeGetStorageImpl "$tmp/ref_dump.cpp"
grep -q 'std::map<std::string, std::string>(extra' "$tmp/ref_dump.cpp"
g++ -O1 -std=c++17 -o "$out" "$tmp/ref_dump.cpp" \
  -I/usr/include/torch/csrc/api/include \
  -ltorch -ltorch_cpu -lc10 -lxxhash -Wl,--no-as-needed
rm -rf "$tmp"
echo "built $out"
