"""What bench/torch_infer.py and bench/torch_train.py share: building a torchvision model by name,
timing a function, and the --serve loop that lets a TypeScript bench (bench/turns.ts) interleave
PyTorch's runs with convlab's.
"""
import json
import statistics
import sys
import time
import warnings

import torch
import torchvision


def torchvision_model(name: str, script: str, **kwargs) -> torch.nn.Module:
    constructor = torchvision.models.__dict__.get(name)
    if constructor is None or not callable(constructor):
        sys.exit(f"{script}: torchvision has no model '{name}'")
    kwargs["weights"] = None
    # Without pretrained weights these models warn that their default init is slow; it is not timed.
    if name in ("googlenet", "inception_v3"):
        kwargs["init_weights"] = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return constructor(**kwargs)


def timed(run, count: int) -> list:
    """Milliseconds of each of `count` calls."""
    times = []
    for _ in range(count):
        t = time.perf_counter()
        run()
        times.append((time.perf_counter() - t) * 1000)
    return times


def time_runs(run, warmup: int, runs, seconds: float) -> dict:
    """Warm up, then time `runs` calls (default: enough for `seconds`, 10 to 200)."""
    warm = timed(run, warmup)
    estimate = statistics.median(warm) / 1000 if warm else 1.0
    n = runs if runs is not None else min(200, max(10, int(seconds / estimate + 0.999)))
    times = timed(run, n)
    return {"median": statistics.median(times), "min": min(times), "max": max(times), "runs": n}


def serve(run) -> None:
    """Print "ready"; then for each line K on stdin, time K calls and print their milliseconds as
    one JSON list; an empty line or the end of input stops."""
    print("ready", flush=True)
    for line in sys.stdin:
        if not line.strip():
            break
        print(json.dumps(timed(run, int(line))), flush=True)
