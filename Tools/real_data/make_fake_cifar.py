#!/usr/bin/env python3
"""Synthetic folders in the CIFAR-10 and CIFAR-100 binary layouts, for timing the presets
`cifar10-randbits` and `cifar100-collapse` without a CIFAR copy (nothing is downloaded).

The files have the real datasets' names, record layouts and sizes (50 000 training and
10 000 test images), so a preset reads, trains and probes exactly as on the real data; only
the pixel values differ, and the run time does not depend on them. The numbers a run reports
on these files mean nothing (the pixels are noise).

Layouts (the binary version of Krizhevsky's CIFAR; read by Sources/FeatureLensIO/CIFAR.swift,
which takes the folder holding the files, `--set data=DIR`):

  CIFAR-10   data_batch_1.bin … data_batch_5.bin (10 000 records each), test_batch.bin
             (10 000); record = 1 label byte (0…9) + 3072 pixel bytes.
  CIFAR-100  train.bin (50 000 records), test.bin (10 000); record = 1 coarse label byte
             (0…19) + 1 fine label byte (0…99) + 3072 pixel bytes.

Pixel bytes: 1024 red, 1024 green, 1024 blue, each plane 32 × 32 row-major; here uniform
random bytes. Labels: uniform random (CIFAR-10 label; CIFAR-100 fine label). The CIFAR-100
coarse label is the real superclass of the fine label (the table below, from the dataset's
published list of superclasses), not an arbitrary one: the reader does not check it, but
`cifar100-collapse` probes the fine classes within their superclass, and the cost of those
probes depends on how many fine classes each superclass holds (5 in CIFAR-100).
No class-name files are written; the reader then uses its built-in names.

Usage (system python3 with NumPy):

    python3 Tools/real_data/make_fake_cifar.py [--seed 0] [--cifar10 DIR] [--cifar100 DIR]

Defaults: seed 0, /tmp/fakecifar10 and /tmp/fakecifar100 (about 184 MB each).
The same seed writes the same bytes.
"""
import argparse
import os

import numpy as np

IMAGE_BYTES = 3 * 32 * 32
TRAIN, TEST = 50_000, 10_000

# CIFAR-100 fine class names by fine label (alphabetical, as in the dataset's meta file).
FINE_NAMES = """apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus
butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile
cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower
leopard lion lizard lobster man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid
otter palm_tree pear pickup_truck pine_tree plain plate poppy porcupine possum rabbit raccoon ray road
rocket rose sea seal shark shrew skunk skyscraper snail snake spider squirrel streetcar sunflower
sweet_pepper table tank telephone television tiger tractor train trout tulip turtle wardrobe whale
willow_tree wolf woman worm""".split()

# Superclasses by coarse label, each with its five fine classes.
SUPERCLASSES = [
    ("aquatic_mammals", "beaver dolphin otter seal whale"),
    ("fish", "aquarium_fish flatfish ray shark trout"),
    ("flowers", "orchid poppy rose sunflower tulip"),
    ("food_containers", "bottle bowl can cup plate"),
    ("fruit_and_vegetables", "apple mushroom orange pear sweet_pepper"),
    ("household_electrical_devices", "clock keyboard lamp telephone television"),
    ("household_furniture", "bed chair couch table wardrobe"),
    ("insects", "bee beetle butterfly caterpillar cockroach"),
    ("large_carnivores", "bear leopard lion tiger wolf"),
    ("large_man-made_outdoor_things", "bridge castle house road skyscraper"),
    ("large_natural_outdoor_scenes", "cloud forest mountain plain sea"),
    ("large_omnivores_and_herbivores", "camel cattle chimpanzee elephant kangaroo"),
    ("medium_mammals", "fox porcupine possum raccoon skunk"),
    ("non-insect_invertebrates", "crab lobster snail spider worm"),
    ("people", "baby boy girl man woman"),
    ("reptiles", "crocodile dinosaur lizard snake turtle"),
    ("small_mammals", "hamster mouse rabbit shrew squirrel"),
    ("trees", "maple_tree oak_tree palm_tree pine_tree willow_tree"),
    ("vehicles_1", "bicycle bus motorcycle pickup_truck train"),
    ("vehicles_2", "lawn_mower rocket streetcar tank tractor"),
]


def coarse_of_fine():
    """The coarse label of each fine label, shape [100]; checks the table is a partition."""
    index = {name: i for i, name in enumerate(FINE_NAMES)}
    assert len(FINE_NAMES) == 100 and len(index) == 100
    out = np.full(100, -1, dtype=np.int64)
    for c, (_, members) in enumerate(SUPERCLASSES):
        members = members.split()
        assert len(members) == 5, members
        for m in members:
            assert out[index[m]] == -1, m
            out[index[m]] = c
    assert (out >= 0).all()
    return out


def records(rng, n, label_columns):
    """n records: the label columns (each shape [n], values < 256) then 3072 random pixel bytes."""
    k = len(label_columns)
    out = np.empty((n, k + IMAGE_BYTES), dtype=np.uint8)
    for j, col in enumerate(label_columns):
        out[:, j] = col
    out[:, k:] = rng.integers(0, 256, size=(n, IMAGE_BYTES), dtype=np.uint8)
    return out


def write(path, array):
    with open(path, "wb") as f:
        f.write(array.tobytes())
    print(f"{path}: {array.shape[0]} records of {array.shape[1]} bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cifar10", default="/tmp/fakecifar10")
    ap.add_argument("--cifar100", default="/tmp/fakecifar100")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)

    os.makedirs(args.cifar10, exist_ok=True)
    for b in range(1, 6):
        write(os.path.join(args.cifar10, f"data_batch_{b}.bin"),
              records(rng, TRAIN // 5, [rng.integers(0, 10, TRAIN // 5)]))
    write(os.path.join(args.cifar10, "test_batch.bin"), records(rng, TEST, [rng.integers(0, 10, TEST)]))

    coarse = coarse_of_fine()
    os.makedirs(args.cifar100, exist_ok=True)
    for name, n in [("train.bin", TRAIN), ("test.bin", TEST)]:
        fine = rng.integers(0, 100, n)
        write(os.path.join(args.cifar100, name), records(rng, n, [coarse[fine], fine]))


if __name__ == "__main__":
    main()
