#!/usr/bin/env python3
"""Writes reference safetensors files with the Python `safetensors` library (0.8) into
Tests/FeatureLensTests/Fixtures/safetensors/ (committed). SafeTensorsTests decodes them and
checks that FeatureLens's writer produces the same bytes for the same tensors.

Run: /work/venv/bin/python Tools/checkpoint/make_safetensors_fixtures.py
"""
import os

import numpy as np
from safetensors.numpy import save

OUT = os.path.join(os.path.dirname(__file__), "../../Tests/FeatureLensTests/Fixtures/safetensors")


def main():
    os.makedirs(OUT, exist_ok=True)
    tensors = {
        # Names and dtypes chosen to exercise the writer's ordering (dtype, then name).
        "weight": (np.arange(6, dtype=np.float32) * 0.25 - 0.5).reshape(2, 3),
        "bias": np.array([1.5, -2.0], dtype=np.float32),
        "empty": np.zeros((0, 4), dtype=np.float32),
        "scalar": np.array(3.25, dtype=np.float32),
        "double": np.array([1.0 / 3.0, -0.0, 1e300], dtype=np.float64),
        "steps": np.array([-1, 0, 2**62], dtype=np.int64),
        "rng": np.array([1, 2**64 - 1, 3, 2**63], dtype=np.uint64),
    }
    with open(os.path.join(OUT, "reference_mixed.safetensors"), "wb") as f:
        f.write(save(tensors, metadata={"format": "pt", "note": "quote \" backslash \\ tab \t ü"}))
    # Dtypes FeatureLens does not convert (kept as raw bytes): F16, BF16 is not in numpy, BOOL, U8, I32.
    others = {
        "half": np.array([1.0, -2.0], dtype=np.float16),
        "mask": np.array([True, False, True]),
        "bytes": np.array([0, 255], dtype=np.uint8),
        "ints": np.array([-7, 7], dtype=np.int32),
    }
    with open(os.path.join(OUT, "reference_other_dtypes.safetensors"), "wb") as f:
        f.write(save(others))


if __name__ == "__main__":
    main()
