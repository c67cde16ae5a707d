#!/bin/sh
# examples/static-link.sh - build an example as a user of an installed tsload
# would, from tsload.pc only, and check the .pc file (make check):
#  - `pkg-config --cflags tsload` is -I<includedir> and nothing else (a
#    private dependency's headers, -I/usr/include/json-c, must not leak);
#  - `pkg-config --static --libs tsload` links examples/print_params.c into
#    a fully static program (-static), which then runs on a fixture.
# The .pc file is the one configure wrote, pointed at the build tree with
# --define-variable.  Exit 77 (SKIP), saying why, when a static link cannot
# be done here: no libtsload.a (--disable-static), a sanitizer build, or a
# static library the .pc file names is not installed (Debian: libzstd-dev,
# liblz4-dev, libacl1-dev... see README).
set -u
src=${TSL_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${TSL_BUILDDIR:-$src}
data=${TSL_TEST_DATA:-$src/tests/data}
cc=${CC:-cc}
pkgconfig=${PKG_CONFIG:-pkg-config}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

pc="$build/tsload.pc"
[ -f "$pc" ] || { echo "FAIL: no $pc"; exit 1; }
pcq() {
	"$pkgconfig" --define-variable=libdir="$build/lib/.libs" \
		--define-variable=includedir="$src/include" "$@" "$pc"
}
cflags=$(pcq --cflags) || { echo "FAIL: pkg-config --cflags"; exit 1; }
# shellcheck disable=SC2086
set -- $cflags
if [ "$#" -ne 1 ] || [ "$1" != "-I$src/include" ]; then
	echo "FAIL: pkg-config --cflags tsload gives '$cflags', not -I<includedir> alone"
	exit 1
fi
echo "ok   pkg-config --cflags: $cflags"

case "${TSL_SANITIZE:-no}" in
yes) echo "SKIP: a sanitizer build cannot link fully statically"; exit 77;;
esac
[ -f "$build/lib/.libs/libtsload.a" ] || {
	echo "SKIP: no libtsload.a (configured with --disable-static?)"; exit 77; }
libs=$(pcq --static --libs) || { echo "FAIL: pkg-config --static --libs"; exit 1; }
missing=
for f in $libs; do
	case "$f" in
	-l*)
		lib=${f#-l}
		[ "$lib" = tsload ] && continue
		p=$("$cc" -print-file-name="lib$lib.a")
		[ -f "$p" ] || missing="$missing lib$lib.a"
		;;
	esac
done
if [ -n "$missing" ]; then
	echo "SKIP: static libraries not installed:$missing (see README)"
	exit 77
fi
# shellcheck disable=SC2086
if ! "$cc" -static -o "$tmp/print_params" "$src/examples/print_params.c" \
	$cflags $libs > "$tmp/ld.log" 2>&1; then
	echo "FAIL: static link with pkg-config --static --libs tsload ($libs):"
	cat "$tmp/ld.log"
	exit 1
fi
if ! "$tmp/print_params" "$data/good-traced-mlp.pt" > "$tmp/out" 2>&1 ||
	! grep -q "layers.0.weight" "$tmp/out"; then
	echo "FAIL: the static print_params does not run:"
	cat "$tmp/out"
	exit 1
fi
if command -v ldd >/dev/null 2>&1 && ldd "$tmp/print_params" 2>&1 | grep -q "libtsload"; then
	echo "FAIL: the static print_params needs libtsload.so"
	exit 1
fi
echo "ok   static link: $cc -static print_params.c $libs"
exit 0
