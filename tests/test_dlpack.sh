#!/bin/sh
# DLPack round trip through numpy (tests/test_dlpack.py).
src=${TSL_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
py=${PYTHON3:-python3}
[ -n "$py" ] || py=python3
exec "$py" "$src/tests/test_dlpack.py" good-dtypes.pt
