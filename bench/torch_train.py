#!/usr/bin/python3
"""PyTorch's side of `bench/train.ts`: training throughput in PyTorch, the same model, batch, input,
thread count and optimiser as `convlab bench train`.

Run with Debian's /usr/bin/python3 (python3-torch 1.13, python3-torchvision 0.14):

    /usr/bin/python3 bench/torch_train.py resnet18 --batch 64 --input 3x32x32 [--threads 2] [--json]
    /usr/bin/python3 bench/torch_train.py resnet20 --batch 128 --input 3x32x32 [--tuned-malloc]

With --serve it times on request instead, so that bench/train.ts can interleave PyTorch's steps with
convlab's: it prints "ready", then for each line K read from stdin runs K steps and prints their
times in milliseconds as one JSON list; an empty line or end of input stops it.

One step is what a PyTorch training loop does per batch: zero the gradients, forward in train mode,
cross-entropy, backward, SGD(momentum 0.9, weight decay 5e-4) step. The input is a fixed seeded
random batch with fixed labels; the learning rate is 0, as in convlab's bench (the weights then stay
put, so no step drifts into overflow or denormals; PyTorch computes every operation regardless).

Models: any torchvision constructor by name (its default 1000 classes unless --classes), the CIFAR
ResNets of He et al. 2015, section 4.2 (resnet20/32/44/56/110), written here as convlab's zoo builds
them (src/zoo/resnet_cifar.ts): 3x3 conv to 16 channels, three stages of n basic blocks at 16/32/64
channels, option-A shortcuts (subsample, then zero channels before and after), global average
pooling, a linear classifier; 10 classes; or, for any other model (densenet_bc_100_k12, wrn28_10, ...),
`--module DIR/model.py`: convlab's own PyTorch export of it (`convlab export MODEL --format pytorch`),
whose build() makes the same graph with convlab's names.
"""
import argparse
import json
import os
import sys

# --tuned-malloc: glibc's mmap and trim thresholds raised (set before the process starts, so this
# script re-executes itself once with them), the second PyTorch peer of bench/train.ts: PyTorch's
# step allocates and frees its activations each step, and this VM charges ~12 us for every fresh
# 4 KiB page, so keeping freed memory in the heap makes PyTorch markedly faster here.
TUNED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "68719476736"}
if "--tuned-malloc" in sys.argv and any(os.environ.get(k) != v for k, v in TUNED_MALLOC.items()):
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **TUNED_MALLOC})

import importlib.util

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from torch_peer import serve, timed, time_runs, torchvision_model

CIFAR_DEPTHS = {"resnet20": 3, "resnet32": 5, "resnet44": 7, "resnet56": 9, "resnet110": 18}


class BasicBlock(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.stride = stride
        self.extra = planes - inplanes

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1 and self.extra == 0:
            return x
        x = x[:, :, :: self.stride, :: self.stride]
        before = self.extra // 2
        return F.pad(x, (0, 0, 0, 0, before, self.extra - before))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, n: int, channels: int, classes: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers = []
        inplanes = 16
        for stage, planes in enumerate((16, 32, 64)):
            blocks = []
            for i in range(n):
                blocks.append(BasicBlock(inplanes, planes, 2 if i == 0 and stage > 0 else 1))
                inplanes = planes
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.fc = nn.Linear(64, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def exported(path: str) -> nn.Module:
    """build() of a model.py written by convlab's PyTorch export."""
    spec = importlib.util.spec_from_file_location("convlab_export", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build()


def build(name: str, channels: int, classes: int | None, module: str | None) -> nn.Module:
    if name in CIFAR_DEPTHS:
        return CifarResNet(CIFAR_DEPTHS[name], channels, classes or 10)
    if module and not callable(torchvision.models.__dict__.get(name)):
        return exported(module)
    kwargs = {"num_classes": classes} if classes else {}
    return torchvision_model(name, "torch_train.py", **kwargs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--input", default="3x32x32", help="C x H x W")
    p.add_argument("--classes", type=int)
    p.add_argument("--module", help="convlab's PyTorch export (model.py) of a model torchvision lacks")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--runs", type=int)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.add_argument("--serve", action="store_true", help="time K steps per line K read from stdin")
    p.add_argument("--tuned-malloc", action="store_true", help="raise glibc's mmap/trim thresholds")
    a = p.parse_args()

    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    channels, height, width = (int(d) for d in a.input.split("x"))
    model = build(a.model, channels, a.classes, a.module).train()
    x = torch.randn(a.batch, channels, height, width)
    with torch.no_grad():
        probe = model(x[:2])
    classes = (probe[0] if isinstance(probe, tuple) else probe).shape[-1]
    y = torch.arange(a.batch) * 7919 % classes
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9, weight_decay=5e-4)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        out = model(x)
        if isinstance(out, tuple):  # googlenet / inception_v3 in train mode: (main, aux...)
            loss = F.cross_entropy(out[0], y) + sum(0.3 * F.cross_entropy(o, y) for o in out[1:] if o is not None)
        else:
            loss = F.cross_entropy(out, y)
        loss.backward()
        optimizer.step()

    if a.serve:
        timed(step, a.warmup)
        serve(step)
        return
    timing = time_runs(step, a.warmup, a.runs, a.seconds)
    median = timing["median"]
    result = {
        "model": a.model,
        "batch": a.batch,
        "input": [channels, height, width],
        "engine": f"pytorch {torch.__version__}",
        "threads": torch.get_num_threads(),
        "imagesPerSec": a.batch / (median / 1000),
        "ms": {k: timing[k] for k in ("median", "min", "max")},
        "runs": timing["runs"],
    }
    if a.json:
        print(json.dumps(result))
    else:
        print(f"{a.model} batch {a.batch} {a.input}, PyTorch {torch.__version__} training, {result['threads']} threads: "
              f"{result['imagesPerSec']:.1f} images/s (median {median:.1f} ms over {timing['runs']} steps)")


if __name__ == "__main__":
    main()
