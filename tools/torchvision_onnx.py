#!/usr/bin/python3
"""Fixture generator for the ONNX importer (test/import/): torchvision 0.14 classification models
exported by Debian's PyTorch 1.13 with torch.onnx.export, as users export them.

Never needed at run time. The tests run it into a cache directory (not committed: the files are
large) and read what it wrote. Run with Debian's /usr/bin/python3 (torch 1.13, torchvision 0.14).

Usage:
    /usr/bin/python3 tools/torchvision_onnx.py OUT_DIR [--models a,b,...] [--opsets 13,17]
                     [--forms eval,bn] [--symbolic-spatial] [--size S]

For every model (built with weights=None, a fixed seed, eval mode; googlenet and inception_v3
with aux_logits=False and transform_input=False, so the file and the module hold the same layers)
it writes, per opset and form:
    OUT_DIR/<model>.op<opset>.<form>.onnx
        form 'eval': torch.onnx.export defaults (TrainingMode.EVAL, constant folding), so the
                     exporter folds BatchNorm into the convolutions' weights and biases;
        form 'bn':   TrainingMode.PRESERVE and do_constant_folding=False: BatchNorm kept, and the
                     Shape/Gather/Unsqueeze/Concat chains the tracer records left unfolded.
    The batch axis is the symbolic 'N' (dynamic_axes); --symbolic-spatial makes H and W symbolic too.
    --size S exports at 3xSxS instead of the model's standard input (small, fast fine-tune fixtures).
and once per model OUT_DIR/<model>.json:
    input    [3, H, W]
    params   sum of numel over model.parameters() (torchvision's count)
    bn_channels  channels of all BatchNorm2d layers: folding one into the bias-free conv before it
             removes its weight and bias and gives the conv a bias, so the eval export holds
             params - bn_channels
    macs     conv + linear multiply-accumulates at batch 1 counted by forward hooks:
             conv = out.numel() * (in_channels / groups) * kh * kw; linear = out.numel() * in_features
    modules  names of the nn.Conv2d / nn.Linear modules in execution order
    held     per "<opset>.<form>": the parameters the file holds (held_params)
"""

import argparse
import json
import os
import sys

import torch
import torch.nn as nn
import torchvision

FAMILIES = [
    "alexnet", "vgg11", "vgg16_bn", "resnet18", "resnet50", "resnext50_32x4d", "wide_resnet50_2",
    "squeezenet1_0", "squeezenet1_1", "densenet121", "googlenet", "inception_v3",
    "mnasnet0_5", "mnasnet1_0", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large",
    "shufflenet_v2_x0_5", "shufflenet_v2_x1_0",
    "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3", "efficientnet_b4",
    "efficientnet_b5", "efficientnet_b6", "efficientnet_b7",
    "efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l",
    "regnet_x_400mf", "regnet_y_400mf", "regnet_x_1_6gf", "regnet_y_1_6gf",
    "convnext_tiny", "convnext_small",
]

INPUT = {"inception_v3": 299}


def build(name):
    torch.manual_seed(0)
    kwargs = {"weights": None}
    if name in ("googlenet", "inception_v3"):
        kwargs.update(aux_logits=False, transform_input=False, init_weights=True)
    model = getattr(torchvision.models, name)(**kwargs).eval()
    # Untrained BatchNorm statistics are 0 and 1; give them values so folding them is visible.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model


def count_macs(model, x):
    macs = []
    names = []

    def hook(module, inputs, output, name):
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            macs.append(output.numel() * (module.in_channels // module.groups) * kh * kw)
        else:
            macs.append(output.numel() * module.in_features)
        names.append(name)

    handles = [
        m.register_forward_hook(lambda mod, i, o, n=n: hook(mod, i, o, n))
        for n, m in model.named_modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return sum(macs), names


def export(model, x, path, opset, form, symbolic_spatial):
    axes = {0: "N", 2: "H", 3: "W"} if symbolic_spatial else {0: "N"}
    kwargs = dict(
        opset_version=opset,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": axes, "logits": {0: "N"}},
    )
    if form == "bn":
        kwargs.update(training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    torch.onnx.export(model, x, path, **kwargs)


def held_params(path):
    """What a file holds as parameters: each use by a node (through Identity) of a float initializer
    of more than one value, except BatchNormalization's running statistics (inputs 3 and 4)."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(path)
    sizes = {
        t.name: numpy_helper.to_array(t).size
        for t in m.graph.initializer
        if t.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE)
    }
    alias = {n.output[0]: n.input[0] for n in m.graph.node if n.op_type == "Identity"}
    total = 0
    for n in m.graph.node:
        if n.op_type == "Identity":
            continue
        for i, name in enumerate(n.input):
            while name in alias:
                name = alias[name]
            if name in sizes and sizes[name] > 1 and not (n.op_type == "BatchNormalization" and i >= 3):
                total += sizes[name]
    return total


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--models", default=",".join(FAMILIES))
    p.add_argument("--opsets", default="13,17")
    p.add_argument("--forms", default="eval,bn")
    p.add_argument("--symbolic-spatial", action="store_true")
    p.add_argument("--size", type=int)
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(1)
    for name in a.models.split(","):
        model = build(name)
        size = a.size or INPUT.get(name, 224)
        x = torch.randn(1, 3, size, size)
        macs, modules = count_macs(model, x)
        info = {
            "model": name,
            "input": [3, size, size],
            "params": sum(t.numel() for t in model.parameters()),
            "bn_channels": sum(m.num_features for m in model.modules() if isinstance(m, nn.BatchNorm2d)),
            "macs": macs,
            "modules": modules,
        }
        info["held"] = {}
        for opset in [int(o) for o in a.opsets.split(",")]:
            for form in a.forms.split(","):
                path = os.path.join(a.out, f"{name}.op{opset}.{form}.onnx")
                export(model, x, path, opset, form, a.symbolic_spatial)
                info["held"][f"{opset}.{form}"] = held_params(path)
        with open(os.path.join(a.out, f"{name}.json"), "w") as f:
            json.dump(info, f)
        print(f"{name}: params {info['params']} macs {macs}", file=sys.stderr)


if __name__ == "__main__":
    main()
