#!/usr/bin/python3
"""Write tests/data/bad-method.pt: good-scripted-mlp.pt with the root class's
forward signature broken (an unbalanced bracket).  Its header is intact, so
the model loads (methods are parsed on first use) and reading the methods
must fail with TSL_EFORMAT naming code/__torch__.py.  Standard library only.

    python3 tests/gen/gen_bad_methods.py
"""
import os
import zipfile

here = os.path.dirname(os.path.abspath(__file__))
data = os.path.join(here, "..", "data")
src = zipfile.ZipFile(os.path.join(data, "good-scripted-mlp.pt"))
out = zipfile.ZipFile(os.path.join(data, "bad-method.pt"), "w")
for info in src.infolist():
    body = src.read(info)
    if info.filename.endswith("/code/__torch__.py"):
        body = body.replace(b"x: Tensor) -> Tensor:", b"x: Tensor]) -> Tensor:")
        assert b"Tensor])" in body
    zi = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
    zi.compress_type = info.compress_type
    out.writestr(zi, body)
out.close()
