#!/usr/bin/python3
"""Parity fixtures: seeded weights, a seeded input and PyTorch's eval-mode logits per model.

Run with Debian's /usr/bin/python3 (torch 1.13, torchvision 0.14). test/onnx/parity.test.ts runs it into
a temporary directory (the files are too big to commit: resnet50's weights alone are ~100 MB):

    /usr/bin/python3 tools/parity_fixtures.py OUTDIR [--models resnet18,xception] [--threads 2]

writes, per model, OUTDIR/MODEL/{weights,input,output}.safetensors (input: `input` [2,3,H,W];
output: `logits` [2,classes]) and OUTDIR/manifest.json with each model's input shape.

Eval-mode BatchNorm would be the identity at torchvision's init (running mean 0, var 1, gamma 1,
beta 0), so a test could pass with BN lowered wrongly. Each BN therefore gets a random affine and
running statistics measured on a separate seeded image (which keeps activations well scaled through
50+ layers; perturbing them instead compounds, to logits in the hundreds on Inception v3). The
statistics of one other image are not those of the test batch, so batch-statistics BN would fail.
"""

import argparse
import json
import os
import sys
import time

import torch
import torchvision

sys.dont_write_bytecode = True  # no __pycache__ left in tools/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models  # noqa: E402
from torch_to_safetensors import write_safetensors  # noqa: E402

tv = torchvision.models

MODELS = {
    "resnet18": (lambda: tv.resnet18(), 224),
    "resnet50": (lambda: tv.resnet50(), 224),
    # PyTorch's default init: torchvision's truncated-normal loop costs seconds and tests nothing more.
    "googlenet": (lambda: tv.googlenet(aux_logits=False, init_weights=False), 224),
    "inception_v3": (lambda: tv.inception_v3(aux_logits=False, init_weights=False), 299),
    "densenet121": (lambda: tv.densenet121(), 224),
    "mobilenet_v2": (lambda: tv.mobilenet_v2(), 224),
    "shufflenet_v2_x1_0": (lambda: tv.shufflenet_v2_x1_0(), 224),
    "resnext50_32x4d": (lambda: tv.resnext50_32x4d(), 224),
    "wide_resnet50_2": (lambda: tv.wide_resnet50_2(), 224),
    "se_resnet50": (lambda: torch_models.se_resnet50(), 224),
    "xception": (lambda: torch_models.xception(), 299),
}

BATCH = 2


def randomise_batchnorm(model, size):
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for bn in bns:
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_(0, 0.2)
            bn.reset_running_stats()
            bn.momentum, bn.saved_momentum = None, bn.momentum  # None: the plain average of what it sees
        model.train()
        model(torch.randn(1, 3, size, size))
        for bn in bns:
            bn.momentum = bn.saved_momentum
            del bn.saved_momentum


def fixture(name, out_dir, seed):
    make, size = MODELS[name]
    torch.manual_seed(seed)
    model = make()
    randomise_batchnorm(model, size)
    model.eval()
    x = torch.randn(BATCH, 3, size, size)
    with torch.no_grad():
        logits = model(x)
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    write_safetensors(os.path.join(d, "weights.safetensors"), model.state_dict(), {"model": name, "seed": seed})
    write_safetensors(os.path.join(d, "input.safetensors"), {"input": x})
    write_safetensors(os.path.join(d, "output.safetensors"), {"logits": logits})
    return {"input": [3, size, size], "batch": BATCH, "maxAbsLogit": logits.abs().max().item()}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out_dir")
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated; default: all")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    names = [n for n in args.models.split(",") if n]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise SystemExit(f"unknown parity model(s) {', '.join(unknown)}; known: {', '.join(MODELS)}")
    torch.set_num_threads(args.threads)
    os.makedirs(args.out_dir, exist_ok=True)
    manifest = {"torch": torch.__version__, "torchvision": torchvision.__version__, "models": {}}
    for name in names:
        start = time.time()
        manifest["models"][name] = fixture(name, args.out_dir, args.seed)
        print(f"{name}: {time.time() - start:.1f}s", file=sys.stderr)
    with open(os.path.join(args.out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)


if __name__ == "__main__":
    main()
