"""Write a torch.save-style zip checkpoint by hand (no torch needed).

make_checkpoint(path, tensors) writes {name: float32 tensor of `numel`
elements} as PyTorch's zip format: `PREFIX/data.pkl` (a pickle of an
OrderedDict of torch._utils._rebuild_tensor_v2 calls, storages as
persistent ids), `PREFIX/data/N` stored uncompressed with their data
aligned to 64 bytes (as torch.save aligns them, so tsload maps them
zero-copy), `PREFIX/version` and `PREFIX/byteorder`.  The bytes of tensor
N are `fill(N, numel)`.
"""
import struct
import zipfile


def _unicode(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def _int(n):
    return b"J" + struct.pack("<i", n)


def data_pkl(tensors):
    p = [b"\x80\x02c" + b"collections\nOrderedDict\n" + b")R("]
    for i, (name, numel) in enumerate(tensors):
        p.append(_unicode(name))
        p.append(b"ctorch._utils\n_rebuild_tensor_v2\n(")
        p.append(b"(" + _unicode("storage") + b"ctorch\nFloatStorage\n" +
                 _unicode(str(i)) + _unicode("cpu") + _int(numel) + b"tQ")
        p.append(_int(0) + _int(numel) + b"\x85" + _int(1) + b"\x85")
        p.append(b"\x89" + b"ccollections\nOrderedDict\n)R" + b"tR")
    p.append(b"u.")
    return b"".join(p)


def _aligned(zf, name, data):
    """Add a stored record whose data starts on a 64-byte boundary."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    start = zf.fp.tell() + 30 + len(name.encode())
    pad = (-(start + 4)) % 64
    info.extra = struct.pack("<HH", 0x4246, pad) + b"Z" * pad
    zf.writestr(info, data)


def make_checkpoint(path, tensors, fill, prefix="big"):
    with zipfile.ZipFile(path, "w", allowZip64=True) as zf:
        _aligned(zf, prefix + "/data.pkl", data_pkl(tensors))
        _aligned(zf, prefix + "/byteorder", b"little")
        for i, (_, numel) in enumerate(tensors):
            _aligned(zf, "%s/data/%d" % (prefix, i), fill(i, numel))
        _aligned(zf, prefix + "/version", b"3\n")


def make_zip(path, records, prefix="archive"):
    """A zip of `records` (name -> bytes) under PREFIX/, each stored and
    aligned as torch.save writes them."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in records.items():
            _aligned(zf, prefix + "/" + name, data)
