"""Trains a tiny PyTorch encoder for a few hundred steps and saves its embeddings at three
checkpoints with `featurelens_export` (Tools/python/), for `featurelens audit`.

    python3 examples/pytorch/train_and_export.py [--out fl-export] [--steps 300] [--synthetic]

Data: Fashion-MNIST from /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist)
when present, else (or with --synthetic) a synthetic stand-in made with NumPy. The label
sets are `coarse` (4 groups: tops, bottoms, footwear, bags) and `fine` (the 10 classes,
nested in `coarse`). The encoder (MLP d -> 256 -> 64, ReLU, embedding L2-normalized in the
loss) trains with the supervised contrastive loss SupCon (Khosla et al. 2020, eq. 2; one
view per image, temperature 0.1) on `coarse` only, the class-collapse setting of Xue et al.
2023: the audit then shows whether `fine` stays readable within `coarse`.

Checkpoints: step 0 (untrained: the audit's baseline), step 50 and the last step, each the
embedding of the same held-out rows (2000 test images, in file order). Prints the
`featurelens audit` command that reads them. Needs NumPy and PyTorch (CPU is enough;
about 15 s of CPU time).
"""
import argparse
import gzip
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "Tools", "python"))
from featurelens_export import EmbeddingExporter  # noqa: E402

FASHION = "/usr/share/datasets/fashion-mnist"
FINE_NAMES = ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]
# The coarse groups of the fashion presets: tops {0, 2, 4, 6}, bottoms {1, 3}, footwear {5, 7, 9}, bags {8}.
COARSE_OF_FINE = ["tops", "bottoms", "tops", "bottoms", "tops", "footwear", "tops", "footwear", "bags", "footwear"]


def read_idx(path):
    """An IDX file (gzip or not) as a NumPy array: magic 0x0000_08_NN, NN dims, big-endian sizes."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def fashion_mnist(train_rows, test_rows):
    def pair(prefix, rows):
        x = read_idx(os.path.join(FASHION, f"{prefix}-images-idx3-ubyte.gz"))[:rows]
        y = read_idx(os.path.join(FASHION, f"{prefix}-labels-idx1-ubyte.gz"))[:rows]
        return x.reshape(len(x), -1).astype(np.float32) / 255.0, y.astype(np.int64)
    return pair("train", train_rows) + pair("t10k", test_rows)


def synthetic(train_rows, test_rows, d=64, seed=0):
    """10 fine classes, each a Gaussian cluster: coarse centre (scale 3) + fine offset (scale 1)
    + N(0, 1) noise per coordinate."""
    rng = np.random.default_rng(seed)
    coarse_names = sorted(set(COARSE_OF_FINE))
    coarse_centre = {c: 3.0 * rng.normal(size=d) for c in coarse_names}
    centre = np.stack([coarse_centre[COARSE_OF_FINE[k]] + rng.normal(size=d) for k in range(10)])

    def draw(n):
        y = rng.integers(0, 10, size=n)
        return (centre[y] + rng.normal(size=(n, d))).astype(np.float32), y.astype(np.int64)
    return draw(train_rows) + draw(test_rows)


def supcon(z, y, temperature):
    """SupCon (Khosla et al. 2020, eq. 2, L_out), one view per row: for each anchor with at
    least one positive, minus the mean over its positives of log softmax over all other rows."""
    import torch
    z = torch.nn.functional.normalize(z, dim=1)
    logits = z @ z.T / temperature
    self_mask = torch.eye(len(y), dtype=torch.bool)
    logits = logits.masked_fill(self_mask, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positive = (y[:, None] == y[None, :]) & ~self_mask
    count = positive.sum(1)
    has = count > 0
    mean_log_prob = log_prob.masked_fill(~positive, 0.0).sum(1)[has] / count[has]
    return -mean_log_prob.mean()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="fl-export", help="output folder (default fl-export)")
    parser.add_argument("--steps", type=int, default=300, help="training steps (default 300, at least 51)")
    parser.add_argument("--synthetic", action="store_true", help="synthetic data even if Fashion-MNIST is present")
    args = parser.parse_args()
    if args.steps <= 50:
        parser.error("--steps must be above 50 (the checkpoints are steps 0, 50 and --steps)")

    import torch
    torch.manual_seed(0)
    torch.set_num_threads(1)
    use_fashion = not args.synthetic and os.path.exists(os.path.join(FASHION, "train-images-idx3-ubyte.gz"))
    x_train, y_train, x_test, y_test = fashion_mnist(10000, 2000) if use_fashion else synthetic(10000, 2000)
    print(f"data: {'Fashion-MNIST' if use_fashion else 'synthetic'}, {len(x_train)} training rows, "
          f"{len(x_test)} held-out rows of width {x_train.shape[1]}")
    coarse_names = sorted(set(COARSE_OF_FINE))
    coarse_code = torch.tensor([coarse_names.index(c) for c in COARSE_OF_FINE])

    model = torch.nn.Sequential(torch.nn.Linear(x_train.shape[1], 256), torch.nn.ReLU(), torch.nn.Linear(256, 64))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    # The three lines: labels once, then a checkpoint at each chosen step.
    exporter = EmbeddingExporter(args.out, labels={"coarse": [COARSE_OF_FINE[k] for k in y_test],
                                                   "fine": [FINE_NAMES[k] for k in y_test]})
    x_eval = torch.from_numpy(x_test)
    exporter.save(0, model, x_eval)

    x_all, y_all = torch.from_numpy(x_train), coarse_code[torch.from_numpy(y_train)]
    generator = torch.Generator().manual_seed(0)
    for step in range(1, args.steps + 1):
        batch = torch.randint(0, len(x_all), (256,), generator=generator)
        loss = supcon(model(x_all[batch]), y_all[batch], temperature=0.1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step in (50, args.steps):
            exporter.save(step, model, x_eval)
            print(f"step {step}: SupCon loss {loss.item():.3f}, saved {exporter.path(step)}")

    print("audit the checkpoints with:")
    print("  " + exporter.audit_command(within=["fine:coarse"]))


if __name__ == "__main__":
    main()
