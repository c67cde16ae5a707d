#!/usr/bin/python3
"""Write tests/data/deflate-streams.bin: raw deflate streams for the
inflater's tests (tests/test_zip.c, test_inflate_*), made by Python's zlib
with settings PyTorch's writer (miniz) does not use, so that every block
kind and code shape is covered: stored blocks, fixed-Huffman blocks,
Huffman-only and RLE strategies, many blocks, distances up to 32 KiB, codes
longer than the decoder's 9-bit direct table, and empty output.

Format: u32 count, then per stream u32 compressed size, u32 decoded size,
the compressed bytes (little-endian).  Deterministic: same zlib, same file.

    /usr/bin/python3 tests/gen/gen_deflate_streams.py [OUT]
"""
import random
import struct
import sys
import zlib


def raw(data, level=6, strategy=zlib.Z_DEFAULT_STRATEGY, memlevel=8):
    c = zlib.compressobj(level, zlib.DEFLATED, -15, memlevel, strategy)
    return c.compress(data) + c.flush()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/data/deflate-streams.bin"
    rnd = random.Random(1951)
    text = open(__file__, "rb").read()
    words = [bytes(rnd.choice(b"etaoinshrdlucmfw") for _ in range(rnd.randint(1, 9)))
             for _ in range(300)]
    prose = b" ".join(rnd.choice(words) for _ in range(9000))   # ~50 KB
    noise = bytes(rnd.getrandbits(8) for _ in range(20000))
    # skewed bytes: a wide spread of code lengths, many > 9 bits
    skew = bytes(min(255, int(rnd.expovariate(0.05))) for _ in range(30000))
    far = noise[:3000] + prose[:28000] + noise[:3000]              # 31 KB back
    runs = b"".join(bytes([rnd.getrandbits(8)]) * rnd.randint(1, 300)
                    for _ in range(300))
    cases = [
        (b"", 6, zlib.Z_DEFAULT_STRATEGY),
        (b"a", 6, zlib.Z_DEFAULT_STRATEGY),
        (text, 0, zlib.Z_DEFAULT_STRATEGY),          # stored blocks
        (noise, 6, zlib.Z_DEFAULT_STRATEGY),         # incompressible: stored
        (text, 9, zlib.Z_FIXED),                     # fixed Huffman
        (text[:200], 6, zlib.Z_DEFAULT_STRATEGY),    # small: fixed
        (text, 1, zlib.Z_DEFAULT_STRATEGY),
        (text, 9, zlib.Z_DEFAULT_STRATEGY),
        (prose, 6, zlib.Z_DEFAULT_STRATEGY),         # several blocks
        (prose, 6, zlib.Z_HUFFMAN_ONLY),
        (skew, 6, zlib.Z_HUFFMAN_ONLY),              # long codes
        (skew, 9, zlib.Z_DEFAULT_STRATEGY),
        (far, 9, zlib.Z_DEFAULT_STRATEGY),           # long distances
        (runs, 6, zlib.Z_RLE),                       # distance 1 runs
        (runs, 9, zlib.Z_FIXED),
        (b"ab" * 5000, 9, zlib.Z_DEFAULT_STRATEGY),  # distance 2 overlap
        (bytes(range(256)) * 40, 9, zlib.Z_DEFAULT_STRATEGY),
    ]
    blobs = []
    for data, level, strategy in cases:
        comp = raw(data, level, strategy)
        assert zlib.decompress(comp, -15) == data
        blobs.append((comp, len(data)))
    # memLevel 1: tiny blocks, many block headers in a row
    comp = raw(prose[:20000], 6, zlib.Z_DEFAULT_STRATEGY, 1)
    blobs.append((comp, 20000))
    with open(out, "wb") as f:
        f.write(struct.pack("<I", len(blobs)))
        for comp, n in blobs:
            f.write(struct.pack("<II", len(comp), n))
            f.write(comp)


if __name__ == "__main__":
    main()
