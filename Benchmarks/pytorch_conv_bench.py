#!/usr/bin/env python3
"""PyTorch reference for `featurelens bench conv`.

The same work as the Swift benchmark, for one of two encoders (--model):

    convnet   the real-data presets' ConvNet: three 3x3 stride-2 convolutions with padding 1 and
              32, 64, 64 channels (with bias), each followed by ReLU, then a dense layer to 128;
              defaults batch 512, SGD lr 0.1, momentum 0.9.
    resnet18  the CIFAR-style ResNet-18 of ImageEncoders.resnet18 (He et al. 2016 with SimCLR's
              small-image stem): conv 3x3 stride 1 (1 -> w, no bias) -> BatchNorm2d -> ReLU, no
              max-pool; four stages of two basic blocks with w, 2w, 4w, 8w filters and strides
              1, 2, 2, 2 (conv3x3 -> BN -> ReLU -> conv3x3 -> BN, plus the identity or a 1x1
              stride-s conv + BN projection shortcut, then ReLU); global average pooling to 8w;
              a dense layer 8w -> 128 (with bias). w = --width (64: the standard model). BatchNorm
              in training mode (batch statistics, running statistics updated with momentum 0.1).
              The bench passes batch 128 and SGD lr 0.01, momentum 0.9 (the paper's optimizer).

Both train on NT-Xent (tau = 0.5) over shuffled batches of Fashion-MNIST training images
(pixels / 255, last partial batch dropped), no projection head. Each view of a batch flips
every image left-right with probability 0.5 and adds N(0, 0.1^2) noise to every pixel (no
clipping), independently for the two views.

Modes:
    --steps K     time K steps (after --warmup steps) and print one JSON object
                  {"torch": version, "threads": t, "steps": K, "seconds": s}
    --serve       print {"ready": true, "torch": version, "images": n} and then, for every
                  line "steps K" on stdin, time the next K steps and print the same object;
                  stop on "quit" or end of input.
Exit status 2 when torch does not import.
"""
import argparse
import gzip
import json
import os
import struct
import sys
import time


def read_idx_images(path, limit):
    with (gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")) as f:
        data = f.read()
    magic, n, rows, cols = struct.unpack(">IIII", data[:16])
    if magic != 2051:
        raise ValueError(f"{path}: IDX magic {magic}, expected 2051")
    if limit is not None:
        n = min(n, limit)
    return n, rows, cols, data[16:16 + n * rows * cols]


def resnet18_classes(nn, F):
    """The modules of the CIFAR-style ResNet-18 (see the module docstring), built on the given
    torch.nn and torch.nn.functional: (BasicBlock(cin, cout, stride), ResNet18(in_channels, w,
    feature_dimension=None)). ResNet18 ends in global average pooling, then a dense layer
    8w -> feature_dimension when one is given. Tools/golden/make_resnet_golden.py builds its
    fixtures from the same classes, so the benchmark times the model the golden tests check."""

    class BasicBlock(nn.Module):
        """conv3x3(s) -> BN -> ReLU -> conv3x3 -> BN, plus identity or 1x1(s) conv + BN shortcut, then ReLU."""

        def __init__(self, cin, cout, stride=1):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.shortcut = nn.Sequential()
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return F.relu(out + self.shortcut(x))

    class ResNet18(nn.Module):
        """3x3 stride-1 stem, no max-pool, stages of 2 blocks with w, 2w, 4w, 8w filters
        (strides 1, 2, 2, 2), global average pooling, optional dense layer."""

        def __init__(self, in_channels, w, feature_dimension=None):
            super().__init__()
            self.conv1 = nn.Conv2d(in_channels, w, 3, stride=1, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(w)
            cin, stages = w, []
            for k, stride in enumerate([1, 2, 2, 2]):
                cout = w << k
                stages.append(nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)))
                cin = cout
            self.layer1, self.layer2, self.layer3, self.layer4 = stages
            self.linear = None if feature_dimension is None else nn.Linear(cin, feature_dimension)

        def forward(self, x):
            x = F.relu(self.bn1(self.conv1(x)))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x)))).mean(dim=(2, 3))
            return x if self.linear is None else self.linear(x)

    return BasicBlock, ResNet18


def resnet18(nn, F, in_channels, w, feature_dimension):
    """CIFAR-style ResNet-18 (see the module docstring) with a dense layer 8w -> feature_dimension."""
    return resnet18_classes(nn, F)[1](in_channels, w, feature_dimension)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--model", choices=["convnet", "resnet18"], default="convnet")
    parser.add_argument("--width", type=int, default=64, help="ResNet-18's first-stage filters w")
    parser.add_argument("--images", type=int, default=None, help="use only the first N training images")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--tau", type=float, default=0.5)
    parser.add_argument("--sigma", type=float, default=0.1)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warmup", type=int, default=2, help="untimed warm-up steps")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--steps", type=int, default=10)
    group.add_argument("--serve", action="store_true")
    args = parser.parse_args()
    try:
        import numpy as np
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
    except ImportError as error:
        print(f"torch does not import: {error}", file=sys.stderr)
        return 2

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    path = os.path.join(args.data, "train-images-idx3-ubyte.gz")
    if not os.path.exists(path):
        path = os.path.join(args.data, "train-images-idx3-ubyte")
    n, rows, cols, raw = read_idx_images(path, args.images)
    data = torch.from_numpy(np.frombuffer(raw, dtype=np.uint8).reshape(n, 1, rows, cols).astype(np.float32) / 255.0)

    if args.model == "convnet":
        def out(size):
            return (size - 1) // 2 + 1
        h = out(out(out(rows)))
        w = out(out(out(cols)))
        model = nn.Sequential(
            nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(64 * h * w, 128))
    else:
        model = resnet18(nn, F, 1, args.width, 128)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    b = args.batch
    if n < b:
        print(f"need at least {b} images, got {n}", file=sys.stderr)
        return 1
    partner = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)])
    diagonal = torch.eye(2 * b, dtype=torch.bool)
    state = {"perm": torch.randperm(n), "pos": 0}

    def view(x):
        flip = torch.rand(x.shape[0]) < 0.5
        v = torch.where(flip[:, None, None, None], x.flip(3), x)
        return v + args.sigma * torch.randn_like(v)

    def step():
        if state["pos"] + b > n:
            state["perm"] = torch.randperm(n)
            state["pos"] = 0
        x = data[state["perm"][state["pos"]:state["pos"] + b]]
        state["pos"] += b
        z = model(torch.cat([view(x), view(x)]))
        u = F.normalize(z, dim=1)
        s = ((u @ u.T) / args.tau).masked_fill(diagonal, float("-inf"))
        loss = F.cross_entropy(s, partner)
        optimizer.zero_grad(set_to_none=False)
        loss.backward()
        optimizer.step()

    def timed(k):
        start = time.perf_counter()
        for _ in range(k):
            step()
        return {"torch": torch.__version__, "threads": torch.get_num_threads(), "steps": k,
                "seconds": time.perf_counter() - start}

    for _ in range(args.warmup):
        step()
    if not args.serve:
        print(json.dumps(timed(args.steps)))
        return 0
    print(json.dumps({"ready": True, "torch": torch.__version__, "images": n}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        if words[0] == "steps" and len(words) == 2:
            print(json.dumps(timed(int(words[1]))), flush=True)
        else:
            print(json.dumps({"error": f"unknown command {line.strip()!r}"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
