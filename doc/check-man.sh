#!/bin/sh
# doc/check-man.sh - lint every man page under doc/ with mandoc (make check).
# Exit 77 (SKIP) when mandoc is not installed.
srcdir=${TSL_SRCDIR:-${srcdir:-.}}
if ! command -v mandoc >/dev/null 2>&1; then
	echo "check-man: mandoc not found (apt-get install mandoc): skipped"
	exit 77
fi
status=0
n=0
for page in "$srcdir"/doc/*.[1-9]; do
	[ -f "$page" ] || continue
	n=$((n + 1))
	# -W warning: every warning, error or unsupported construct fails;
	# mandoc exits non-zero and prints them
	if ! out=$(mandoc -Tlint -W warning "$page" 2>&1) || [ -n "$out" ]; then
		echo "FAIL $page"
		printf '%s\n' "$out"
		status=1
	else
		echo "ok   $page"
	fi
done
if [ "$n" -eq 0 ]; then
	echo "check-man: no pages found under $srcdir/doc"
	exit 99
fi
exit $status
