#!/bin/sh
# doc/man-links.sh PAGE... - the link pages to install next to the family
# man pages: one line "ALIAS PAGE" for every name a page's NAME section
# lists (.Nm) that is not a page of its own, so that `man tsl_tensor_data`
# finds tsl_tensor(3).  Used by `make install` (doc/doc.am writes ALIAS as
# a file holding `.so man3/PAGE`) and by doc/check-man-api.sh in make check.
pages=
for p in "$@"; do
	pages="$pages $(basename "$p")"
done
for p in "$@"; do
	base=$(basename "$p")
	sec=${base##*.}
	awk '/^\.Sh / && $2 != "NAME" { exit } /^\.Nm [^ ]/ { n = $2; sub(/,$/, "", n); print n }' "$p" |
	sort -u | while read -r name; do
		case " $pages " in
		*" $name.$sec "*) continue;;
		esac
		echo "$name.$sec $base"
	done
done
