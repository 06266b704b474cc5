#!/usr/bin/python3
"""PyTorch's side of `bench/infer.ts`: inference throughput of a torchvision model in PyTorch
(eval mode, no autograd, the same batch and thread count as convlab), and optionally the same
model exported by torch.onnx.export, for onnxruntime to run (bench/ort_peer.ts).

Run with Debian's /usr/bin/python3 (python3-torch 1.13, python3-torchvision 0.14):

    /usr/bin/python3 bench/torch_infer.py resnet50 --batch 8 [--threads 2] [--export /tmp/r50.onnx] [--json]

With --serve it times on request instead, so that bench/infer.ts can interleave PyTorch's runs with
onnxruntime's: it prints "ready", then for each line K read from stdin runs K batches and prints
their times in milliseconds as one JSON list; an empty line or end of input stops it.

Weights are a seeded random initialisation: speed does not depend on their values.
"""
import argparse
import json
import os
import warnings

import torch

from torch_peer import serve, timed, time_runs, torchvision_model


def build(name: str) -> torch.nn.Module:
    return torchvision_model(name, "torch_infer.py").eval()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--input", default="3x224x224", help="C x H x W")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--runs", type=int)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--export", help="also write torch.onnx.export's ONNX (opset 17, symbolic batch) here")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.add_argument("--serve", action="store_true", help="time K batches per line K read from stdin")
    a = p.parse_args()

    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    shape = [a.batch, *(int(d) for d in a.input.split("x"))]
    model = build(a.model)
    x = torch.randn(*shape)

    if a.export:
        # What a PyTorch user ships: eval mode, constant folding (BatchNorm folded into Conv).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model, x[:1], a.export, opset_version=17, do_constant_folding=True,
                input_names=["input"], output_names=["output"],
                dynamic_axes={"input": {0: "N"}, "output": {0: "N"}},
            )

    if a.serve:
        with torch.inference_mode():
            timed(lambda: model(x), a.warmup)
            serve(lambda: model(x))
        return

    with torch.inference_mode():
        timing = time_runs(lambda: model(x), a.warmup, a.runs, a.seconds)
    result = {
        "model": a.model,
        "batch": a.batch,
        "engine": f"pytorch {torch.__version__}",
        "threads": torch.get_num_threads(),
        "imagesPerSec": a.batch / (timing["median"] / 1000),
        "ms": {k: timing[k] for k in ("median", "min", "max")},
        "runs": timing["runs"],
        "export": a.export,
    }
    if a.json:
        print(json.dumps(result))
    else:
        print(f"{a.model} batch {a.batch}, PyTorch {torch.__version__}, {result['threads']} threads: "
              f"{result['imagesPerSec']:.1f} images/s (median {timing['median']:.1f} ms over {timing['runs']} runs)")


if __name__ == "__main__":
    main()
