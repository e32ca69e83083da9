#!/usr/bin/env python3
"""Writes PyTorch golden fixtures for the FeatureLens layers.

Run from the repository root with the project's virtualenv:

    /work/venv/bin/python Tools/golden/make_layer_golden.py

Each case builds a small PyTorch module in float32 on the CPU, runs forward on a random input,
backward with a random upstream gradient, and writes one JSON file to
Tests/FeatureLensTests/Fixtures/golden/layers/<name>.json with:

    layer          the layer type and its configuration (read by LayerTests.swift)
    training       forward mode
    input          {"shape", "data"} (row-major float32 values)
    parameters     state_dict entries before the step (trainable parameters), by PyTorch name
    buffers        state_dict buffers before the step (e.g. running_mean), by PyTorch name
    grad_output    upstream gradient dL/dy (for encoders: grad_embedding and grad_features)
    output         forward output (for encoders: features h and embedding z)
    grad_input     dL/dx
    parameter_grads  dL/dparameter, by name
    buffers_after  buffers after the forward (running statistics updated in training mode)

The Swift tests compare against these at 1e-4 relative (max |diff| / max |expected|).
"""
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "FeatureLensTests", "Fixtures", "golden", "layers")


def tensor_json(t):
    t = t.detach().to(torch.float32).contiguous()
    return {"shape": list(t.shape), "data": [float(v) for v in t.flatten().tolist()]}


def split_state(module):
    params = {k: tensor_json(v) for k, v in module.named_parameters()}
    buffers = {k: tensor_json(v) for k, v in module.named_buffers() if not k.endswith("num_batches_tracked")}
    return params, buffers


def write(name, case):
    case["generator"] = "Tools/golden/make_layer_golden.py"
    case["torch_version"] = torch.__version__
    path = os.path.join(OUT, name + ".json")
    with open(path, "w") as f:
        json.dump(case, f, separators=(",", ":"))
    print(f"wrote {os.path.normpath(path)} ({os.path.getsize(path)} bytes)")


def run_case(name, config, module, input_shape, training=True, input_fn=None, buffers_init=None):
    module.train(training)
    if buffers_init:
        buffers_init(module)
    x = torch.randn(*input_shape) if input_fn is None else input_fn(input_shape)
    params, buffers = split_state(module)
    x = x.clone().requires_grad_(True)
    y = module(x)
    gy = torch.randn_like(y)
    y.backward(gy)
    _, buffers_after = split_state(module)
    write(name, {
        "layer": config,
        "training": training,
        "input": tensor_json(x),
        "parameters": params,
        "buffers": buffers,
        "grad_output": tensor_json(gy),
        "output": tensor_json(y),
        "grad_input": tensor_json(x.grad),
        "parameter_grads": {k: tensor_json(p.grad) for k, p in module.named_parameters()},
        "buffers_after": buffers_after,
    })


class Fn(nn.Module):
    def __init__(self, f):
        super().__init__()
        self.f = f

    def forward(self, x):
        return self.f(x)


class Encoder(nn.Module):
    def __init__(self, backbone, head):
        super().__init__()
        self.backbone = backbone
        self.head = head


def encoder_case(name, config, backbone, head, input_shape, training=True):
    enc = Encoder(backbone, head)
    enc.train(training)
    params, buffers = split_state(enc)
    x = torch.randn(*input_shape).requires_grad_(True)
    h = enc.backbone(x)
    z = enc.head(h) if head is not None else h
    gz = torch.randn_like(z)
    gh = torch.randn_like(h)
    torch.autograd.backward([z, h], [gz, gh])
    _, buffers_after = split_state(enc)
    write(name, {
        "layer": config,
        "training": training,
        "input": tensor_json(x),
        "parameters": params,
        "buffers": buffers,
        "grad_embedding": tensor_json(gz),
        "grad_features": tensor_json(gh),
        "features": tensor_json(h),
        "embedding": tensor_json(z),
        "grad_input": tensor_json(x.grad),
        "parameter_grads": {k: tensor_json(p.grad) for k, p in enc.named_parameters()},
        "buffers_after": buffers_after,
    })


def projection_head(i, hdim, o, bn):
    if bn:
        return nn.Sequential(nn.Linear(i, hdim, bias=False), nn.BatchNorm1d(hdim), nn.ReLU(), nn.Linear(hdim, o))
    return nn.Sequential(nn.Linear(i, hdim), nn.ReLU(), nn.Linear(hdim, o))


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(20230523)

    run_case("linear_bias", {"type": "linear", "in": 5, "out": 4, "bias": True}, nn.Linear(5, 4), (3, 5))
    run_case("linear_nobias", {"type": "linear", "in": 7, "out": 3, "bias": False}, nn.Linear(7, 3, bias=False), (1, 7))
    run_case("relu", {"type": "relu"}, nn.ReLU(), (4, 6))
    run_case("mlp", {"type": "mlp", "widths": [6, 8, 5, 3], "bias": True},
             nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 5), nn.ReLU(), nn.Linear(5, 3)), (4, 6))
    run_case("l2normalize", {"type": "l2normalize", "epsilon": 1e-12}, Fn(lambda x: F.normalize(x, p=2, dim=1)), (5, 4))
    run_case("conv2d_s2p1", {"type": "conv2d", "in": 3, "out": 4, "kernel": [3, 3], "stride": [2, 2],
                             "padding": [1, 1], "bias": True},
             nn.Conv2d(3, 4, 3, stride=2, padding=1), (2, 3, 7, 6))
    run_case("conv2d_rect_nobias", {"type": "conv2d", "in": 2, "out": 3, "kernel": [2, 3], "stride": [1, 2],
                                    "padding": [0, 1], "bias": False},
             nn.Conv2d(2, 3, (2, 3), stride=(1, 2), padding=(0, 1), bias=False), (1, 2, 5, 5))
    run_case("maxpool2d", {"type": "maxpool2d", "kernel": [2, 2], "stride": [2, 2], "padding": [0, 0]},
             nn.MaxPool2d(2, 2), (2, 3, 5, 5))
    run_case("maxpool2d_pad", {"type": "maxpool2d", "kernel": [3, 3], "stride": [2, 2], "padding": [1, 1]},
             nn.MaxPool2d(3, 2, padding=1), (1, 2, 6, 7))
    run_case("global_avgpool", {"type": "global_avgpool"}, Fn(lambda x: x.mean(dim=(2, 3))), (2, 3, 4, 5))
    run_case("flatten", {"type": "flatten"}, nn.Flatten(), (2, 3, 2, 2))
    run_case("batchnorm1d_train", {"type": "batchnorm1d", "features": 3, "epsilon": 1e-5, "momentum": 0.1},
             nn.BatchNorm1d(3), (5, 3), input_fn=lambda s: 2.0 * torch.randn(*s) + 0.5)

    def random_running_stats(m):
        with torch.no_grad():
            m.running_mean.copy_(torch.randn(3))
            m.running_var.copy_(torch.rand(3) + 0.5)
            m.weight.copy_(torch.rand(3) + 0.5)
            m.bias.copy_(torch.randn(3))

    run_case("batchnorm1d_eval", {"type": "batchnorm1d", "features": 3, "epsilon": 1e-5, "momentum": 0.1},
             nn.BatchNorm1d(3), (4, 3), training=False, buffers_init=random_running_stats)
    run_case("projection_head_bn", {"type": "projection_head", "in": 6, "hidden": 8, "out": 4, "batchnorm": True},
             projection_head(6, 8, 4, True), (5, 6))
    run_case("projection_head", {"type": "projection_head", "in": 6, "hidden": 8, "out": 4, "batchnorm": False},
             projection_head(6, 8, 4, False), (3, 6))

    backbone = nn.Sequential(nn.Conv2d(1, 4, 3, 2, 1), nn.ReLU(), nn.Conv2d(4, 8, 3, 2, 1), nn.ReLU(),
                             nn.Conv2d(8, 8, 3, 2, 1), nn.ReLU(), nn.Flatten())
    encoder_case("encoder_conv_head", {"type": "encoder_conv", "channels": [1, 4, 8, 8], "image": [12, 12],
                                       "head": {"in": 32, "hidden": 16, "out": 8, "batchnorm": True}},
                 backbone, projection_head(32, 16, 8, True), (3, 1, 12, 12))
    encoder_case("encoder_mlp_nohead", {"type": "encoder_mlp", "widths": [5, 7, 4], "head": None},
                 nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 4)), None, (3, 5))


if __name__ == "__main__":
    main()
