"""Parity of convlab's PyTorch export, for test/pytorch/parity.test.ts: one process for every model.

For each DIR given: DIR/model.py (the export), DIR/parameters.json (convlab's parameter names
and shapes, in order) and, where logits are compared, DIR/weights.safetensors (seeded weights
with non-trivial batch-norm statistics) and DIR/io.safetensors (an input batch and convlab's
onnxruntime logits). Prints one JSON line per model: whether model.py compiles, whether its
state_dict keys and shapes are the file's names, in order (and load without num_batches_tracked), and the
largest difference of its eval-mode logits relative to the largest logit.
"""
import importlib.util
import json
import os
import py_compile
import sys

import torch

torch.set_num_threads(1)
torch.manual_seed(0)
# The weights are loaded anyway: skip the initialisation of large layers.
for cls in (torch.nn.Conv2d, torch.nn.Linear):
    cls.reset_parameters = lambda self: None


def check(folder):
    py_compile.compile(f"{folder}/model.py", doraise=True)
    spec = importlib.util.spec_from_file_location(f"exported_{abs(hash(folder))}", f"{folder}/model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.build()
    ours = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    with open(f"{folder}/parameters.json") as f:
        theirs = json.load(f)
    result = {"dir": folder, "keys_equal": ours == theirs}
    if ours != theirs:
        only_ours = [k for k in ours if k not in theirs][:5]
        only_theirs = [k for k in theirs if k not in ours][:5]
        result["mismatch"] = {"pytorch_only": only_ours, "convlab_only": only_theirs}
        return result
    if not os.path.exists(f"{folder}/io.safetensors"):
        return result
    weights = module.load_safetensors(f"{folder}/weights.safetensors")
    io = module.load_safetensors(f"{folder}/io.safetensors")
    # Strict, and without num_batches_tracked (as torchvision's older checkpoints come), as PyTorch allows.
    model.load_state_dict({k: v for k, v in weights.items() if not k.endswith("num_batches_tracked")})
    model.eval()
    with torch.no_grad():
        out = model(io["input"])
    if isinstance(out, tuple):  # several main outputs: convlab's first
        out = out[0]
    expected = io["logits"]
    result["shape_equal"] = list(out.shape) == list(expected.shape)
    if result["shape_equal"]:
        result["relative"] = float((out - expected).abs().max() / expected.abs().max())
    return result


for folder in sys.argv[1:]:
    try:
        print(json.dumps(check(folder)), flush=True)
    except Exception as e:  # report and go on: one broken model must not hide the others
        print(json.dumps({"dir": folder, "error": f"{type(e).__name__}: {e}"}), flush=True)
