#!/usr/bin/env python3
"""Writes the small reader and augmentation fixtures under Tests/FeatureLensTests/Fixtures.

Run from the repository root with the project's virtualenv:
    /work/venv/bin/python Tools/make_data_fixtures.py
The Swift tests only read the committed outputs; they never need Python.

- idx/images-3x4x5.idx3-ubyte(.gz): 3 images of 4x5 ubyte pixels, pixel k = (37 k + 11) mod 256
- idx/labels-3.idx1-ubyte(.gz): labels [2, 0, 1]
- idx/float32-2x3.idx: float32 [[0.5, -1.25, 3], [1e-3, 2.5e4, -0]]
- idx/corrupt.idx3-ubyte.gz: the images gzip with its deflate data damaged
- augmentation/bilinear_golden.json: torch.nn.functional.interpolate(bilinear,
  align_corners=False) of crops of a fixed input, the reference for RandomResizedCrop's resampling
"""
import gzip
import json
import os
import struct

import numpy as np
import torch

ROOT = os.path.join(os.path.dirname(__file__), "..", "Tests", "FeatureLensTests", "Fixtures")


def idx_bytes(type_code, shape, payload):
    return bytes([0, 0, type_code, len(shape)]) + b"".join(struct.pack(">I", d) for d in shape) + payload


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def gz(data):
    return gzip.compress(data, compresslevel=9, mtime=0)


def main():
    idx = os.path.join(ROOT, "idx")
    os.makedirs(idx, exist_ok=True)
    pixels = bytes((37 * k + 11) % 256 for k in range(3 * 4 * 5))
    images = idx_bytes(0x08, [3, 4, 5], pixels)
    labels = idx_bytes(0x08, [3], bytes([2, 0, 1]))
    floats = idx_bytes(0x0D, [2, 3], np.array([0.5, -1.25, 3, 1e-3, 2.5e4, -0.0], dtype=">f4").tobytes())
    write(os.path.join(idx, "images-3x4x5.idx3-ubyte"), images)
    write(os.path.join(idx, "images-3x4x5.idx3-ubyte.gz"), gz(images))
    write(os.path.join(idx, "labels-3.idx1-ubyte"), labels)
    write(os.path.join(idx, "labels-3.idx1-ubyte.gz"), gz(labels))
    write(os.path.join(idx, "float32-2x3.idx"), floats)
    bad = bytearray(gz(images))
    for k in range(12, len(bad) - 8):  # damage the deflate blocks, keep header and trailer
        bad[k] ^= 0x5A
    write(os.path.join(idx, "corrupt.idx3-ubyte.gz"), bytes(bad))

    aug = os.path.join(ROOT, "augmentation")
    os.makedirs(aug, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 7, 6, generator=g, dtype=torch.float32)
    cases = []
    for (top, left, h, w, oh, ow) in [(1, 2, 4, 3, 7, 6), (0, 0, 7, 6, 7, 6), (2, 1, 5, 5, 3, 4), (3, 0, 1, 6, 5, 9)]:
        crop = x[:, :, top:top + h, left:left + w]
        y = torch.nn.functional.interpolate(crop, size=(oh, ow), mode="bilinear", align_corners=False)
        cases.append({"top": top, "left": left, "height": h, "width": w, "outputHeight": oh, "outputWidth": ow,
                      "output": y.flatten().tolist()})
    doc = {"source": "torch %s, torch.nn.functional.interpolate(mode='bilinear', align_corners=False)" % torch.__version__,
           "inputShape": list(x.shape), "input": x.flatten().tolist(), "cases": cases}
    with open(os.path.join(aug, "bilinear_golden.json"), "w") as f:
        json.dump(doc, f)


if __name__ == "__main__":
    main()
