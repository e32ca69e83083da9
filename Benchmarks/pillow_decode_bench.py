"""Pillow side of `featurelens bench decode`.

Usage: python pillow_decode_bench.py FOLDER [--save FILE]

FOLDER holds one folder per class with the image files in it (written by `featurelens bench
decode`). Timed, in one process on one thread (Pillow decodes each image on the calling
thread, one after another; no worker threads or processes are used):

1. listing: the class folders, then the files of each, every level sorted by name with the
   entries whose names start with "." left out (the row order of FeatureLens's ImageFolder
   for this layout); the label of a row is the index of its class folder;
2. for every file: `PIL.Image.open(path)` (as a context manager, so the file is closed),
   `.convert("RGB")` and `np.asarray(...)`, a uint8 array of shape (height, width, 3);
3. `np.stack` of those arrays into one uint8 array of shape (n, height, width, 3), and the
   labels as an int64 array of shape (n,).

Interpreter start-up and the imports are not timed. Then it prints one JSON object:
{"seconds": wall time of steps 1-3 (time.perf_counter), "images": n, "height": ...,
"width": ..., "channels": 3, "classes": number of class folders, "threads": 1,
"pillow": Pillow's version, "numpy": NumPy's version}.

With --save FILE it afterwards (not timed) writes the stacked images as a float32 NPY array of
shape (n, 3, height, width) with values / 255, the layout of FeatureLens's image dataset, so
the caller can compare the pixels.

Exits with status 2 (and a message on standard error) when PIL or numpy does not import.
"""
import json
import os
import sys
import time

try:
    import numpy as np
    import PIL
    from PIL import Image
except ImportError as error:
    print(f"pillow_decode_bench.py: {error}", file=sys.stderr)
    sys.exit(2)


def visible(names):
    return sorted(name for name in names if not name.startswith("."))


def main():
    args = sys.argv[1:]
    save = None
    if "--save" in args:
        i = args.index("--save")
        if i + 1 >= len(args):
            sys.exit("pillow_decode_bench.py: --save needs a file name")
        save = args[i + 1]
        del args[i:i + 2]
    if len(args) != 1:
        sys.exit("usage: pillow_decode_bench.py FOLDER [--save FILE]")
    folder = args[0]

    start = time.perf_counter()
    classes = visible(os.listdir(folder))
    paths, labels = [], []
    for label, name in enumerate(classes):
        class_folder = os.path.join(folder, name)
        for file in visible(os.listdir(class_folder)):
            paths.append(os.path.join(class_folder, file))
            labels.append(label)
    arrays = []
    for path in paths:
        with Image.open(path) as image:
            arrays.append(np.asarray(image.convert("RGB")))
    images = np.stack(arrays)
    labels = np.asarray(labels, dtype=np.int64)
    seconds = time.perf_counter() - start

    n, height, width, channels = images.shape
    if save is not None:
        np.save(save, np.ascontiguousarray((images.astype(np.float32) / np.float32(255)).transpose(0, 3, 1, 2)))
    print(json.dumps({"seconds": seconds, "images": int(n), "height": int(height), "width": int(width),
                      "channels": int(channels), "classes": len(classes), "threads": 1,
                      "pillow": PIL.__version__, "numpy": np.__version__}))


if __name__ == "__main__":
    main()
