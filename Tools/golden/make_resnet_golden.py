#!/usr/bin/env python3
"""Writes PyTorch golden fixtures for BatchNorm2D, the residual BasicBlock and ResNet-18.

Run from the repository root with a Python that has PyTorch:

    python Tools/golden/make_resnet_golden.py

Layer cases (batchnorm2d_*, basic_block_*) use the format of make_layer_golden.py (see its
docstring) and are read by LayerGoldenTests in LayerTests.swift. The whole-network case
resnet18_step.json is read by ResNetTests.swift and holds one training step of the reference
encoder below (ResNet-18 at width w = 2, 3×16×16 images, projection head with BatchNorm1d):

    input, target        x [N, C, H, W] and a target t for z
    parameters, buffers  state_dict before the step, by name ("backbone.conv1.weight", …)
    features, embedding  h and z of the first forward (training mode)
    loss                 L = mean((z − t)²)
    parameter_grads      dL/dθ of that forward
    buffers_after        running statistics after the first forward
    sgd                  learning rate and momentum of one torch.optim.SGD step
    embedding_after_step, loss_after_step   z and L of a second training-mode forward after the step
    buffers_after_step   running statistics after the second forward
    eval_embedding       z in evaluation mode after that (running statistics)

Values are float32 written in their shortest round-trip decimal form.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_layer_golden as base  # noqa: E402
from make_layer_golden import Encoder, projection_head, run_case  # noqa: E402



def write(name, case):
    """As make_layer_golden.write, naming this script as the generator."""
    case["generator"] = "Tools/golden/make_resnet_golden.py"
    case["torch_version"] = torch.__version__
    path = os.path.join(base.OUT, name + ".json")
    with open(path, "w") as f:
        json.dump(case, f, separators=(",", ":"))
    print(f"wrote {os.path.normpath(path)} ({os.path.getsize(path)} bytes)")


# run_case looks write up in its module when it runs.
base.write = write


# The benchmark's ResNet-18 (Benchmarks/pytorch_conv_bench.py): the fixtures and the speed
# comparison use one model definition. ResNet18(in_channels, w) without a dense layer is the
# backbone; BasicBlock(cin, cout, stride) the residual block.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Benchmarks"))
from pytorch_conv_bench import resnet18_classes  # noqa: E402

BasicBlock, ResNet18 = resnet18_classes(nn, F)


def compact_json(t):
    """float32 values in shortest round-trip form (str of np.float32), to keep the fixture small."""
    t = t.detach().to(torch.float32).contiguous()
    return {"shape": list(t.shape), "data": [float(str(v)) for v in t.flatten().numpy().astype(np.float32)]}


def state(module):
    params = {k: compact_json(v) for k, v in module.named_parameters()}
    buffers = {k: compact_json(v) for k, v in module.named_buffers() if not k.endswith("num_batches_tracked")}
    return params, buffers


def randomize_batchnorm(module):
    """Random γ, β and running statistics in every BatchNorm2d, so none sits at its default."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(torch.rand(c) + 0.5)
                m.bias.copy_(0.5 * torch.randn(c))
                m.running_mean.copy_(torch.randn(c))
                m.running_var.copy_(torch.rand(c) + 0.5)


def resnet18_step():
    w, n, c, hw = 2, 2, 3, 16
    head_spec = {"in": 8 * w, "hidden": 8, "out": 4, "batchnorm": True}
    enc = Encoder(ResNet18(c, w), projection_head(16, 8, 4, True))
    enc.train(True)
    assert sum(p.numel() for p in ResNet18(3, 64).parameters()) == 11_168_832
    params, buffers = state(enc)
    x = torch.randn(n, c, hw, hw)
    t = torch.randn(n, 4)
    h = enc.backbone(x)
    z = enc.head(h)
    loss = ((z - t) ** 2).mean()
    loss.backward()
    _, buffers_after = state(enc)
    grads = {k: compact_json(p.grad) for k, p in enc.named_parameters()}
    lr, momentum = 0.05, 0.9
    opt = torch.optim.SGD(enc.parameters(), lr=lr, momentum=momentum)
    opt.step()
    with torch.no_grad():
        z2 = enc.head(enc.backbone(x))
        loss2 = ((z2 - t) ** 2).mean()
        _, buffers_after_step = state(enc)
        enc.eval()
        z_eval = enc.head(enc.backbone(x))
    write("resnet18_step", {
        "layer": {"type": "resnet18", "input_channels": c, "height": hw, "width": hw, "base_width": w,
                  "head": head_spec},
        "input": compact_json(x),
        "target": compact_json(t),
        "parameters": params,
        "buffers": buffers,
        "features": compact_json(h),
        "embedding": compact_json(z),
        "loss": float(loss.detach()),
        "parameter_grads": grads,
        "buffers_after": buffers_after,
        "sgd": {"learning_rate": lr, "momentum": momentum},
        "embedding_after_step": compact_json(z2),
        "loss_after_step": float(loss2),
        "buffers_after_step": buffers_after_step,
        "eval_embedding": compact_json(z_eval),
    })


def main():
    torch.manual_seed(20261205)
    bn_config = {"type": "batchnorm2d", "channels": 3, "epsilon": 1e-5, "momentum": 0.1}
    run_case("batchnorm2d_train", bn_config, nn.BatchNorm2d(3), (4, 3, 5, 6), buffers_init=randomize_batchnorm,
             input_fn=lambda s: 2.0 * torch.randn(*s) + 0.5)
    run_case("batchnorm2d_eval", bn_config, nn.BatchNorm2d(3), (2, 3, 4, 3), training=False,
             buffers_init=randomize_batchnorm)
    run_case("batchnorm2d_momentum", {"type": "batchnorm2d", "channels": 2, "epsilon": 1e-3, "momentum": 0.3},
             nn.BatchNorm2d(2, eps=1e-3, momentum=0.3), (1, 2, 3, 4), buffers_init=randomize_batchnorm)
    run_case("basic_block_identity", {"type": "basic_block", "in": 4, "out": 4, "stride": 1},
             BasicBlock(4, 4, 1), (2, 4, 6, 5), buffers_init=randomize_batchnorm)
    run_case("basic_block_projection", {"type": "basic_block", "in": 3, "out": 5, "stride": 2},
             BasicBlock(3, 5, 2), (3, 3, 7, 6), buffers_init=randomize_batchnorm)
    run_case("basic_block_eval", {"type": "basic_block", "in": 2, "out": 4, "stride": 2},
             BasicBlock(2, 4, 2), (2, 2, 5, 5), training=False, buffers_init=randomize_batchnorm)
    resnet18_step()


if __name__ == "__main__":
    main()
