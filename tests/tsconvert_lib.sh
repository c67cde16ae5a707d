# tsconvert_lib.sh - sourced by tests/test_tsconvert*.sh: convert one archive
# four ways and check the files with tests/tsconvert_check.py.
# Needs: $tsconvert $py $chk $tmp, and ok()/bad() that count.

# convert_one ARCHIVE OUT [OPTIONS...]: 0 on success, else $tmp/why says
convert_one() {
	cv_a=$1 cv_o=$2
	shift 2
	if "$tsconvert" -q --skip-unsupported "$@" "$cv_a" "$tmp/o-$cv_o.st" \
			2> "$tmp/err"; then
		return 0
	fi
	echo "tsconvert $*: failed: $(head -c 400 "$tmp/err")" > "$tmp/why"
	return 1
}

# convert_check ARCHIVE EXPECTED NAME
convert_check() {
	: > "$tmp/why"
	rm -f "$tmp"/o-*.st
	if convert_one "$1" all --all --keep-quantized &&
	   convert_one "$1" dq --all && convert_one "$1" sd &&
	   convert_one "$1" dd --dedupe; then
		if "$py" "$chk" "$2" "$tmp/o-all.st" "$tmp/o-dq.st" \
				"$tmp/o-sd.st" "$tmp/o-dd.st" > "$tmp/why" 2>&1; then
			ok "$3: $(tail -n 1 "$tmp/why")"
			return
		fi
	fi
	bad "$3"
}
