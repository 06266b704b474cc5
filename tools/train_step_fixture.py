#!/usr/bin/python3
"""One SGD training step in PyTorch, the reference for convlab's training graph (test fixture).

Run with Debian's /usr/bin/python3 (torch 1.13, torchvision 0.14); convlab itself never needs it.

  /usr/bin/python3 tools/train_step_fixture.py MODEL --classes K --state S.safetensors \
      --batch B.safetensors --out OUT.safetensors [--lr 0.1 --momentum 0.9 --weight-decay 5e-4] \
      [--module model.py] [--double]

S holds the model's state_dict as convlab initialised it; B holds `input` (float32 NCHW) and
`labels` (int64). The model runs in training mode (batch statistics, running statistics updated),
takes one torch.optim.SGD step on CrossEntropyLoss, and OUT receives `loss` and the state_dict after
the step.
"""
import argparse
import importlib.util
import json
import os
import struct
import sys

import torch

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_to_safetensors import build_model, write_safetensors  # noqa: E402

DTYPES = {"F32": torch.float32, "I64": torch.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    body = data[8 + length :]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = bytearray(body[begin:end])
        tensors[name] = torch.frombuffer(raw, dtype=DTYPES[info["dtype"]]).reshape(info["shape"]).clone()
    return tensors


def exported(path):
    """build() of a model.py written by `convlab export MODEL --format pytorch`."""
    spec = importlib.util.spec_from_file_location("convlab_export", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--classes", type=int, default=1000)
    p.add_argument("--state", required=True)
    p.add_argument("--batch", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument(
        "--module",
        help="build the model from convlab's PyTorch export of it (model.py) rather than by name: the zoo's exact graph",
    )
    p.add_argument(
        "--double",
        action="store_true",
        help="compute in float64: the exact step, so a float32 result is judged by its own rounding error",
    )
    a = p.parse_args()
    torch.set_num_threads(2)
    model = exported(a.module) if a.module else build_model(a.model, num_classes=a.classes, aux=False)
    model.load_state_dict(read_safetensors(a.state), strict=True)
    model.train()
    batch = read_safetensors(a.batch)
    if a.double:
        model.double()
        batch["input"] = batch["input"].double()
    optimizer = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum, weight_decay=a.weight_decay)
    loss = torch.nn.functional.cross_entropy(model(batch["input"]), batch["labels"])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    out = {"loss": loss.detach().reshape(1).float()}
    out.update({k: v.float() if v.is_floating_point() else v for k, v in model.state_dict().items()})
    write_safetensors(a.out, out)


if __name__ == "__main__":
    main()
