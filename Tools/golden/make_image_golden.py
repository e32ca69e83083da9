#!/usr/bin/env python3
"""Golden fixtures for FeatureLens's PNG/JPEG decoding, written and decoded by Pillow.

Run with a Python that has Pillow and NumPy:

    python Tools/golden/make_image_golden.py

Writes Tests/FeatureLensTests/Fixtures/golden/images/<name>.<png|jpg> (each image written by
Pillow, an encoder independent of FeatureLens's) and <name>.npy: Pillow's decoded pixels as
float32 [c, h, w], each stored value divided by 255 (65535 for 16-bit), alpha dropped,
palette expanded to RGB, CMYK converted with Pillow's convert("RGB") (R = (255 - K)(1 - C/255),
the uncalibrated formula). The Swift test compares: PNG exactly, JPEG within 2/255 (Pillow
bundles its own libjpeg-turbo build).
"""
import os

import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "FeatureLensTests",
                   "Fixtures", "golden", "images")
W, H = 7, 5


def ramp(channels, scale=255, seed=0):
    """Deterministic samples [h, w, c]: (37 k + 11 + seed) mod (scale + 1) for sample k."""
    k = np.arange(H * W * channels).reshape(H, W, channels)
    return ((37 * k + 11 + seed) * (1 if scale == 255 else 997)) % (scale + 1)


def smooth(channels):
    y, x, c = np.meshgrid(np.arange(H), np.arange(W), np.arange(channels), indexing="ij")
    return (20 + 6 * x + 5 * y + 25 * c).astype(np.uint8)


def planes(array, divisor):
    """[h, w] or [h, w, c] → float32 [c, h, w] / divisor."""
    a = np.asarray(array, dtype=np.float64)
    if a.ndim == 2:
        a = a[:, :, None]
    return (a.transpose(2, 0, 1) / divisor).astype(np.float32)


def save(name, image, ext, expected, **kw):
    path = os.path.join(OUT, f"{name}.{ext}")
    image.save(path, **kw)
    np.save(os.path.join(OUT, f"{name}.npy"), expected(Image.open(path)))


def main():
    os.makedirs(OUT, exist_ok=True)
    u8 = lambda a: a.astype(np.uint8)
    save("grey", Image.fromarray(u8(ramp(1)[:, :, 0])), "png", lambda im: planes(np.array(im), 255))
    save("grey1bit", Image.fromarray(u8(ramp(1)[:, :, 0] % 2 * 255)).convert("1"), "png",
         lambda im: planes(np.array(im.convert("L")), 255))
    g16 = (ramp(1, 65535)[:, :, 0]).astype(np.uint16)
    save("grey16", Image.frombytes("I;16", (W, H), g16.astype("<u2").tobytes()), "png", lambda im: planes(np.array(im, dtype=np.uint16), 65535))
    la = Image.merge("LA", [Image.fromarray(u8(ramp(1, seed=3)[:, :, 0])), Image.fromarray(u8(ramp(1, seed=9)[:, :, 0]))])
    save("grey_alpha", la, "png", lambda im: planes(np.array(im)[:, :, 0], 255))
    save("rgb", Image.fromarray(u8(ramp(3, seed=1))), "png", lambda im: planes(np.array(im), 255))
    save("rgba", Image.fromarray(u8(ramp(4, seed=2))), "png", lambda im: planes(np.array(im)[:, :, :3], 255))
    pal = Image.frombytes("P", (W, H), u8(ramp(1)[:, :, 0] % 4).tobytes())
    pal.putpalette([0, 0, 0, 255, 0, 0, 12, 200, 77, 250, 250, 5])
    save("palette_transparent", pal, "png", lambda im: planes(np.array(im.convert("RGB")), 255), transparency=2)
    save("jpeg_grey", Image.fromarray(smooth(1)[:, :, 0]), "jpg", lambda im: planes(np.array(im), 255), quality=95)
    save("jpeg_rgb", Image.fromarray(smooth(3)), "jpg", lambda im: planes(np.array(im), 255), quality=95)
    save("jpeg_progressive", Image.fromarray(smooth(3)), "jpg", lambda im: planes(np.array(im), 255), quality=90,
         progressive=True)
    save("jpeg_cmyk", Image.frombytes("CMYK", (W, H), smooth(4).tobytes()), "jpg",
         lambda im: planes(np.array(im.convert("RGB")), 255), quality=95)
    for f in sorted(os.listdir(OUT)):
        print(f, os.path.getsize(os.path.join(OUT, f)))


if __name__ == "__main__":
    main()
