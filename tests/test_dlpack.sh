#!/bin/sh
# DLPack round trip through numpy (tests/test_dlpack.py).
src=${TSL_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
py=${PYTHON3:-python3}
[ -n "$py" ] || py=python3
# good-views.pt: views with storage offsets (data points at the view)
"$py" "$src/tests/test_dlpack.py" good-dtypes.pt
rc=$?
[ $rc -eq 0 ] || exit $rc   # 77: skipped (a static-only build)
exec "$py" "$src/tests/test_dlpack.py" good-views.pt
