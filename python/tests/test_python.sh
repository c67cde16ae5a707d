#!/bin/sh
# The Python module's tests (python/tests/test_tsload.py) with the module
# just built.  Skips (77) when configure did not build it.
src=${TSL_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${TSL_BUILDDIR:-$src}
py=${PYTHON3:-python3}
[ -n "$py" ] || py=python3
mod=$(ls "$build"/python/.libs/tsload*.so 2>/dev/null | head -n 1)
if [ -z "$mod" ]; then
	echo "skip: the Python module is not built (python3-dev missing?)"
	exit 77
fi
PYTHONPATH="$build/python/.libs${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH
exec "$py" "$src/python/tests/test_tsload.py"
