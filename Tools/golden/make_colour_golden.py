#!/usr/bin/env python3
"""Golden values for FeatureLens's colour augmentations and per-channel normalization.

torchvision is not installed on the development machine, so the values come from the formulas
of torchvision's float-tensor transforms, written here in NumPy (float32, the same operation
order) independently of the Swift code:

  brightness b:  clamp(b * x, 0, 1)
  contrast c:    clamp(c * x + (1 - c) * m, 0, 1), m = mean over the image of its luma
                 (of the image itself for one channel)
  saturation s:  clamp(s * x + (1 - s) * Y, 0, 1), Y = the pixel's luma (identity for one channel)
  hue h:         RGB -> HSV (V = max, S = (max - min) / max, H by the sector of the largest
                 channel, H = fmod(H / 6 + 1, 1)), H = (H + h) mod 1, HSV -> RGB
                 (i = floor(6H) mod 6, f = 6H - floor(6H), p, q, t clamped to [0, 1])
  greyscale:     every channel = Y
  luma:          Y = 0.2989 R + 0.587 G + 0.114 B (torchvision's tensor weights)
  normalize:     (x_c - mean_c) / std_c, mean and population std per channel over the batch

Run from the repository root:

    /work/venv/bin/python Tools/golden/make_colour_golden.py

Writes Tests/FeatureLensTests/Fixtures/augmentation/colour_golden.json, read by
ImageAugmentationTests.swift (compared within 2e-6).
"""
import json
import os

import numpy as np

f32 = np.float32
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "FeatureLensTests", "Fixtures",
                   "augmentation", "colour_golden.json")


def luma(x):
    r, g, b = x[0], x[1], x[2]
    return (f32(0.2989) * r + f32(0.587) * g) + f32(0.114) * b


def blend(x, f, other):
    f = f32(f)
    return np.clip(f * x + (f32(1) - f) * other, f32(0), f32(1)).astype(f32)


def brightness(x, f):
    return blend(x, f, np.zeros_like(x))


def contrast(x, f):
    m = luma(x).astype(np.float64).mean() if x.shape[0] == 3 else x.astype(np.float64).mean()
    return blend(x, f, f32(m))


def saturation(x, f):
    if x.shape[0] == 1:
        return x.copy()
    return blend(x, f, luma(x)[None])


def hue(x, shift):
    if x.shape[0] == 1:
        return x.copy()
    r, g, b = x[0], x[1], x[2]
    maxc, minc = x.max(axis=0), x.min(axis=0)
    eq = maxc == minc
    cr = maxc - minc
    s = cr / np.where(eq, f32(1), maxc)
    div = np.where(eq, f32(1), cr)
    rc, gc, bc = (maxc - r) / div, (maxc - g) / div, (maxc - b) / div
    h = np.where(maxc == r, bc - gc, np.where(maxc == g, f32(2) + rc - bc, f32(4) + gc - rc)).astype(f32)
    h = np.fmod(h / f32(6) + f32(1), f32(1)).astype(f32)
    h = h + f32(shift)
    h = (h - np.floor(h)).astype(f32)
    v = maxc
    h6 = h * f32(6)
    sector = np.floor(h6)
    fr = h6 - sector
    i = sector.astype(np.int64) % 6
    p = np.clip(v * (f32(1) - s), 0, 1)
    q = np.clip(v * (f32(1) - s * fr), 0, 1)
    t = np.clip(v * (f32(1) - s * (f32(1) - fr)), 0, 1)
    table = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    out = np.zeros_like(x)
    for k in range(6):
        m = i == k
        for ch in range(3):
            out[ch][m] = table[k][ch][m]
    return out.astype(f32)


def grey(x):
    if x.shape[0] == 1:
        return x.copy()
    y = luma(x)
    return np.stack([y, y, y]).astype(f32)


def check_hue_against_colorsys(x, shift):
    """The HSV formulas above against Python's colorsys (double precision), within 1e-6."""
    import colorsys
    y = hue(x, shift)
    for idx in np.ndindex(x.shape[1:]):
        h, s, v = colorsys.rgb_to_hsv(*(float(x[(c,) + idx]) for c in range(3)))
        expected = colorsys.hsv_to_rgb((h + shift) % 1.0, s, v)
        got = [float(y[(c,) + idx]) for c in range(3)]
        assert max(abs(a - b) for a, b in zip(expected, got)) < 1e-6, (idx, expected, got)


OPS = {"brightness": brightness, "contrast": contrast, "saturation": saturation, "hue": hue}


def main():
    # One RGB image [3, 2, 4]: each pixel exercises a branch (red, green or blue largest,
    # all equal, ties between two channels, black, white, values that clamp when scaled).
    rgb = np.array([
        [[0.9, 0.2, 0.1, 0.5], [0.0, 1.0, 0.7, 0.3]],
        [[0.1, 0.8, 0.1, 0.5], [0.0, 1.0, 0.7, 0.6]],
        [[0.3, 0.4, 0.95, 0.5], [0.0, 1.0, 0.2, 0.9]],
    ], dtype=f32)
    for shift in [-0.5, -0.1, 0.07, 0.5]:
        check_hue_against_colorsys(rgb, shift)
    grey_image = np.array([[[0.1, 0.5, 0.9], [0.3, 0.0, 1.0]]], dtype=f32)
    cases = []
    for name, x in [("rgb", rgb), ("grey", grey_image)]:
        for op, factors in [("brightness", [0.6, 1.4]), ("contrast", [0.6, 1.4]), ("saturation", [0.0, 0.6, 1.4]),
                            ("hue", [-0.5, -0.1, 0.07, 0.5])]:
            for f in factors:
                cases.append({"image": name, "order": [op], "factors": {op: f}, "output": OPS[op](x, f).ravel().tolist()})
        # A composed jitter in a non-default order.
        order = ["hue", "contrast", "brightness", "saturation"]
        factors = {"brightness": 1.3, "contrast": 0.7, "saturation": 1.5, "hue": -0.2}
        y = x
        for op in order:
            y = OPS[op](y, factors[op])
        cases.append({"image": name, "order": order, "factors": factors, "output": y.ravel().tolist()})
    batch = np.stack([rgb, rgb[::-1] * f32(0.5)]).astype(f32)  # [2, 3, 2, 4]
    mean = batch.astype(np.float64).mean(axis=(0, 2, 3))
    std = batch.astype(np.float64).std(axis=(0, 2, 3))
    normalized = ((batch - mean[None, :, None, None].astype(f32)) / std[None, :, None, None].astype(f32)).astype(f32)
    doc = {
        "source": "NumPy %s: torchvision float-tensor formulas (see Tools/golden/make_colour_golden.py)" % np.__version__,
        "images": {"rgb": {"shape": list(rgb.shape), "data": rgb.ravel().tolist()},
                   "grey": {"shape": list(grey_image.shape), "data": grey_image.ravel().tolist()}},
        "cases": cases,
        "grayscale": {"rgb": grey(rgb).ravel().tolist(), "grey": grey(grey_image).ravel().tolist()},
        "normalize": {"shape": list(batch.shape), "input": batch.ravel().tolist(), "mean": mean.tolist(),
                      "std": std.tolist(), "output": normalized.ravel().tolist()},
    }
    with open(OUT, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
