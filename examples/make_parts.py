"""Writes examples/parts/: a tiny quality-inspection image tree for `featurelens run images`.

status/type/NNN.png, 16x16 grey PNG files (Python standard library only):
  ok/plain      uniform surface with fine noise
  ok/brushed    the same with faint vertical stripes
  defect/scratch  a bright horizontal line at a random row
  defect/dent     a dark 4x4 square at a random place
40 images per type, seeded, so the tree is the same on every run.
Run from the repository root:  python3 examples/make_parts.py
"""
import os
import random
import struct
import zlib

SIZE = 16
PER_TYPE = 40


def png_bytes(pixels):
    """A grey 8-bit PNG of the SIZE x SIZE list of rows `pixels` (values 0-255)."""
    raw = b"".join(b"\x00" + bytes(row) for row in pixels)

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def image(kind, rng):
    px = [[128 + rng.randint(-10, 10) for _ in range(SIZE)] for _ in range(SIZE)]
    if kind == "brushed":
        for r in range(SIZE):
            for c in range(0, SIZE, 2):
                px[r][c] += 20
    elif kind == "scratch":
        r = rng.randint(2, SIZE - 3)
        for c in range(2, SIZE - 2):
            px[r][c] = 240
    elif kind == "dent":
        r, c = rng.randint(2, SIZE - 6), rng.randint(2, SIZE - 6)
        for i in range(4):
            for j in range(4):
                px[r + i][c + j] = 40
    return [[max(0, min(255, v)) for v in row] for row in px]


def main():
    rng = random.Random(0)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "parts")
    for status, kinds in (("ok", ("plain", "brushed")), ("defect", ("scratch", "dent"))):
        for kind in kinds:
            folder = os.path.join(root, status, kind)
            os.makedirs(folder, exist_ok=True)
            for i in range(PER_TYPE):
                with open(os.path.join(folder, "%03d.png" % i), "wb") as f:
                    f.write(png_bytes(image(kind, rng)))


if __name__ == "__main__":
    main()
