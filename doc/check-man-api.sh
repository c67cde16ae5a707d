#!/bin/sh
# doc/check-man-api.sh - every public function has a man page or a link to
# one (make check).  The list of functions is derived now from the headers
# (every `TSL_API ... name(` declaration of include/*.h), so a function added
# later is caught too.  For each, either doc/NAME.3 exists or
# doc/man-links.sh (what `make install` uses) gives a link NAME.3; the links
# are then written into a scratch man3/ folder as `make install` writes them
# and rendered with mandoc, which must follow the .so to a page whose NAME
# section lists the function.  Without mandoc only the list is checked, and
# the test exits 77 (SKIP) if that part passed.
set -u
srcdir=${TSL_SRCDIR:-${srcdir:-.}}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

sed -n 's/^TSL_API[^(]*[ *]\(tsl_[a-z0-9_]*\)(.*/\1/p' "$srcdir"/include/*.h |
	sort -u > "$tmp/api"
napi=$(wc -l < "$tmp/api")
ndecl=$(grep -ch '^TSL_API' "$srcdir"/include/*.h | awk '{ s += $1 } END { print s }')
if [ "$napi" -lt 10 ] || [ "$napi" -ne "$ndecl" ]; then
	echo "FAIL: read $napi function names from $ndecl TSL_API declarations"
	exit 1
fi
sh "$srcdir/doc/man-links.sh" "$srcdir"/doc/*.3 > "$tmp/links"
mkdir "$tmp/man3"
for p in "$srcdir"/doc/*.3; do
	cp "$p" "$tmp/man3/"
done
while read -r alias page; do
	echo ".so man3/$page" > "$tmp/man3/$alias"
done < "$tmp/links"
missing=0
while read -r fn; do
	if [ ! -f "$tmp/man3/$fn.3" ]; then
		echo "FAIL: $fn (include/) has no man page and no link: list it with .Nm in the NAME section of its family page"
		missing=$((missing + 1))
	fi
done < "$tmp/api"
[ "$missing" -eq 0 ] || fail=1
echo "$napi public functions, $(wc -l < "$tmp/links") link pages, $missing without a page"
if ! command -v mandoc >/dev/null 2>&1; then
	echo "check-man-api: mandoc not found: links not rendered"
	[ "$fail" -eq 0 ] && exit 77
	exit 1
fi
bs=$(printf '\b')
bad=0
while read -r fn; do
	[ -f "$tmp/man3/$fn.3" ] || continue
	# the NAME section of what `man fn` shows lists fn
	if ! (cd "$tmp" && mandoc -Tascii "man3/$fn.3" 2>&1) |
		sed "s/.$bs//g" | sed -n '/^NAME/,/^SYNOPSIS/p' |
		grep -qw -- "$fn"; then
		echo "FAIL: man3/$fn.3 does not render to a page naming $fn"
		bad=$((bad + 1))
	fi
done < "$tmp/api"
[ "$bad" -eq 0 ] || fail=1
[ "$fail" -eq 0 ] && echo "ok: every public function has a page"
exit $fail
