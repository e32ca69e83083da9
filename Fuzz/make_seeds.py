#!/usr/bin/env python3
"""Writes the small seed corpora under Fuzz/seeds/<harness>/ (committed; rerun only to change them).

Seeds are valid inputs for each parser, so libFuzzer starts from deep inside the format:
safetensors files written by the reference `safetensors` library (run with
/work/venv/bin/python), IDX files from the test fixtures, CIFAR records, CSV matrices and
label-grouping configs, the Pillow-written PNG/JPEG golden fixtures.
"""
import gzip
import io
import json
import os
import shutil
import struct

import numpy as np
from safetensors.numpy import save

ROOT = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(ROOT)
SEEDS = os.path.join(ROOT, "seeds")


def put(harness, name, data):
    d = os.path.join(SEEDS, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    shutil.rmtree(SEEDS, ignore_errors=True)
    # safetensors
    put("fuzz-safetensors", "f32.safetensors", save({"w": np.arange(6, dtype=np.float32).reshape(2, 3)}))
    put("fuzz-safetensors", "mixed.safetensors", save({
        "a": np.zeros((0,), dtype=np.float32), "b": np.array(1.5, dtype=np.float64),
        "c": np.arange(4, dtype=np.uint64), "d": np.arange(3, dtype=np.int64),
        "e": np.ones((2, 2), dtype=np.float16), "f": np.array([True, False])}, metadata={"format": "pt", "k": "v"}))
    put("fuzz-safetensors", "empty.safetensors", save({}))
    ckpt = os.path.join(REPO, "Tests/FeatureLensTests/Fixtures/checkpoint/mlp_adam.safetensors")
    if os.path.exists(ckpt):
        with open(ckpt, "rb") as f:
            put("fuzz-safetensors", "checkpoint.safetensors", f.read())
    # IDX (raw harness gets raw and gzip files; gzip harness gets raw payloads and gzip files)
    idx = os.path.join(REPO, "Tests/FeatureLensTests/Fixtures/idx")
    for n in sorted(os.listdir(idx)):
        with open(os.path.join(idx, n), "rb") as f:
            data = f.read()
        put("fuzz-idx", n, data)
        put("fuzz-idx-gzip", n, data if not n.endswith(".gz") else gzip.decompress(data) if n != "corrupt.idx3-ubyte.gz" else data)
    put("fuzz-idx", "float64-1.idx", bytes([0, 0, 0x0E, 1]) + struct.pack(">I", 2) + struct.pack(">2d", 1.0, float("nan")))
    # CIFAR: first byte selects 10 (even) or 100 (odd).
    rec10 = bytes([3]) + bytes(range(256)) * 12
    rec100 = bytes([7, 42]) + bytes(range(256)) * 12
    put("fuzz-cifar", "cifar10-2.bin", b"\x00" + rec10 * 2)
    put("fuzz-cifar", "cifar100-1.bin", b"\x01" + rec100)
    # CSV features
    put("fuzz-csv-features", "header.csv", b"x,y,z\n1,2,3\n4.5,-6e-3,7\n")
    put("fuzz-csv-features", "noheader-crlf.csv", b"1,2\r\n3,4\r\n\r\n")
    put("fuzz-csv-features", "nan.csv", b"a,b\n1,nan\n")
    # Label grouping configs
    put("fuzz-label-grouping", "fashion.json", json.dumps({
        "fineLabelSet": "class", "coarseLabelSet": "coarse",
        "groups": [{"name": "tops", "members": [0, 2, 4, 6]}, {"name": "bottoms", "members": [1, 3]},
                   {"name": "footwear", "members": [5, 7, 9]}, {"name": "bags", "members": [8]}]}).encode())
    put("fuzz-label-grouping", "minimal.json", b'{"groups":[{"name":"a","members":[0]}]}')
    # NPY: NumPy's own writer (versions 1.0 and 2.0, float32/float64, 0-d to 3-d), plus a
    # Fortran-order vector (accepted: one non-trivial dimension) and a big-endian array (rejected).
    def npy(arr, version=None):
        buf = io.BytesIO()
        if version is None:
            np.save(buf, arr)
        else:
            np.lib.format.write_array(buf, arr, version=version)
        return buf.getvalue()
    put("fuzz-npy", "f4-2x3.npy", npy(np.arange(6, dtype="<f4").reshape(2, 3)))
    put("fuzz-npy", "f8-nan-inf.npy", npy(np.array([1.5, np.nan, -np.inf, 0.0], dtype="<f8")))
    put("fuzz-npy", "f8-0d.npy", npy(np.array(2.5, dtype="<f8")))
    put("fuzz-npy", "f4-empty-0x4.npy", npy(np.zeros((0, 4), dtype="<f4")))
    put("fuzz-npy", "f4-2x1x2-v2.npy", npy(np.ones((2, 1, 2), dtype="<f4"), version=(2, 0)))
    put("fuzz-npy", "f4-fortran-vector.npy", npy(np.asfortranarray(np.arange(3, dtype="<f4").reshape(3, 1))))
    put("fuzz-npy", "f8-big-endian.npy", npy(np.arange(2, dtype=">f8")))
    # Labels CSV: integer and string labels, quoted fields, CRLF, a byte-order mark.
    put("fuzz-labels-csv", "int-and-string.csv", b"class,coarse\n0,top\n2,top\n10,bottom\n2,bag\n")
    put("fuzz-labels-csv", "quoted-crlf.csv", b'"name, with comma",y\r\n"a ""b""",1\r\nc,2\r\n')
    put("fuzz-labels-csv", "bom-one-column.csv", b"\xef\xbb\xbflabel\n7\n-3\n 7 \n")
    # Images: the Pillow-written golden fixtures (every PNG mode, grey/RGB/progressive/CMYK JPEG).
    images = os.path.join(REPO, "Tests/FeatureLensTests/Fixtures/golden/images")
    for n in sorted(os.listdir(images)):
        if n.endswith((".png", ".jpg")):
            with open(os.path.join(images, n), "rb") as f:
                put("fuzz-image", n, f.read())


if __name__ == "__main__":
    main()
