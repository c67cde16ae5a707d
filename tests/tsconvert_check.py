#!/usr/bin/python3
"""Check tsconvert's safetensors output against the expected values of its
source archive, reading the files with its own reader (json + numpy +
xxhash: no tsload code).

    tsconvert_check.py EXPECTED.json ALL.st ALLDQ.st DEFAULT.st DEDUPE.st

EXPECTED is the archive's expected dump: a canonical dump of libtorch's
view (tests/data/*.json, ../shared/conformance/DUMP.md), the values
torch.load gave for a checkpoint (tests/data/ckpt-*.pt.json) or a legacy
archive's expected values (tests/data/legacy/*.json).  The four files are
`tsconvert --all --keep-quantized --skip-unsupported`, `tsconvert --all
--skip-unsupported`, `tsconvert --skip-unsupported` and `tsconvert --dedupe
--skip-unsupported` of it.

Checked:
 - every file follows the safetensors layout: 8-byte little-endian header
   length, a JSON object padded with spaces to a multiple of 8, every
   __metadata__ value a string, data_offsets ascending from 0, contiguous,
   without gaps, covering the data, each tensor numel x element size;
   __metadata__ names the source format and file;
 - ALL: each key is a tensor of the expected dump (by the path the key
   names) with its dtype (quantized: the integer type), shape and the
   XXH3-64 of its bytes; NAME.scale / NAME.zero_point equal the quantizer's
   parameters; every expected tensor that safetensors can hold is written
   (under its own name or as an equal view);
 - ALLDQ: ALL's keys without the quantizers' tensors; plain tensors have
   ALL's bytes; quantized ones are float32 equal, bit for bit, to torch's
   arithmetic on ALL's integers, scales and zero points;
 - DEFAULT: the keys are the state_dict's (every tensor leaf for a
   checkpoint), with ALLDQ's bytes;
 - DEDUPE: keys plus the aliases of __metadata__ are DEFAULT's keys; an
   alias names a written key whose expected view is the same.
Prints one line of counts; exits 1 with the differences otherwise.
"""
import json
import struct
import sys

import numpy as np
import xxhash

ST = {"float32": "F32", "float64": "F64", "float16": "F16",
      "bfloat16": "BF16", "int8": "I8", "uint8": "U8", "int16": "I16",
      "int32": "I32", "int64": "I64", "bool": "BOOL", "qint8": "I8",
      "quint8": "U8", "qint32": "I32", "uint16": "U16", "uint32": "U32",
      "uint64": "U64"}
SIZE = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4,
        "F16": 2, "BF16": 2, "I16": 2, "U16": 2, "I8": 1, "U8": 1,
        "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}
NP = {"F64": "<f8", "F32": "<f4", "I64": "<i8", "I32": "<i4", "I8": "i1",
      "U8": "u1"}
QUANT = ("qint8", "quint8", "qint32")


class Bad(Exception):
    pass


def read_st(path):
    """The header and a key -> bytes map; raises Bad on a layout error."""
    b = open(path, "rb").read()
    if len(b) < 8:
        raise Bad("%s: shorter than 8 bytes" % path)
    n = struct.unpack("<Q", b[:8])[0]
    if n % 8 or 8 + n > len(b):
        raise Bad("%s: header length %d (file %d)" % (path, n, len(b)))
    raw = b[8:8 + n]
    text = raw.decode("utf-8")
    if text.rstrip(" ") != text.rstrip() or not text.rstrip(" ").endswith("}"):
        raise Bad("%s: header not padded with spaces" % path)
    h = json.loads(text)
    data = b[8 + n:]
    meta = h.pop("__metadata__", None)
    if not isinstance(meta, dict) or not all(
            isinstance(v, str) for v in meta.values()):
        raise Bad("%s: __metadata__ missing or not str -> str" % path)
    for k in ("format", "source_format", "source_file"):
        if k not in meta:
            raise Bad("%s: __metadata__ lacks %s" % (path, k))
    spans = sorted((v["data_offsets"][0], v["data_offsets"][1], k)
                   for k, v in h.items())
    at = 0
    for a, e, k in spans:
        if a != at or e < a:
            raise Bad("%s: %s at [%d, %d), expected to start at %d"
                      % (path, k, a, e, at))
        at = e
    if at != len(data):
        raise Bad("%s: offsets cover %d of %d data bytes"
                  % (path, at, len(data)))
    out = {}
    for k, v in h.items():
        numel = 1
        for s in v["shape"]:
            numel *= s
        a, e = v["data_offsets"]
        if v["dtype"] not in SIZE or e - a != numel * SIZE[v["dtype"]]:
            raise Bad("%s: %s: %d bytes for %s %s"
                      % (path, k, e - a, v["dtype"], v["shape"]))
        out[k] = (v["dtype"], v["shape"], data[a:e])
    return meta, out


def join(p, k):
    return k if p == "" else p + "." + k


def text(s):
    try:
        return s.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return s


class Expected:
    def __init__(self, path):
        d = json.load(open(path))
        self.tensors = {}      # name -> tensor dict
        self.state_dict = []   # names
        self.views = {}        # view key -> name
        if "leaves" in d:
            self.kind = "checkpoint"
            for leaf in d["leaves"]:
                if "xxh3" in leaf or leaf.get("layout") == "sparse_coo":
                    p = leaf["path"]
                    if p.endswith(".indices") or p.endswith(".values"):
                        par = p.rsplit(".", 1)[0]
                        if self.tensors.get(par, {}).get("layout"):
                            continue
                    self.tensors[p] = leaf
                    self.state_dict.append(p)
        elif "tsload_dump" in d:
            self.kind = "torchscript"
            self.module("", d["root"]["module"], True)
            for i, c in enumerate(d.get("constants", [])):
                self.value("CONSTANTS.c%d" % i, c)
        else:
            self.kind = "legacy"
            ts = d["tensors"]
            for name, (kind, idx) in d["slots"].items():
                if isinstance(idx, int):
                    self.tensors[name] = ts[idx]
                    if kind in ("parameter", "buffer"):
                        self.state_dict.append(name)
            for i, t in enumerate(ts):
                self.tensors["CONSTANTS.c%d" % i] = t

    def module(self, p, m, sd):
        if "state" in m:
            self.value(join(p, "__getstate__"), m["state"])
        for a in m.get("attributes", []):
            if "value" not in a:
                continue
            v = a["value"]
            q = join(p, a["name"])
            if a["kind"] in ("parameter", "buffer") and isinstance(
                    v, dict) and v.get("tensor"):
                self.state_dict.append(q)
            self.value(q, v)

    def value(self, p, v):
        if isinstance(v, list):
            for i, x in enumerate(v):
                self.value(join(p, str(i)), x)
        elif isinstance(v, dict) and len(v) == 1:
            (tag, x), = v.items()
            if tag == "tensor":
                if x is not None and p not in self.tensors:
                    self.tensors[p] = x
            elif tag == "tuple":
                for i, y in enumerate(x):
                    self.value(join(p, str(i)), y)
            elif tag == "dict":
                for i, (k, y) in enumerate(x):
                    if isinstance(k, str):
                        kn = text(k)
                    elif isinstance(k, int) and not isinstance(k, bool):
                        kn = str(k)
                    else:
                        kn = str(i)
                    self.value(join(p, kn), y)
            elif tag == "module":
                self.module(p, x, False)
            elif tag == "object":
                if "state" in x:
                    self.value(join(p, "__getstate__"), x["state"])
                for a in x.get("attributes", []):
                    self.value(join(p, a["name"]), a["value"])


def view(t):
    return (t.get("storage", t.get("record")), t["dtype"], t["shape"],
            t.get("stride"), t.get("storage_offset"))


def supported(t):
    return t.get("layout") != "sparse_coo" and t["dtype"] in ST


def dequant(t, q, scale, zp):
    """torch's CPU arithmetic: per tensor in float32, per channel in
    float64 rounded to float32."""
    qi = q.astype(np.int64)
    if t.get("qscheme", "").startswith("per_tensor"):
        return ((qi.astype(np.float32) - np.float32(zp)) *
                np.float32(scale)).astype(np.float32)
    shape = [1] * qi.ndim
    shape[t["axis"]] = -1
    s = scale.reshape(shape)
    z = zp.reshape(shape)
    return ((qi - z).astype(np.float64) * s).astype(np.float32)


def arr(e):
    dt, shape, b = e
    return np.frombuffer(b, dtype=NP[dt]).reshape(shape)


def main():
    exp = Expected(sys.argv[1])
    errs = []
    try:
        meta_all, allf = read_st(sys.argv[2])
        meta_dq, dq = read_st(sys.argv[3])
        meta_sd, sd = read_st(sys.argv[4])
        meta_dd, dd = read_st(sys.argv[5])
    except (Bad, ValueError, UnicodeDecodeError) as e:
        print("FAIL", e)
        return 1
    skipped = {k[len("skipped:"):] for k in meta_all if k.startswith("skipped:")}
    written_views = set()
    qinfo = {}
    for k, (dt, shape, b) in allf.items():
        t = exp.tensors.get(k)
        if t is None:
            base, _, sfx = k.rpartition(".")
            bt = exp.tensors.get(base)
            if sfx in ("scale", "zero_point") and bt and bt["dtype"] in QUANT:
                qinfo.setdefault(base, {})[sfx] = (dt, shape, b)
                continue
            if exp.kind == "legacy":
                continue   # no expected value for it: not checked
            errs.append("%s: no such tensor in the expected dump" % k)
            continue
        if ST.get(t["dtype"]) != dt:
            errs.append("%s: dtype %s, expected %s" % (k, dt, t["dtype"]))
        if t["shape"] != shape:
            errs.append("%s: shape %s, expected %s" % (k, shape, t["shape"]))
        if xxhash.xxh3_64_hexdigest(b) != t["xxh3"]:
            errs.append("%s: xxh3 %s, expected %s"
                        % (k, xxhash.xxh3_64_hexdigest(b), t["xxh3"]))
        written_views.add(repr(view(t)))
    # quantizers
    for name, t in exp.tensors.items():
        if t["dtype"] not in QUANT or name not in allf or "qscheme" not in t:
            continue
        qi = qinfo.get(name, {})
        if "scale" not in qi or "zero_point" not in qi:
            errs.append("%s: no %s.scale / %s.zero_point" % (name, name, name))
            continue
        if t["qscheme"].startswith("per_tensor"):
            s = arr(qi["scale"]).item()
            z = arr(qi["zero_point"]).item()
            if s != t["scale"] or z != t["zero_point"]:
                errs.append("%s: scale/zero_point %r %r, expected %r %r"
                            % (name, s, z, t["scale"], t["zero_point"]))
        else:
            for sfx, key in (("scale", "scales"), ("zero_point", "zero_points")):
                h = xxhash.xxh3_64_hexdigest(qi[sfx][2])
                if h != t[key]["tensor"]["xxh3"]:
                    errs.append("%s.%s: xxh3 %s, expected %s"
                                % (name, sfx, h, t[key]["tensor"]["xxh3"]))
    # coverage
    for name, t in exp.tensors.items():
        if exp.kind == "legacy" and name not in exp.state_dict:
            continue
        if not supported(t):
            if name not in skipped and not any(
                    s == name for s in skipped):
                # may be skipped under an equal name found first
                if repr(view(t)) not in written_views and \
                        t.get("layout") != "sparse_coo":
                    errs.append("%s: unsupported but not listed as skipped"
                                % name)
            continue
        if name not in allf and repr(view(t)) not in written_views:
            errs.append("%s: not written (nor an equal view)" % name)
    # --all without --keep-quantized: the same tensors, quantized ones
    # dequantized with torch's arithmetic
    nq = 0
    qnames = {k[:-len(".qscheme")] for k in meta_all
              if k.endswith(".qscheme")}
    want_dq = {k for k in allf
               if not any(k == b + "." + x for b in qnames
                          for x in ("scale", "zero_point"))}
    if set(dq) != want_dq:
        errs.append("--all keys differ with and without --keep-quantized: "
                    "%s" % sorted(set(dq) ^ want_dq)[:5])
    for k, e in dq.items():
        t = exp.tensors.get(k)
        if k not in allf:
            continue
        if t and t["dtype"] in QUANT:
            if e[0] != "F32" or e[1] != t["shape"]:
                errs.append("%s: dequantized as %s %s" % (k, e[0], e[1]))
                continue
            qi = qinfo.get(k, {})
            if "qscheme" not in t or "scale" not in qi:
                continue   # legacy expected values carry no quantizer
            if t["qscheme"].startswith("per_tensor"):
                sc, z = arr(qi["scale"]).item(), arr(qi["zero_point"]).item()
            else:
                sc, z = arr(qi["scale"]), arr(qi["zero_point"])
            ref = dequant(t, arr(allf[k]), sc, z)
            if ref.tobytes() != e[2]:
                errs.append("%s: dequantized values differ from torch's "
                            "arithmetic" % k)
            nq += 1
        elif k in qnames:
            if e[0] != "F32":
                errs.append("%s: dequantized as %s" % (k, e[0]))
        elif e != allf[k]:
            errs.append("%s: differs with and without --keep-quantized" % k)
    # the default keys: the state_dict's, with --all's bytes
    want = [n for n in exp.state_dict if supported(exp.tensors[n])]
    if sorted(sd) != sorted(set(want)):
        errs.append("default keys differ: extra %s, missing %s"
                    % (sorted(set(sd) - set(want))[:5],
                       sorted(set(want) - set(sd))[:5]))
    for k, e in sd.items():
        if k in dq and e != dq[k]:
            errs.append("%s: default output differs from --all's" % k)
    # dedupe
    aliases = {k[len("alias:"):]: v for k, v in meta_dd.items()
               if k.startswith("alias:")}
    if sorted(list(dd) + list(aliases)) != sorted(sd):
        errs.append("--dedupe: keys and aliases are not the default keys")
    for a, target in aliases.items():
        if target not in dd:
            errs.append("--dedupe: alias %s -> %s, not written" % (a, target))
        elif a in exp.tensors and target in exp.tensors and \
                view(exp.tensors[a]) != view(exp.tensors[target]):
            errs.append("--dedupe: alias %s -> %s: different views"
                        % (a, target))
    if errs:
        for e in errs[:20]:
            print("FAIL", e)
        return 1
    print("%d tensors (%d state_dict, %d dequantized checked, %d aliases, "
          "%d skipped)" % (len(allf), len(sd), nq, len(aliases), len(skipped)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
