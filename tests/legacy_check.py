#!/usr/bin/python3
"""Compare `tsinfo --json` of a legacy archive with the values that
tests/gen/legacy_expected.py computed from the raw archive.

    legacy_check.py EXPECTED.json TSINFO.json

Prints each difference and exits 1 when there is any."""
import json
import sys

FIELDS = ("dtype", "shape", "stride", "storage_offset", "requires_grad",
          "saved_device", "xxh3")


def main():
    exp = json.load(open(sys.argv[1]))
    got = json.load(open(sys.argv[2]))
    errs = []
    consts = got.get("constants", [])
    if len(consts) != len(exp["tensors"]):
        errs.append("constants: %d tensors, expected %d"
                    % (len(consts), len(exp["tensors"])))
    storage_of = {}
    for i, (e, g) in enumerate(zip(exp["tensors"], consts)):
        g = g.get("tensor") if isinstance(g, dict) else None
        if not g:
            errs.append("constants[%d]: not a tensor" % i)
            continue
        for f in FIELDS:
            if g.get(f) != e[f]:
                errs.append("tensor %d: %s is %r, expected %r"
                            % (i, f, g.get(f), e[f]))
        # the same record is the same storage, and only then
        s = storage_of.setdefault(e["record"], g.get("storage"))
        if s != g.get("storage"):
            errs.append("tensor %d: storage %r, but record %s is storage %r"
                        % (i, g.get("storage"), e["record"], s))
    if len(set(storage_of.values())) != len(storage_of):
        errs.append("distinct records share a storage: %r" % storage_of)
    modules, methods, slots = {}, {}, {}

    def walk(m, path):
        modules[path] = m.get("type")
        methods[path] = sorted(x["name"] for x in m.get("methods", []))
        for a in m.get("attributes", []):
            name = (path + "." if path else "") + a["name"]
            v = a.get("value")
            if a["kind"] == "module":
                walk(v["module"], name)
            elif a["kind"] in ("parameter", "buffer"):
                slots[name] = [a["kind"], v["tensor"]]

    walk(got["root"]["module"], "")
    if modules != exp["modules"]:
        errs.append("modules %r, expected %r" % (modules, exp["modules"]))
    if methods != exp["methods"]:
        errs.append("methods %r, expected %r" % (methods, exp["methods"]))
    if sorted(slots) != sorted(exp["slots"]):
        errs.append("slots %r, expected %r" % (sorted(slots),
                                               sorted(exp["slots"])))
    for name, (kind, idx) in exp["slots"].items():
        if name not in slots:
            continue
        if slots[name][0] != kind:
            errs.append("%s: %s, expected %s" % (name, slots[name][0], kind))
        if slots[name][1] != consts[idx].get("tensor"):
            errs.append("%s: not tensor %d of the table" % (name, idx))
    for e in errs:
        print(e)
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
