#!/bin/sh
# doc/check-man.sh - lint every man page under doc/ with mandoc, and check
# their rendered text (mandoc, groff) for wrongly nested quotes (make check).
# Exit 77 (SKIP) when mandoc is not installed.
srcdir=${TSL_SRCDIR:-${srcdir:-.}}
if ! command -v mandoc >/dev/null 2>&1; then
	echo "check-man: mandoc not found (apt-get install mandoc): skipped"
	exit 77
fi
# Rendered text, as mandoc and (when installed) groff print it: quotes that
# mdoc nests wrongly show as `"a, "b""` (.Pq Qq a , Qq b: each Qq runs to
# the end of the line); write .Qo a Qc , .Qo b Qc instead.  Two signs of
# it: an opening quote whose word runs into ", " without closing, and a
# doubled quote right after a word ("int64"").
bs=$(printf '\b')
render_check() {   # RENDERER ARGS...: the lines that look wrongly quoted
	"$@" 2>/dev/null | sed "s/.$bs//g" |
		grep -nE '"[^" ,]+, "|[^ ({]""' | sed "s|^|  $1: line |"
}
status=0
n=0
have_groff=no
command -v groff >/dev/null 2>&1 && have_groff=yes
for page in "$srcdir"/doc/*.[1-9]; do
	[ -f "$page" ] || continue
	n=$((n + 1))
	# -W warning: every warning, error or unsupported construct fails;
	# mandoc exits non-zero and prints them
	if ! out=$(mandoc -Tlint -W warning "$page" 2>&1) || [ -n "$out" ]; then
		echo "FAIL $page"
		printf '%s\n' "$out"
		status=1
		continue
	fi
	out=$(render_check mandoc -Tascii "$page"
		[ "$have_groff" = no ] ||
			render_check groff -mandoc -Tascii -P-c "$page")
	if [ -n "$out" ]; then
		echo "FAIL $page: quotes render wrongly"
		printf '%s\n' "$out"
		status=1
	else
		echo "ok   $page"
	fi
done
[ "$have_groff" = yes ] || echo "note: groff not found: rendered with mandoc only"
if [ "$n" -eq 0 ]; then
	echo "check-man: no pages found under $srcdir/doc"
	exit 99
fi
exit $status
