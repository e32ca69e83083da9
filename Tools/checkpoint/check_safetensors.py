#!/usr/bin/env python3
"""Loads a FeatureLens checkpoint with the Python `safetensors` library and PyTorch and checks it.

Not run in CI (the Swift tests never need Python). Run:

    /work/venv/bin/python Tools/checkpoint/check_safetensors.py [CHECKPOINT [PROBE]]

Defaults: Tests/FeatureLensTests/Fixtures/checkpoint/mlp_adam.safetensors and its probe file
(both written by CheckpointFixtureTests; regenerate with
`FEATURELENS_WRITE_CHECKPOINT_FIXTURE=1 swift test --filter CheckpointFixtureTests`).

Checks, for any checkpoint:
  1. `safetensors.torch.load_file` and `safe_open` read it; metadata has the FeatureLens fields.
  2. Re-serializing the tensors and metadata with the reference writer gives the same header
     length, tensor order, offsets and data bytes (metadata key order aside, which the
     reference leaves to a hash map): FeatureLens writes the reference layout.
  3. Every model parameter has its optimizer state of the same shape and dtype; generator
     states are U64 [4] and not all zero; config is JSON; all float values are finite.
With the probe file (the fixture's architecture: bias-free MLP 4→8→6, BN projection head 6→8→3):
  4. The tensors load into the equivalent torch.nn modules (`load_state_dict`, strict except
     for BatchNorm's `num_batches_tracked`, which FeatureLens does not keep) and the eval-mode
     embedding matches FeatureLens's.
  5. torch.optim.Adam, given the checkpoint's exp_avg / exp_avg_sq / step, takes one more step
     (training-mode forward, loss sum(z * r)) and lands on FeatureLens's parameters and
     BatchNorm running statistics: a FeatureLens run resumes identically in PyTorch.
"""
import json
import os
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "../../Tests/FeatureLensTests/Fixtures/checkpoint")
TOL = 1e-5


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def split(blob):
    """(header length, tensor entries in order, metadata as a dict, data buffer) of a safetensors blob."""
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + n], object_pairs_hook=lambda pairs: pairs)
    entries = {k: v for k, v in header if k != "__metadata__"}
    metadata = dict(next((v for k, v in header if k == "__metadata__"), []))
    return n, {k: dict(v) for k, v in entries.items()}, metadata, blob[8 + n:]


def check_structure(path):
    tensors = load_file(path)
    with safe_open(path, framework="pt") as f:
        metadata = f.metadata() or {}
    for key in ["format", "format_version", "step", "epoch", "config"]:
        if key not in metadata:
            fail(f"metadata field {key} missing")
    if metadata["format"] != "featurelens.checkpoint" or metadata["format_version"] != "1":
        fail(f"format {metadata['format']} version {metadata['format_version']}")
    json.loads(metadata["config"])
    with open(path, "rb") as fh:
        original = fh.read()
    mine, ref = split(original), split(save(tensors, metadata=metadata))
    # The reference keeps metadata in a hash map (its key order varies); everything else,
    # including the tensor order, offsets, padding and data bytes, must be identical.
    if mine[0] != ref[0] or list(mine[1].items()) != list(ref[1].items()) or mine[2] != ref[2] or mine[3] != ref[3]:
        fail("re-serializing with the reference writer gives a different layout")
    params = [n for n in tensors if not n.startswith(("optimizer.", "rng."))]
    for n, t in tensors.items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            fail(f"{n} has non-finite values")
        if n.startswith("rng."):
            if t.dtype != torch.uint64 or list(t.shape) != [4] or not t.view(torch.int64).ne(0).any():
                fail(f"{n}: expected a non-zero U64 [4] state, got {t.dtype} {list(t.shape)}")
    if "optimizer.kind" in metadata:
        names = json.loads(metadata["optimizer.parameters"])
        keys = {"adam": ["exp_avg", "exp_avg_sq"], "adamw": ["exp_avg", "exp_avg_sq"], "sgd": []}[metadata["optimizer.kind"]]
        for n in names:
            if n not in tensors:
                fail(f"optimizer parameter {n} is not a tensor of the checkpoint")
            for k in keys:
                s = tensors.get(f"optimizer.{n}.{k}")
                if s is None or s.shape != tensors[n].shape or s.dtype != tensors[n].dtype:
                    fail(f"optimizer.{n}.{k} missing or not shaped like {n}")
    print(f"ok: {path}: {len(tensors)} tensors ({len(params)} model tensors), metadata {sorted(metadata)}; "
          "same layout and bytes as the reference writer")
    return tensors, metadata


class Net(torch.nn.Module):
    """The fixture's encoder in PyTorch: names match FeatureLens's (backbone.0.weight, head.1.running_mean, ...)."""

    def __init__(self):
        super().__init__()
        self.backbone = torch.nn.Sequential(torch.nn.Linear(4, 8, bias=False), torch.nn.ReLU(),
                                            torch.nn.Linear(8, 6, bias=False))
        self.head = torch.nn.Sequential(torch.nn.Linear(6, 8, bias=False), torch.nn.BatchNorm1d(8), torch.nn.ReLU(),
                                        torch.nn.Linear(8, 3))

    def forward(self, x):
        return self.head(self.backbone(x))


def check_against_torch(tensors, metadata, probe_path):
    probe = load_file(probe_path)
    net = Net()
    state = {n: t for n, t in tensors.items() if not n.startswith(("optimizer.", "rng."))}
    result = net.load_state_dict(state, strict=False)
    if result.unexpected_keys or any(not k.endswith("num_batches_tracked") for k in result.missing_keys):
        fail(f"state_dict mismatch: {result}")
    net.eval()
    with torch.no_grad():
        z = net(probe["x"])
    err = (z - probe["z_eval"]).abs().max().item()
    if err > TOL:
        fail(f"eval embedding differs from FeatureLens by {err}")
    print(f"ok: load_state_dict into torch.nn modules; eval embedding max |diff| = {err:.2e}")

    if metadata.get("optimizer.kind") != "adam":
        return
    lr = float(metadata["optimizer.learning_rate"])
    step = int(metadata["optimizer.step_count"])
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    named = dict(net.named_parameters())
    for n, p in named.items():
        opt.state[p] = {"step": torch.tensor(float(step)),
                        "exp_avg": tensors[f"optimizer.{n}.exp_avg"].clone(),
                        "exp_avg_sq": tensors[f"optimizer.{n}.exp_avg_sq"].clone()}
    net.train()
    opt.zero_grad()
    (net(probe["x"]) * probe["r"]).sum().backward()
    opt.step()
    worst = 0.0
    for n, t in list(named.items()) + [(n, b) for n, b in net.named_buffers() if not n.endswith("num_batches_tracked")]:
        d = (t.detach() - probe["after." + n]).abs().max().item()
        worst = max(worst, d)
        if d > TOL:
            fail(f"{n} after one resumed Adam step differs from FeatureLens by {d}")
    print(f"ok: torch.optim.Adam resumed from the checkpoint matches FeatureLens's next step "
          f"(parameters and running statistics, max |diff| = {worst:.2e})")


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(FIXTURES, "mlp_adam.safetensors")
    probe = sys.argv[2] if len(sys.argv) > 2 else (
        os.path.join(FIXTURES, "mlp_adam_probe.safetensors") if len(sys.argv) <= 1 else None)
    tensors, metadata = check_structure(path)
    if probe:
        check_against_torch(tensors, metadata, probe)


if __name__ == "__main__":
    main()
