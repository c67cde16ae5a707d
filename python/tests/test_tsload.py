#!/usr/bin/env python3
"""Tests of the Python module `tsload` (run by test_python.sh in make check).

Needs numpy and xxhash (Debian: python3-numpy, python3-xxhash); the torch
parts are skipped where torch is not importable.  Expected values come
from libtorch's dumps in tests/data/*.json (../shared/conformance/DUMP.md),
never from tsload itself.
"""
import gc
import glob
import io
import json
import os
import pathlib
import shutil
import struct
import sys
import tempfile
import threading
import unittest

import numpy as np
import xxhash

import tsload

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_big  # noqa: E402

SRC = os.environ.get("TSL_SRCDIR", os.path.join(HERE, "..", ".."))
DATA = os.environ.get("TSL_TEST_DATA", os.path.join(SRC, "tests", "data"))

try:
    import torch
except ImportError:
    torch = None

GOOD = sorted(glob.glob(os.path.join(DATA, "good-*.pt")) +
              glob.glob(os.path.join(DATA, "good-*.ptl")) +
              glob.glob(os.path.join(DATA, "legacy", "*.pt")))
CKPT = sorted(glob.glob(os.path.join(DATA, "ckpt-*.pt")))


def rss():
    """Resident set size of this process in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def xxh3(a):
    return xxhash.xxh3_64_hexdigest(np.ascontiguousarray(a).tobytes())


def expected_tensors(dump):
    """path -> the dump's tensor object, for every tensor of the dump, with
    the paths Model.tensors() uses (attributes by name, containers by index
    or str key, CONSTANTS.cN, q_scales/q_zero_points/indices/values)."""
    out = {}

    def join(a, b):
        return b if a == "" else a + "." + b

    def walk(path, v):
        if isinstance(v, list):
            for i, x in enumerate(v):
                walk(join(path, str(i)), x)
        elif isinstance(v, dict):
            if "module" in v:
                m = v["module"]
                if "state" in m:
                    walk(join(path, "__getstate__"), m["state"])
                for a in m["attributes"]:
                    if "value" in a:
                        walk(join(path, a["name"]), a["value"])
            elif "object" in v:
                o = v["object"]
                if "state" in o:
                    walk(join(path, "__getstate__"), o["state"])
                for a in o.get("attributes", []):
                    walk(join(path, a["name"]), a["value"])
            elif "tensor" in v:
                t = v["tensor"]
                if t is None:
                    return
                out.setdefault(path, t)
                for k, suffix in (("scales", "q_scales"),
                                  ("zero_points", "q_zero_points"),
                                  ("indices", "indices"),
                                  ("values", "values")):
                    if k in t:
                        walk(join(path, suffix), t[k])
            elif "tuple" in v:
                walk(path, v["tuple"])
            elif "dict" in v:
                for i, (k, x) in enumerate(v["dict"]):
                    key = k if isinstance(k, str) else str(i)
                    walk(path, k)
                    walk(join(path, key), x)
            elif "enum" in v:
                walk(path, v["enum"]["value"])

    walk("", dump["root"])
    for i, c in enumerate(dump["constants"]):
        walk("CONSTANTS.c%d" % i, c)
    return out


def dump_str(s):
    """A dump string (one \\u00XX escape per byte) as the str it encodes."""
    return s.encode("latin-1").decode("utf-8", "surrogateescape")


def signature(dtype, shape, stride, offset, h):
    return (dtype, tuple(shape), tuple(stride), offset, h)


class Conformance(unittest.TestCase):
    """numpy.asarray of every tensor hashes to libtorch's dump."""

    def handed_out(self, m, path):
        """tensors() -> {path: signature}, every array checked read-only
        and of the right shape; a tensor's parts (per-channel scales and
        zero points, a sparse tensor's indices and values) under
        name.q_scales, .q_zero_points, .indices, .values as in the dump."""
        out = {}

        def add(name, t):
            q = t.quantization
            if q is not None and "scales" in q:
                for k, suffix in (("scales", "q_scales"),
                                  ("zero_points", "q_zero_points")):
                    if q[k] is not None:
                        add(name + "." + suffix, q[k])
            if t.layout != "strided":
                self.assertIsNotNone(t.sparse)
                add(name + ".indices", t.sparse[0])
                add(name + ".values", t.sparse[1])
                return
            a = np.asarray(t)
            self.assertFalse(a.flags.writeable)
            self.assertEqual(a.shape, t.shape)
            self.assertEqual(a.itemsize, t.itemsize)
            if t.is_native:
                self.assertEqual(a.dtype.name, t.dtype)
            self.assertEqual(t.device, "cpu")
            out[name] = signature(t.dtype, t.shape, t.stride,
                                  t.storage_offset, xxh3(a))

        for name, t in m.tensors():
            add(name, t)
        return out

    def check_torchscript(self, path, dump):
        want = expected_tensors(dump)
        m = tsload.load(path, map_location="cpu")
        self.assertIn("TorchScript", m.kind)
        got = self.handed_out(m, path)
        sig = {k: signature(e["dtype"], e["shape"], e["stride"],
                            e["storage_offset"], e["xxh3"])
               for k, e in want.items() if "xxh3" in e}
        # each tensor where the dump has it, and every dump tensor handed
        # out (tensors() yields a tensor shared by several paths once)
        for k, v in got.items():
            self.assertEqual(v, sig[k], "%s: %s" % (path, k))
        self.assertEqual(set(got.values()), set(sig.values()), path)
        for name, t in m.state_dict().items():
            if "xxh3" in want[name]:
                self.assertEqual(xxh3(np.asarray(t)), want[name]["xxh3"])
        m.close()
        return len(got)

    def check_legacy(self, path, dump):
        m = tsload.load(path, map_location="cpu")
        sd = m.state_dict()
        self.assertEqual(sorted(sd), sorted(dump["slots"]))
        for name, (_, idx) in dump["slots"].items():
            e = dump["tensors"][idx]
            t = sd[name]
            self.assertEqual(signature(t.dtype, t.shape, t.stride,
                                       t.storage_offset,
                                       xxh3(np.asarray(t))),
                             signature(e["dtype"], e["shape"], e["stride"],
                                       e["storage_offset"], e["xxh3"]),
                             name)
        return len(sd)

    def check_checkpoint(self, path, dump):
        m = tsload.load(path, checkpoints=True)
        self.assertIsNone(m.root)
        got = self.handed_out(m, path)
        sig = {e["path"]: signature(e["dtype"], e["shape"], e["stride"],
                                    e["storage_offset"], e["xxh3"])
               for e in dump["leaves"] if "xxh3" in e}
        self.assertEqual(set(got.values()), set(sig.values()), path)
        same = [k for k in got if k in sig]
        for k in same:
            self.assertEqual(got[k], sig[k], k)
        return len(got)

    def test_every_fixture(self):
        self.assertGreater(len(GOOD), 30)
        total = 0
        for path in GOOD + CKPT:
            with self.subTest(fixture=os.path.basename(path)):
                with open(path + ".json") as f:
                    dump = json.load(f)
                if "error" in dump:
                    # libtorch refuses it too: so must we, saying why
                    with self.assertRaises(tsload.Error) as cm:
                        tsload.load(path, checkpoints=True)
                    for word in dump["error"]:
                        self.assertIn(word, str(cm.exception))
                elif "leaves" in dump:
                    total += self.check_checkpoint(path, dump)
                elif "slots" in dump:
                    total += self.check_legacy(path, dump)
                else:
                    total += self.check_torchscript(path, dump)
        self.assertGreater(total, 500)

    def test_views_are_strided(self):
        m = tsload.load(os.path.join(DATA, "good-views.pt"))
        sd = m.state_dict()
        t = sd["transposed"]
        self.assertEqual(t.stride, (1, 6))
        a = np.asarray(t)
        self.assertEqual(a.strides, (4, 24))
        base = np.asarray(sd["base"])
        # the same memory, not a copy
        self.assertTrue(np.shares_memory(a, base))
        np.testing.assert_array_equal(a, base.T)
        s = np.asarray(sd["sliced"])
        np.testing.assert_array_equal(s, base.reshape(-1)[8:8 + 12]
                                      .reshape(2, 6)[:, :3])


class Api(unittest.TestCase):
    path = os.path.join(DATA, "good-resnet-script.pt")

    def test_model(self):
        m = tsload.load(self.path)
        self.assertEqual(m.kind, "TorchScript archive")
        self.assertEqual(m.format_version,
                         tsload.load(self.path).format_version)
        self.assertIsInstance(m.format_version, int)
        self.assertEqual(m.root.type,
                         "__torch__.torchvision.models.resnet.ResNet")
        self.assertIs(m.root.training, False)
        fwd = m.root.methods["forward"]
        self.assertEqual(fwd["args"][1], ("x", "Tensor"))
        self.assertEqual(fwd["returns"], ["Tensor"])
        attrs = m.root.attributes
        self.assertEqual(attrs["conv1"].kind, "module")
        self.assertIsInstance(attrs["conv1"].value, tsload.Module)
        self.assertEqual(attrs["fc"].value.attributes["weight"].kind,
                         "parameter")
        params = dict(m.named_parameters())
        buffers = dict(m.named_buffers())
        sd = m.state_dict()
        self.assertEqual(list(sd), [k for k in sd])
        self.assertEqual(set(sd), set(params) | set(buffers))
        self.assertIn("bn1.running_mean", buffers)
        self.assertIn("conv1.weight", params)
        mods = list(m.named_modules())
        self.assertEqual(mods[0][0], "")
        self.assertIn("layer1.0.conv1", [n for n, _ in mods])
        t = sd["conv1.weight"]
        self.assertEqual(t.dtype, "float32")
        self.assertEqual(t.numel, int(np.prod(t.shape)))
        self.assertEqual(t.itemsize, 4)
        self.assertIsNone(t.quantization)
        self.assertIn("tsload.Tensor float32", repr(t))

    def test_not_instantiable(self):
        """Model, Module and Tensor come only from tsload.load: made by
        hand they would wrap nothing."""
        import copy
        import pickle
        for cls in (tsload.Model, tsload.Module, tsload.Tensor):
            with self.assertRaises(TypeError):
                cls()
        m = tsload.load(self.path)
        for obj in (m, m.root, m.state_dict()["fc.weight"]):
            for f in (copy.copy, copy.deepcopy, pickle.dumps):
                with self.assertRaises(TypeError):
                    f(obj)

    def test_sources(self):
        """path, pathlib, bytes, bytearray, memoryview, real file object,
        BytesIO: the same tensors."""
        with open(self.path, "rb") as f:
            raw = f.read()
        want = {k: xxh3(np.asarray(v))
                for k, v in tsload.load(self.path).state_dict().items()}
        with open(self.path, "rb") as f:
            fobj = tsload.load(f)
        for src in (pathlib.Path(self.path), raw, bytearray(raw),
                    memoryview(raw), io.BytesIO(raw)):
            m = tsload.load(src)
            got = {k: xxh3(np.asarray(v)) for k, v in m.state_dict().items()}
            self.assertEqual(got, want, type(src))
        got = {k: xxh3(np.asarray(v)) for k, v in fobj.state_dict().items()}
        self.assertEqual(got, want)
        # a pipe: a descriptor that cannot be mapped, read instead
        r, w = os.pipe()
        writer = threading.Thread(target=lambda: (os.write(w, raw),
                                                  os.close(w)))
        writer.start()
        with os.fdopen(r, "rb") as pipe:
            m = tsload.load(pipe)
        writer.join()
        got = {k: xxh3(np.asarray(v)) for k, v in m.state_dict().items()}
        self.assertEqual(got, want)
        with self.assertRaises(TypeError):
            tsload.load(12)

    def test_bytearray_is_copied(self):
        """A mutable buffer is copied: changing it later does not change
        the model."""
        with open(self.path, "rb") as f:
            buf = bytearray(f.read())
        m = tsload.load(buf)
        t = m.state_dict()["fc.bias"]
        before = xxh3(np.asarray(t))
        buf[:] = bytes(len(buf))
        self.assertEqual(xxh3(np.asarray(t)), before)

    def test_extra_files_and_detect(self):
        p = os.path.join(DATA, "good-extra-files.pt")
        with open(p + ".json") as f:
            dump = json.load(f)
        m = tsload.load(p)
        ef = m.extra_files
        self.assertEqual(sorted(ef), sorted(dump_str(e["name"])
                                            for e in dump["extra_files"]))
        for e in dump["extra_files"]:
            self.assertEqual(len(ef[dump_str(e["name"])]), e["size"])
            self.assertEqual(xxhash.xxh3_64_hexdigest(
                ef[dump_str(e["name"])]), e["xxh3"])
        name = dump_str(dump["extra_files"][0]["name"])
        asked = {name: "", "no-such-file": ""}
        tsload.load(p, extra_files=asked)
        self.assertEqual(asked[name], ef[name])
        self.assertEqual(asked["no-such-file"], "")
        self.assertEqual(tsload.detect(p), "TorchScript archive")
        self.assertEqual(tsload.detect(os.path.join(DATA, "ckpt-dtypes.pt")),
                         "torch.save checkpoint (zip)")
        with self.assertRaises(tsload.NotFoundError) as cm:
            tsload.detect(os.path.join(DATA, "no-such.pt"))
        self.assertIsInstance(cm.exception, FileNotFoundError)

    def test_constants(self):
        p = os.path.join(DATA, "good-frozen.pt")
        with open(p + ".json") as f:
            dump = json.load(f)
        m = tsload.load(p)
        c = m.constants
        self.assertIsInstance(c, tuple)
        self.assertEqual(len(c), len(dump["constants"]))
        for got, want in zip(c, dump["constants"]):
            if isinstance(want, dict) and "tensor" in want:
                self.assertEqual(xxh3(np.asarray(got)),
                                 want["tensor"]["xxh3"])

    def test_attribute_values(self):
        p = os.path.join(DATA, "good-containers.pt")
        with open(p + ".json") as f:
            dump = json.load(f)
        m = tsload.load(p)

        def plain(v):
            """The dump's JSON value for a converted value."""
            if isinstance(v, str):
                return v.encode("utf-8", "surrogateescape").decode("latin-1")
            if isinstance(v, bool) or v is None or isinstance(v, int):
                return v
            if isinstance(v, float):
                return v
            if isinstance(v, list):
                return [plain(x) for x in v]
            if isinstance(v, tuple):
                return {"tuple": [plain(x) for x in v]}
            if isinstance(v, dict):
                return {"dict": [[plain(k), plain(x)] for k, x in v.items()]}
            return None

        checked = 0
        for a in dump["root"]["module"]["attributes"]:
            want = a["value"]
            if a["kind"] != "attribute" or (isinstance(want, dict) and
                                            "tensor" in json.dumps(want)):
                continue
            if any(k in json.dumps(want) for k in ('"float"', '"complex"',
                                                   '"device"')):
                continue
            got = m.root.attributes[a["name"]]
            self.assertEqual(got.type, a["type"])
            self.assertEqual(plain(got.value), want, a["name"])
            checked += 1
        self.assertGreater(checked, 3)

    def test_restore_shapes(self):
        p = os.path.join(DATA, "good-traced-inputs.pt")
        m = tsload.load(p, restore_shapes=True)
        shapes = m.root.methods["forward"]["arg_shapes"]
        self.assertIsNotNone(shapes)
        self.assertTrue(any(s and "[" in s for s in shapes))
        with self.assertWarns(UserWarning):
            tsload.load(self.path, restore_shapes=True)

    def test_map_location(self):
        p = os.path.join(DATA, "good-cuda.pt")
        m = tsload.load(p, map_location="cpu")
        ts = list(m.state_dict().values())
        self.assertTrue(ts)
        self.assertTrue(all(t.device == "cpu" for t in ts))
        self.assertTrue(any(t.saved_device.startswith("cuda") for t in ts))

    def test_checkpoint(self):
        p = os.path.join(DATA, "ckpt-dtypes.pt")
        with self.assertRaises(tsload.Error):
            tsload.load(p)
        m = tsload.load(p, checkpoints=True)
        self.assertIsNone(m.root)
        self.assertEqual(m.kind, "torch.save checkpoint (zip)")
        with open(p + ".json") as f:
            dump = json.load(f)
        sd = m.state_dict()
        self.assertTrue(sd)
        self.assertEqual(list(sd), [e["path"] for e in dump["leaves"]])
        for e in dump["leaves"]:
            self.assertEqual(xxh3(np.asarray(sd[e["path"]])), e["xxh3"])
        with self.assertRaises(TypeError):
            m.named_parameters()

    def test_closed(self):
        m = tsload.load(self.path)
        sd = m.state_dict()
        t = sd["fc.weight"]
        root = m.root
        m.close()
        m.close()
        self.assertTrue(m.closed)
        for f in (m.state_dict, m.named_parameters, m.tensors,
                  lambda: m.root, lambda: t.shape, lambda: t.numpy(),
                  lambda: np.asarray(t), lambda: root.type,
                  lambda: t.__dlpack__(), lambda: m.extra_files):
            with self.assertRaises(tsload.ClosedError):
                f()
        self.assertIn("closed", repr(m))
        with tsload.load(self.path) as m2:
            self.assertFalse(m2.closed)
        self.assertTrue(m2.closed)


class Memory(unittest.TestCase):
    def test_arrays_outlive_model(self):
        m = tsload.load(os.path.join(DATA, "good-resnet-script.pt"))
        sd = m.state_dict()
        arrays = {k: np.asarray(v) for k, v in sd.items()}
        want = {k: xxh3(a) for k, a in arrays.items()}
        del m, sd
        gc.collect()
        for k, a in arrays.items():
            self.assertEqual(xxh3(a), want[k])
        # close() with arrays alive: the model is freed when they go
        m = tsload.load(os.path.join(DATA, "good-resnet-script.pt"))
        a = np.asarray(m.state_dict()["fc.weight"])
        m.close()
        self.assertEqual(xxh3(a), want["fc.weight"])
        with self.assertRaises(tsload.ClosedError):
            m.state_dict()

    def test_zero_copy(self):
        """numpy.asarray maps the record: no RSS growth until touched, and
        the array's memory lies in the file's mapping."""
        numel = 16 << 20   # 64 MiB of float32
        tmp = tempfile.mkdtemp()
        try:
            p = os.path.join(tmp, "big.pt")
            make_big.make_checkpoint(
                p, [("w", numel), ("b", 4)],
                lambda i, n: struct.pack("<4f", 1, 2, 3, 4) * (n // 4))
            gc.collect()
            r0 = rss()
            m = tsload.load(p, checkpoints=True)
            a = np.asarray(m.state_dict()["w"])
            r1 = rss()
            self.assertEqual(a.nbytes, numel * 4)
            self.assertLess(r1 - r0, 8 << 20)
            addr = a.__array_interface__["data"][0]
            with open("/proc/self/maps") as f:
                maps = [ln.split() for ln in f]
            inside = [ln for ln in maps if len(ln) >= 6 and ln[5] == p and
                      int(ln[0].split("-")[0], 16) <= addr <
                      int(ln[0].split("-")[1], 16)]
            self.assertTrue(inside, "the array is not in the file mapping")
            self.assertEqual(float(a.sum(dtype=np.float64)),
                             2.5 * numel)     # touches every page
            r2 = rss()
            self.assertGreater(r2 - r1, 48 << 20)
            del a
            m.close()
        finally:
            shutil.rmtree(tmp)

    def test_load_free_loops(self):
        """Thousands of load/use/free cycles keep RSS flat."""
        p = os.path.join(DATA, "good-scripted-mlp.pt")
        with open(p, "rb") as f:
            raw = f.read()

        def cycle(i):
            m = tsload.load(raw if i % 2 else p)
            for _, t in m.tensors():
                np.asarray(t).sum()
            list(m.named_modules())
            m.root.methods
            if i % 3 == 0:
                m.close()

        for i in range(300):
            cycle(i)
        gc.collect()
        r0 = rss()
        for i in range(3000):
            cycle(i)
        gc.collect()
        self.assertLess(rss() - r0, 2 << 20)


class Hostile(unittest.TestCase):
    def assert_safe(self, data):
        """Loading and using `data` raises tsload.Error or works."""
        try:
            m = tsload.load(data, checkpoints=True)
        except tsload.Error as e:
            self.assertTrue(e.status.startswith("TSL_E"), e.status)
            self.assertTrue(e.message)
            self.assertTrue(e.offset is None or isinstance(e.offset, int))
            return 0
        for _, t in m.tensors():
            try:
                np.asarray(t).sum()
            except (tsload.Error, BufferError):
                pass
        if m.root is not None:
            for _, mod in m.named_modules():
                try:
                    mod.methods
                except tsload.Error:
                    pass
        return 1

    def test_bad_fixtures_and_truncations(self):
        failed = 0
        bad = glob.glob(os.path.join(DATA, "bad-*.pt"))
        self.assertTrue(bad)
        for p in bad:
            with open(p, "rb") as f:
                self.assert_safe(f.read())
        with self.assertRaises(tsload.Error) as cm:
            tsload.load(bad[0]).root.methods
        self.assertEqual(cm.exception.status, "TSL_EFORMAT")
        for p in GOOD[::3]:
            with open(p, "rb") as f:
                raw = f.read()
            for cut in (0, 1, 22, len(raw) // 2, len(raw) - 1):
                with self.assertRaises(tsload.Error):
                    tsload.load(raw[:cut])
                failed += 1
            # flipped bytes all over: an error or a model, never a crash
            for i in range(0, len(raw), max(1, len(raw) // 64)):
                self.assert_safe(raw[:i] + bytes([raw[i] ^ 0xff]) +
                                 raw[i + 1:])
        self.assertGreater(failed, 50)

    def test_shared_paths_with_a_tensor(self):
        """The same with a tensor at the bottom: every path is a name in a
        checkpoint, and 2^40 of them are refused (LimitError) quickly, not
        listed; the value itself still converts."""
        import struct

        def u(s):
            return b"X" + struct.pack("<I", len(s)) + s.encode()
        pk = (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n((" + u("storage") +
              b"ctorch\nFloatStorage\n" + u("0") + u("cpu") + b"K\x01tQK\x00"
              b"(K\x01t(K\x01t\x89ccollections\nOrderedDict\n)RtRq\x000")
        for i in range(1, 41):   # level i: [level i-1, level i-1]
            pk += b"](h%ch%ceq%c" % (i - 1, i - 1, i)
            pk += b"0" if i < 40 else b"."
        tmp = tempfile.mkdtemp()
        try:
            p = os.path.join(tmp, "paths.pt")
            make_big.make_zip(p, {"data.pkl": pk, "data/0": b"\0" * 4,
                                  "byteorder": b"little", "version": b"3\n"})
            m = tsload.load(p, checkpoints=True)
            with self.assertRaises(tsload.LimitError) as cm:
                list(m.tensors())
            self.assertIn("paths", str(cm.exception))
            v = m.value
            for _ in range(39):
                self.assertIs(v[0], v[1])   # one list, converted once
                v = v[0]
            self.assertEqual([t.shape for t in v], [(1,), (1,)])
        finally:
            shutil.rmtree(tmp)

    def test_shared_containers(self):
        """A pickle of lists that each hold the next one twice (2^64 paths,
        a few hundred bytes): converted and walked once per container."""
        import pickle
        bomb = []
        for _ in range(64):
            bomb = [bomb, bomb]
        tmp = tempfile.mkdtemp()
        try:
            p = os.path.join(tmp, "bomb.pt")
            make_big.make_zip(p, {"data.pkl": pickle.dumps(bomb, protocol=2),
                                  "byteorder": b"little", "version": b"3\n"})
            m = tsload.load(p, checkpoints=True)
            self.assertEqual(list(m.tensors()), [])
            v = m.value
            depth = 0
            while v:
                self.assertIs(v[0], v[1])
                v = v[0]
                depth += 1
            self.assertEqual(depth, 64)
        finally:
            shutil.rmtree(tmp)

    def test_unhashable_dict_key(self):
        """A pickled dict keyed by a list (no TorchScript writer makes one)
        is a FormatError, not a TypeError from Python's dict."""
        tmp = tempfile.mkdtemp()
        try:
            p = os.path.join(tmp, "key.pt")
            make_big.make_zip(p, {"data.pkl": b"\x80\x02}]K\x01s.",
                                  "byteorder": b"little", "version": b"3\n"})
            m = tsload.load(p, checkpoints=True)
            with self.assertRaises(tsload.FormatError) as cm:
                m.value
            self.assertIn("dict key", str(cm.exception))
        finally:
            shutil.rmtree(tmp)

    def test_fuzz_corpus(self):
        files = glob.glob(os.path.join(SRC, "fuzz", "corpus", "fuzz_load",
                                       "*"))
        for p in files:
            with open(p, "rb") as f:
                self.assert_safe(f.read())

    def test_error_fields(self):
        p = os.path.join(DATA, "good-resnet-script.pt")
        with open(p, "rb") as f:
            raw = bytearray(f.read())
        i = raw.find(b"data.pkl")
        raw[i:i + 8] = b"dxta.pkl"    # the central directory entry too
        j = raw.find(b"data.pkl")
        while j >= 0:
            raw[j:j + 8] = b"dxta.pkl"
            j = raw.find(b"data.pkl")
        with self.assertRaises(tsload.Error) as cm:
            tsload.load(bytes(raw))
        e = cm.exception
        self.assertIsInstance(e.status, str)
        self.assertTrue(hasattr(e, "record") and hasattr(e, "offset"))
        with self.assertRaises(tsload.NotTorchScriptError) as cm:
            tsload.load(b"not a zip at all")
        self.assertEqual(cm.exception.status, "TSL_ENOTTORCHSCRIPT")
        with self.assertRaises(tsload.DeviceError):
            tsload.load(p, map_location="nosuchdevice")


class Threads(unittest.TestCase):
    def test_concurrent_reads(self):
        m = tsload.load(os.path.join(DATA, "good-resnet-trace.pt"))
        sd = m.state_dict()
        want = {k: xxh3(np.asarray(v)) for k, v in sd.items()}
        errors = []

        def work():
            try:
                for _ in range(20):
                    for k, v in sd.items():
                        if xxh3(np.asarray(v)) != want[k]:
                            errors.append(k)
            except Exception as e:   # noqa: BLE001
                errors.append(repr(e))

        ts = [threading.Thread(target=work) for _ in range(4)]
        for t in ts:
            t.start()
        m.close()        # while the threads read: deferred, never a crash
        for t in ts:
            t.join()
        self.assertTrue(all("ClosedError" in e for e in errors), errors[:3])


    def test_gil_released_while_loading(self):
        """tsload.load(FIFO) blocks in open() until a writer comes; the
        writer is this process's other thread, which can only run if the
        load released the GIL.  Run in a child process so that a
        regression fails (the child never ends) instead of hanging."""
        code = r"""
import errno, os, sys, tempfile, threading, time
import tsload
d = tempfile.mkdtemp()
fifo = os.path.join(d, "fifo")
os.mkfifo(fifo)
got = []
def load():
    try:
        tsload.load(fifo)
    except tsload.Error as e:
        got.append(e.status)
t = threading.Thread(target=load)
t.start()
while True:    # a reader must have the FIFO open before this succeeds
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        break
    except OSError as e:
        if e.errno != errno.ENXIO:
            raise
        time.sleep(0.001)
os.close(fd)
t.join()
os.unlink(fifo)
os.rmdir(d)
print(got[0])
"""
        import subprocess
        r = subprocess.run([sys.executable, "-c", code], capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "TSL_EINVAL")


FINALIZER_CLOSE = r"""
import gc, sys
import tsload
path, what = sys.argv[1], sys.argv[2]
mid_call = 0
for warm in range(40):
    m = tsload.load(path, checkpoints=True)
    t = next(iter(m.tensors()))[1]
    mod = m.root
    call = {"value": lambda: m.value,
            "constants": lambda: m.constants,
            "state_dict": lambda: m.state_dict(),
            "named_modules": lambda: list(m.named_modules()),
            "attributes": lambda: mod.attributes,
            "methods": lambda: mod.methods,
            "tensor_shape": lambda: t.shape,
            "tensor_repr": lambda: repr(t)}[what]
    state = {"in_call": False, "closed_in_call": False}

    class Closer:
        def __init__(self):
            self.me = self      # a cycle: only the cyclic GC frees it

        def __del__(self):
            state["closed_in_call"] = state["in_call"]
            m.close()

    gc.collect()
    # empty the free lists a little more each round, so that the GC runs
    # at a different allocation of the call each time
    keep = [([], {}, (i, warm)) for i in range(warm)]
    gc.set_threshold(1)
    Closer()
    state["in_call"] = True
    try:
        call()
    except tsload.ClosedError:
        pass
    state["in_call"] = False
    gc.set_threshold(700)
    mid_call += state["closed_in_call"]
    del keep
print(mid_call)
"""


class Reentry(unittest.TestCase):
    """Python code that runs in the middle of a call (a GC finalizer, a
    dtype's attribute, another thread) and closes the model: the call
    finishes on memory that is still there, or raises ClosedError."""

    def test_finalizer_closes_model_mid_call(self):
        import subprocess
        for archive in ("good-resnet-script.pt", "ckpt-containers.pt"):
            for what in ("value", "constants", "state_dict",
                         "named_modules", "attributes", "methods",
                         "tensor_shape", "tensor_repr"):
                if archive.startswith("ckpt") and what in (
                        "named_modules", "attributes", "methods",
                        "constants", "state_dict"):
                    continue    # no module tree; value is the walk here
                with self.subTest(archive=archive, what=what):
                    r = subprocess.run(
                        [sys.executable, "-c", FINALIZER_CLOSE,
                         os.path.join(DATA, archive), what],
                        capture_output=True, text=True, timeout=300)
                    self.assertEqual(r.returncode, 0, r.stderr[-2000:])
                    # the finalizer did close the model inside the call
                    self.assertGreater(int(r.stdout), 0)

    def test_numpy_dtype_closes_model(self):
        m = tsload.load(os.path.join(DATA, "good-resnet-script.pt"))
        name, t = next(iter(m.state_dict().items()))
        want = np.asarray(t).astype("float64")

        class Closing:
            @property
            def dtype(self):
                m.close()
                return np.dtype("float64")

        a = t.numpy(dtype=Closing())   # began before close(): finishes
        np.testing.assert_array_equal(a, want)
        self.assertTrue(m.closed)
        with self.assertRaises(tsload.ClosedError):
            t.numpy()

    def test_extra_files_while_another_thread_closes(self):
        p = os.path.join(DATA, "good-extra-files.pt")
        n = len(tsload.load(p).extra_files)
        self.assertGreater(n, 1)
        outcomes = set()
        for _ in range(200):
            m = tsload.load(p)
            go = threading.Event()

            def closer():
                go.wait()
                m.close()
            th = threading.Thread(target=closer)
            th.start()
            go.set()
            try:
                x = m.extra_files
                self.assertEqual(len(x), n)
                outcomes.add("dict")
            except tsload.ClosedError:
                outcomes.add("closed")
            th.join()
        self.assertTrue(outcomes <= {"dict", "closed"}, outcomes)


def get_buffer(obj, flags):
    """PyObject_GetBuffer(obj, flags) through ctypes: (ndim, shape,
    strides, len), or the BufferError's text."""
    import ctypes

    class Buf(ctypes.Structure):
        _fields_ = [("buf", ctypes.c_void_p), ("obj", ctypes.py_object),
                    ("len", ctypes.c_ssize_t),
                    ("itemsize", ctypes.c_ssize_t),
                    ("readonly", ctypes.c_int), ("ndim", ctypes.c_int),
                    ("format", ctypes.c_char_p),
                    ("shape", ctypes.POINTER(ctypes.c_ssize_t)),
                    ("strides", ctypes.POINTER(ctypes.c_ssize_t)),
                    ("suboffsets", ctypes.c_void_p),
                    ("internal", ctypes.c_void_p)]
    api = ctypes.pythonapi
    api.PyObject_GetBuffer.argtypes = [ctypes.py_object,
                                       ctypes.POINTER(Buf), ctypes.c_int]
    api.PyBuffer_Release.argtypes = [ctypes.POINTER(Buf)]
    b = Buf()
    try:
        api.PyObject_GetBuffer(obj, ctypes.byref(b), flags)
    except BufferError as e:
        return "refused: %s" % e
    except ValueError as e:      # numpy says ValueError for some
        return "refused: %s" % e
    r = (b.ndim, b.len)
    api.PyBuffer_Release(ctypes.byref(b))
    return r


class Buffers(unittest.TestCase):
    # Python's flags (Include/pybuffer.h)
    ND, STRIDES, FORMAT = 0x8, 0x18, 0x4
    C, F, ANY = 0x20 | 0x18, 0x40 | 0x18, 0x80 | 0x18

    def test_contiguity_requests_as_numpy(self):
        """a consumer that asks for C-, Fortran- or any-contiguous memory,
        or for no strides, gets what numpy's own arrays of the same views
        give: the view, or a refusal"""
        sd = tsload.load(os.path.join(DATA, "good-views.pt")).state_dict()
        refused = granted = 0
        for name, t in sd.items():
            ref = np.asarray(t)
            for flags in (self.ND, self.STRIDES, self.C, self.F, self.ANY):
                with self.subTest(tensor=name, flags=hex(flags)):
                    mine = get_buffer(t, flags | self.FORMAT)
                    theirs = get_buffer(ref, flags | self.FORMAT)
                    self.assertEqual(isinstance(mine, str),
                                     isinstance(theirs, str),
                                     (mine, theirs))
                    if isinstance(mine, str):
                        refused += 1
                    else:
                        granted += 1
                        self.assertEqual(mine, theirs)
        self.assertGreater(refused, 5)
        self.assertGreater(granted, 20)

    def test_packed_buffer_is_the_packed_bytes(self):
        """quint4x2 / quint2x4 hold two / four elements a byte: the buffer
        is their bytes (1-d, as numpy() copies them), never numel bytes"""
        sd = tsload.load(os.path.join(DATA, "gather.pt"),
                         checkpoints=True).state_dict()
        seen = set()
        for name, t in sd.items():
            if t.dtype not in ("quint4x2", "quint2x4"):
                continue
            mv = memoryview(t)
            packed = t.numpy()
            per_byte = 2 if t.dtype == "quint4x2" else 4
            self.assertEqual(mv.nbytes, -(-t.numel // per_byte), name)
            self.assertEqual(mv.shape, (mv.nbytes,))
            self.assertEqual(mv.tobytes(), packed.tobytes(), name)
            self.assertEqual(np.asarray(t).nbytes, mv.nbytes)
            seen.add(t.dtype)
        self.assertEqual(seen, {"quint4x2", "quint2x4"})

    @unittest.skipIf(torch is None, "torch is not importable")
    def test_torch_from_dlpack_of_offset_views(self):
        sd = tsload.load(os.path.join(DATA, "good-views.pt")).state_dict()
        offsets = 0
        for name, t in sd.items():
            with self.subTest(tensor=name):
                got = torch.from_dlpack(t)
                np.testing.assert_array_equal(got.numpy(), np.asarray(t))
                offsets += t.storage_offset != 0
        self.assertGreaterEqual(offsets, 2)


class FileObjects(unittest.TestCase):
    path = os.path.join(DATA, "good-resnet-script.pt")

    def want(self):
        return {k: xxh3(np.asarray(v))
                for k, v in tsload.load(self.path).state_dict().items()}

    def check(self, f):
        got = {k: xxh3(np.asarray(v))
               for k, v in tsload.load(f).state_dict().items()}
        self.assertEqual(got, self.want())

    def test_compressed_file_objects_are_read(self):
        """gzip, bz2 and lzma files report the compressed file's
        descriptor: their read() is the archive, as torch.jit.load reads"""
        import bz2
        import gzip
        import lzma
        with open(self.path, "rb") as f:
            data = f.read()
        d = tempfile.mkdtemp()
        try:
            for mod, ext in ((gzip, "gz"), (bz2, "bz2"), (lzma, "xz")):
                with self.subTest(kind=ext):
                    p = os.path.join(d, "a.pt." + ext)
                    with mod.open(p, "wb") as g:
                        g.write(data)
                    with mod.open(p, "rb") as g:
                        self.check(g)
        finally:
            shutil.rmtree(d)

    def test_file_read_from_a_later_position(self):
        with open(self.path, "rb") as f:
            data = f.read()
        d = tempfile.mkdtemp()
        try:
            p = os.path.join(d, "prefixed")
            with open(p, "wb") as f:
                f.write(b"16 bytes header" + b"!" + data)
            with open(p, "rb") as f:
                f.seek(16)
                self.check(f)
            with open(p, "rb", buffering=0) as f:     # io.FileIO
                f.seek(16)
                self.check(f)
        finally:
            shutil.rmtree(d)

    def test_plain_files_and_bytesio(self):
        with open(self.path, "rb") as f:
            self.check(f)
        with open(self.path, "rb", buffering=0) as f:
            self.check(f)
        with open(self.path, "rb") as f:
            self.check(io.BytesIO(f.read()))


class Conversions(unittest.TestCase):
    def test_numpy_copy(self):
        m = tsload.load(os.path.join(DATA, "good-views.pt"))
        t = m.state_dict()["transposed"]
        a = t.numpy()
        self.assertTrue(a.flags.writeable and a.flags.c_contiguous)
        np.testing.assert_array_equal(a, np.asarray(t))
        a[...] = 0        # a copy: the model's tensor is unchanged
        self.assertNotEqual(float(np.abs(np.asarray(t)).sum()), 0.0)
        d = t.numpy(dtype="float64")
        self.assertEqual(d.dtype, np.float64)
        np.testing.assert_array_equal(d, np.asarray(t).astype(np.float64))

    def test_bfloat16_and_raw_types(self):
        m = tsload.load(os.path.join(DATA, "good-dtypes.pt"))
        seen = set()
        for _, t in m.tensors():
            a = np.asarray(t)
            seen.add(t.dtype)
            if t.dtype == "bfloat16":
                self.assertEqual(a.dtype, np.uint16)
                self.assertFalse(t.is_native)
                f = t.numpy(dtype="float32")
                # bfloat16 is the top half of a float32: exact
                np.testing.assert_array_equal(
                    f.view(np.uint32) >> 16, a.astype(np.uint32))
            if t.dtype == "bool":
                self.assertEqual(a.dtype, np.bool_)
            if t.dtype == "complex64":
                self.assertEqual(a.dtype, np.complex64)
        self.assertIn("bfloat16", seen)

    def test_dlpack_numpy(self):
        m = tsload.load(os.path.join(DATA, "good-views.pt"))
        sd = m.state_dict()
        for k, t in sd.items():
            self.assertEqual(t.__dlpack_device__(), (1, 0))
            a = np.from_dlpack(t)
            np.testing.assert_array_equal(a, np.asarray(t))
            if t.numel:
                self.assertTrue(np.shares_memory(a, np.asarray(t)), k)
        # from bytes: the export keeps the bytes alive past close and del
        with open(os.path.join(DATA, "good-resnet-script.pt"), "rb") as f:
            raw = f.read()
        m2 = tsload.load(raw)
        t2 = m2.state_dict()["layer4.0.conv2.weight"]
        want = xxh3(np.asarray(t2).copy())
        exported = np.from_dlpack(t2)
        m2.close()
        del m2, t2, raw
        gc.collect()
        junk = [bytes(400000) for _ in range(8)]   # reuse freed memory
        self.assertEqual(xxh3(exported), want)
        del junk
        cap = sd["base"].__dlpack__()
        self.assertIn('"dltensor"', repr(cap))
        del cap          # unconsumed: the destructor frees it

    @unittest.skipIf(torch is None, "torch not importable")
    def test_dlpack_torch(self):
        p = os.path.join(DATA, "good-resnet-script.pt")
        ref = torch.jit.load(p).state_dict()
        m = tsload.load(p)
        for k, t in m.state_dict().items():
            x = torch.from_dlpack(t)
            self.assertTrue(torch.equal(x, ref[k]), k)
        x = torch.from_dlpack(m.state_dict()["fc.weight"])
        m.close()
        del m
        gc.collect()
        self.assertTrue(torch.equal(x, ref["fc.weight"]))

    @unittest.skipIf(torch is None, "torch not importable")
    def test_dequantize_torch(self):
        """numpy(dtype="float32") of a quantized tensor equals torch's
        dequantize() of the same integers and parameters."""
        kinds = set()
        for name in ("good-quant-static.pt", "good-quant-dynamic.pt",
                     "good-dtypes.pt"):
            for _, t in tsload.load(os.path.join(DATA, name)).tensors():
                q = t.quantization
                if q is None:
                    continue
                ints = torch.from_numpy(np.asarray(t).copy())
                if "scale" in q:
                    ref = torch._make_per_tensor_quantized_tensor(
                        ints, q["scale"], q["zero_point"])
                else:
                    ref = torch._make_per_channel_quantized_tensor(
                        ints, torch.from_numpy(np.asarray(q["scales"]).copy()),
                        torch.from_numpy(np.asarray(q["zero_points"]).copy()),
                        q["axis"])
                np.testing.assert_allclose(t.numpy(dtype="float32"),
                                           ref.dequantize().numpy(),
                                           rtol=1e-6, atol=1e-7)
                kinds.add(q["qscheme"])
        self.assertGreaterEqual(len(kinds), 2, kinds)

    @unittest.skipIf(torch is None, "torch not importable")
    def test_against_torch_state_dict(self):
        for name in ("good-mobilenet-trace.pt", "good-lstm.pt",
                     "good-dtypes.pt"):
            p = os.path.join(DATA, name)
            ref = torch.jit.load(p, map_location="cpu").state_dict()
            got = tsload.load(p, map_location=torch.device("cpu")
                              ).state_dict()
            self.assertEqual(list(got), list(ref))
            for k, t in got.items():
                r = ref[k]
                self.assertEqual(t.shape, tuple(r.shape))
                self.assertEqual(t.stride, tuple(r.stride()))
                if r.dtype == torch.bfloat16:
                    r = r.view(torch.int16).numpy().view(np.uint16)
                elif r.is_quantized:
                    r = r.int_repr().numpy()
                else:
                    r = r.numpy()
                np.testing.assert_array_equal(np.asarray(t), r, k)


class CApi(unittest.TestCase):
    """numpy() is tsl_tensor_gather; tensors() is tsl_model_tensors; the
    dtype names are the C library's.  The expected values are committed
    (written with torch by tests/gen/): no torch needed."""

    def expected(self, name):
        with open(os.path.join(DATA, name)) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3:
                    parts.append("")
                yield parts[0], parts[1], int(parts[2]), parts[3]

    def test_gather_expected(self):
        """every line of tests/data/gather.expected: the tensor gathered
        as itself ("same") or to float32 / float64 / int64, byte for byte
        as torch computed it (views, float16, bfloat16, integers, bool,
        per-tensor and per-channel dequantization)"""
        sd = tsload.load(os.path.join(DATA, "gather.pt"),
                         checkpoints=True).state_dict()
        n = 0
        kinds = set()
        for name, target, size, hexbytes in self.expected("gather.expected"):
            t = sd[name]
            a = t.numpy() if target == "same" else t.numpy(dtype=target)
            self.assertTrue(a.flags.writeable and a.flags.c_contiguous)
            if target == "same" and t.dtype in ("quint4x2", "quint2x4"):
                # packed two / four to a byte: the bytes, 1-d
                self.assertEqual(a.shape, (size,), name)
            else:
                self.assertEqual(a.shape, t.shape, name)
            if target != "same":
                self.assertEqual(a.dtype.name, target)
            self.assertEqual(a.nbytes, size, (name, target))
            self.assertEqual(a.tobytes().hex(), hexbytes, (name, target))
            if t.quantization is not None and target == "float32":
                kinds.add(t.quantization["qscheme"])
            n += 1
        self.assertGreaterEqual(n, 60)
        self.assertIn("per_tensor_affine", kinds)
        self.assertIn("per_channel_affine", kinds)
        # torch.save writes float qparams as per_channel_affine; torch.load
        # (and tsload) make them per_channel_affine_float_qparams again
        self.assertIn("per_channel_affine_float_qparams", kinds)
        for name in ("qu8_fq", "qu4_fq"):
            self.assertEqual(sd[name].quantization["qscheme"],
                             "per_channel_affine_float_qparams")
        # a non-contiguous view: a contiguous copy equal to the view
        t = sd["f32_transposed"]
        self.assertNotEqual(t.stride, tuple(sorted(t.stride, reverse=True)))
        np.testing.assert_array_equal(t.numpy(), np.asarray(t))

    def test_float8(self):
        for fname, dtype, st in (("float8-e4m3fn", "float8_e4m3fn",
                                  "F8_E4M3"),
                                 ("float8-e5m2", "float8_e5m2", "F8_E5M2")):
            sd = tsload.load(os.path.join(DATA, fname + ".pt"),
                             checkpoints=True).state_dict()
            n = 0
            for name, target, size, hexbytes in self.expected(
                    fname + ".expected"):
                t = sd[name]
                self.assertEqual(t.dtype, dtype)
                self.assertEqual(t.safetensors_dtype, st)
                self.assertIsNone(t.numpy_typestr)
                a = t.numpy(dtype=target)
                self.assertEqual(a.nbytes, size)
                self.assertEqual(a.tobytes().hex(), hexbytes, name)
                raw = t.numpy()      # the raw bits, no dtype
                self.assertEqual(raw.dtype, np.uint8)
                np.testing.assert_array_equal(raw, np.asarray(t))
                # another dtype goes through float32
                np.testing.assert_array_equal(t.numpy(dtype="float16"),
                                              a.astype(np.float16))
                n += 1
            self.assertEqual(n, 2)

    def test_dtype_names(self):
        m = tsload.load(os.path.join(DATA, "good-dtypes.pt"))
        seen = {}
        for _, t in m.tensors():
            seen[t.dtype] = (t.safetensors_dtype, t.numpy_typestr)
        self.assertEqual(seen["float32"], ("F32", "<f4"))
        self.assertEqual(seen["bfloat16"], ("BF16", None))
        self.assertEqual(seen["bool"], ("BOOL", "|b1"))
        for d, (st, ts) in seen.items():
            if d.startswith(("qint", "quint")):
                self.assertEqual((st, ts), (None, None), d)
            if ts is not None:
                t = [t for _, t in m.tensors() if t.dtype == d][0]
                self.assertEqual(np.dtype(ts), np.asarray(t).dtype, d)

    def test_other_conversions(self):
        """dtypes the gather does not write go through the tensor's own
        numpy type; a sparse tensor has no array"""
        m = tsload.load(os.path.join(DATA, "good-dtypes.pt"))
        done = set()
        for _, t in m.tensors():
            if t.dtype in ("complex64", "int16", "float32"):
                a = t.numpy(dtype="complex128")
                self.assertEqual(a.dtype, np.complex128)
                np.testing.assert_array_equal(
                    a, np.asarray(t).astype(np.complex128))
                done.add(t.dtype)
        self.assertEqual(done, {"complex64", "int16", "float32"})
        m = tsload.load(os.path.join(DATA, "good-sparse.pt"))
        sparse = [t for _, t in m.tensors() if t.layout != "strided"]
        self.assertTrue(sparse)
        with self.assertRaises(TypeError):
            sparse[0].numpy()

    def test_tensors_origins(self):
        m = tsload.load(os.path.join(DATA, "good-quant-static.pt"))
        es = list(m.tensors())
        origins = [e.origin for e in es]
        self.assertIn("state", origins)
        # the state_dict keys first, in order, then the rest
        sd = list(m.state_dict())
        self.assertEqual([e.name for e in es if e.state_dict], sd)
        self.assertEqual([e.name for e in es[:len(sd)]], sd)
        for e in es:
            self.assertIsInstance(e, tsload.TensorEntry)
            name, t = e          # unpacks as (name, tensor)
            self.assertEqual(name, e.name)
            self.assertIs(t, e.tensor)
            self.assertEqual(e.state_dict,
                             e.origin in ("parameter", "buffer"))
            self.assertIn(e.origin, ("parameter", "buffer", "attribute",
                                     "state", "constant"))
            self.assertIsInstance(e.storage, int)
        st = [e for e in es if e.origin == "state"]
        self.assertTrue(any("__getstate__" in e.name for e in st))
        self.assertTrue(any(e.tensor.quantization for e in st))

    def test_tensors_alias_and_storage(self):
        m = tsload.load(os.path.join(DATA, "tsconvert-tied.pt"),
                        checkpoints=True)
        es = list(m.tensors())
        self.assertTrue(all(e.origin == "checkpoint" and e.state_dict
                            for e in es))
        aliases = 0
        for i, e in enumerate(es):
            if e.alias_of is None:
                continue
            self.assertLess(e.alias_of, i)
            f = es[e.alias_of]
            self.assertIsNone(f.alias_of)
            self.assertEqual((e.storage, e.tensor.dtype, e.tensor.shape,
                              e.tensor.stride, e.tensor.storage_offset),
                             (f.storage, f.tensor.dtype, f.tensor.shape,
                              f.tensor.stride, f.tensor.storage_offset))
            self.assertTrue(np.shares_memory(np.asarray(e.tensor),
                                             np.asarray(f.tensor)))
            aliases += 1
        self.assertGreaterEqual(aliases, 1)

        def base(t):    # address of the storage's first byte
            a = np.asarray(t)
            return (a.__array_interface__["data"][0] -
                    t.storage_offset * t.itemsize)

        # equal storage numbers share bytes, different ones do not;
        # numbered 0, 1, ... in the order of the list
        numbers = []
        for e in es:
            if e.storage not in numbers:
                numbers.append(e.storage)
        self.assertEqual(numbers, list(range(len(numbers))))
        for e in es:
            for f in es:
                self.assertEqual(e.storage == f.storage,
                                 base(e.tensor) == base(f.tensor),
                                 (e.name, f.name))
        # a view of the tied storage that is not an alias
        rows = [e for e in es if e.name == "embed.rows"][0]
        self.assertIsNone(rows.alias_of)
        self.assertEqual(rows.storage, es[0].storage)


if __name__ == "__main__":
    unittest.main(verbosity=1)
