#!/usr/bin/env python3
"""Compare a torch.save checkpoint's dump with its expected values.

    checkpoint_check.py EXPECTED.json DUMP.json

EXPECTED is tests/data/ckpt-NAME.pt.json (tests/gen/gen_checkpoints.py,
computed with torch.load); DUMP is `tsinfo --json --checkpoint` output:
{"tsload_dump": 1, "kind": "torch.save", "value": VALUE, ...} with VALUE in
DUMP.md's value encoding.  The dump's value tree is walked depth-first into
the same leaves (dotted paths from the root; tensors with dtype, shape,
stride, storage_offset, requires_grad, storage number and xxh3; scalars;
bytes) and the two lists must be equal, in order.  Exit 0 when they are,
1 with the differences on standard output otherwise.  Uses only json.
"""
import json
import sys


class Bad(Exception):
    pass


def join(path, k):
    return k if path == "" else path + "." + k


def scalar(v):
    """A scalar as a comparable (type, value) pair (True != 1)."""
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, int):
        return ("int", v)
    if isinstance(v, float):
        return ("float", v)
    if v is None:
        return ("none", None)
    return (type(v).__name__, v)


def text(s):
    """DUMP.md writes a str's UTF-8 bytes one per \\u00XX: decode them."""
    try:
        return s.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return s


def key_name(k, i):
    """A dict key (in DUMP.md's encoding) as tsload names it: a str as it
    is unless it holds a NUL; None, bool, int and float as Python's str()
    prints them; anything else (a tuple, bytes) by its position i."""
    if isinstance(k, str):
        s = text(k)
        return s if "\0" not in s else str(i)
    if k is None or isinstance(k, (bool, int, float)):
        return str(k)
    if isinstance(k, dict) and len(k) == 1 and "float" in k:
        return str(float(k["float"]))
    return str(i)


def walk(path, v, out):
    if isinstance(v, str):
        out.append({"path": path, "value": text(v)})
    elif v is None or isinstance(v, (bool, int, float)):
        out.append({"path": path, "value": v})
    elif isinstance(v, list):
        for i, x in enumerate(v):
            walk(join(path, str(i)), x, out)
    elif isinstance(v, dict) and len(v) == 1:
        (tag, x), = v.items()
        if tag == "tuple":
            for i, y in enumerate(x):
                walk(join(path, str(i)), y, out)
        elif tag == "dict":
            for i, (k, y) in enumerate(x):
                walk(join(path, key_name(k, i)), y, out)
        elif tag == "float":
            out.append({"path": path, "value": float(x)})
        elif tag == "bytes":
            out.append({"path": path, "bytes": x.encode("latin-1").hex()})
        elif tag == "tensor":
            tensor(path, x, out)
        else:
            out.append({"path": path, "unexpected": v})
    else:
        out.append({"path": path, "unexpected": v})


def tensor(path, t, out):
    if t is None:
        out.append({"path": path, "tensor": None})
        return
    if t.get("layout") == "sparse_coo":
        out.append({"path": path, "layout": "sparse_coo",
                    "dtype": t.get("dtype"), "shape": t.get("shape"),
                    "requires_grad": t.get("requires_grad")})
        tensor(join(path, "indices"), t["indices"]["tensor"], out)
        tensor(join(path, "values"), t["values"]["tensor"], out)
        return
    out.append({"path": path, "dtype": t.get("dtype"),
                "shape": t.get("shape"), "stride": t.get("stride"),
                "storage_offset": t.get("storage_offset"),
                "requires_grad": t.get("requires_grad"),
                "storage": t.get("storage"), "xxh3": t.get("xxh3")})


def norm(leaf):
    """A leaf made comparable: scalars keep their type."""
    d = dict(leaf)
    if "value" in d:
        d["value"] = scalar(d["value"])
    return d


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: checkpoint_check.py EXPECTED DUMP\n")
        return 2
    with open(sys.argv[1]) as f:
        exp = json.load(f)
    with open(sys.argv[2]) as f:
        try:
            dump = json.load(f)
        except ValueError as e:
            print("the dump is not valid JSON: %s" % e)
            return 1
    if dump.get("tsload_dump") != 1 or dump.get("kind") != "torch.save" \
            or "value" not in dump:
        print("not a torch.save dump: keys %s, kind %r"
              % (sorted(dump), dump.get("kind")))
        return 1
    got = []
    try:
        walk("", dump["value"], got)
    except Bad as e:
        print(e)
        return 1
    want = exp["leaves"]
    diffs = []
    for i, w in enumerate(want):
        g = got[i] if i < len(got) else None
        if g is not None and norm(g) == norm(w):
            continue
        if g is not None and g["path"] == w["path"]:
            keys = [k for k in sorted(set(w) | set(g))
                    if norm(w).get(k) != norm(g).get(k)]
            diffs.append("%s: %s" % (w["path"] or "(root)", "; ".join(
                "%s expected %s, got %s" % (k, json.dumps(w.get(k)),
                                            json.dumps(g.get(k)))
                for k in keys)))
        else:
            diffs.append("leaf %d: expected %s, got %s"
                         % (i, json.dumps(w), json.dumps(g)))
        if len(diffs) >= 20:
            break
    if len(got) != len(want):
        diffs.append("%d leaves expected, %d in the dump" % (len(want),
                                                             len(got)))
        for g in got[len(want):len(want) + 5]:
            diffs.append("  extra: %s" % json.dumps(g))
    for d in diffs:
        print(d)
    if not diffs:
        nt = sum(1 for w in want if "xxh3" in w)
        print("%d leaves equal (%d tensors)" % (len(want), nt))
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
