#!/usr/bin/python3
"""Convert a PyTorch state_dict to safetensors, the weights format convlab reads.

Run with Debian's /usr/bin/python3 (torch 1.13, torchvision 0.14); the `python3` first on PATH
may lack torch. Never needed at run time: convlab itself reads the .safetensors file.

    # a downloaded torchvision checkpoint
    /usr/bin/python3 tools/torch_to_safetensors.py --pth resnet50-11ad3fa6.pth -o resnet50.safetensors
    # a seeded random initialisation of a named model (torchvision's, or tools/torch_models.py's)
    /usr/bin/python3 tools/torch_to_safetensors.py --random --model resnet18 --seed 0 -o r18.safetensors

Keys are kept exactly (torchvision's state_dict keys are convlab's parameter names); --strip-prefix
removes a prefix such as DataParallel's `module.` from every key, and fails if a key lacks it.
torchvision's own googlenet and inception_v3 checkpoints expect inputs normalised to [-1, 1] (their
`transform_input` does it inside the model, which convlab's graphs do not): run them with
`convlab run ... --mean 0.5,0.5,0.5 --std 0.5,0.5,0.5`.

The writer is hand-rolled from the format's specification (the `safetensors` package is not in
Debian): an 8-byte little-endian header length, a JSON header padded with spaces to 8-byte
alignment, then each tensor's raw little-endian bytes in header order.
"""

import argparse
import json
import struct
import sys

import torch

DTYPES = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}


def write_safetensors(path, tensors, metadata=None):
    """Write {name: tensor} in the given order; returns the number of bytes written."""
    if sys.byteorder != "little":
        raise SystemExit("this writer assumes a little-endian host")
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name, tensor in tensors.items():
        if tensor.dtype not in DTYPES:
            raise SystemExit(f"{name}: dtype {tensor.dtype} has no safetensors equivalent here")
        t = tensor.detach().cpu().contiguous().reshape(-1)
        # A byte view, so bfloat16 (which numpy lacks) serialises like every other dtype.
        raw = t.view(torch.uint8).numpy() if t.numel() else b""
        size = t.numel() * t.element_size()
        header[name] = {
            "dtype": DTYPES[tensor.dtype],
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + size],
        }
        blobs.append(raw)
        offset += size
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(memoryview(raw))
    return 8 + len(text) + offset


def load_state_dict(path, unpickle_code=False):
    """A state_dict from a .pth: a bare dict or a training checkpoint wrapping one (a pickled
    module only with unpickle_code, since unpickling a module runs code from the file)."""
    obj = torch.load(path, map_location="cpu", weights_only=not unpickle_code)
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict()
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "model_state_dict"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        skipped = sorted(set(obj) - set(tensors))
        if skipped:
            raise SystemExit(f"{path}: entries that are not tensors: {', '.join(skipped[:5])}")
        return tensors
    raise SystemExit(f"{path}: expected a state_dict, a module or a checkpoint dict, got {type(obj).__name__}")


def build_model(name, num_classes=1000, aux=True):
    """A named model at torchvision's initialisation: torchvision's, else tools/torch_models.py's."""
    import torchvision

    sys.dont_write_bytecode = True  # no __pycache__ left in tools/
    import torch_models

    if name in torch_models.MODELS:
        return torch_models.MODELS[name](num_classes=num_classes)
    kwargs = {"num_classes": num_classes}
    if name in ("googlenet", "inception_v3"):
        kwargs.update(aux_logits=aux, init_weights=True)
    try:
        return torchvision.models.get_model(name, weights=None, **kwargs)
    except ValueError as e:
        raise SystemExit(f"unknown model '{name}': {e}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--pth", help="a state_dict saved by torch.save")
    source.add_argument("--random", action="store_true", help="seeded random init of --model")
    p.add_argument("--model", help="model name (torchvision.models or tools/torch_models.py)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--classes", type=int, default=1000)
    p.add_argument("--no-aux", action="store_true", help="googlenet/inception_v3 without aux heads")
    p.add_argument("--strip-prefix", default="", help="remove this prefix from every key")
    p.add_argument("--unpickle-code", action="store_true",
                   help="allow a .pth holding a whole pickled module (runs code from the file)")
    p.add_argument("-o", "--output", required=True)
    args = p.parse_args()

    if args.random:
        if not args.model:
            p.error("--random needs --model")
        torch.manual_seed(args.seed)
        state = build_model(args.model, args.classes, aux=not args.no_aux).state_dict()
        meta = {"format": "pt", "model": args.model, "seed": args.seed}
    else:
        state = load_state_dict(args.pth, args.unpickle_code)
        meta = {"format": "pt", "source": args.pth}
    if args.strip_prefix:
        missing = [k for k in state if not k.startswith(args.strip_prefix)]
        if missing:
            raise SystemExit(f"keys without prefix '{args.strip_prefix}': {', '.join(missing[:5])}")
        state = {k[len(args.strip_prefix):]: v for k, v in state.items()}
    size = write_safetensors(args.output, state, meta)
    print(f"{args.output}: {len(state)} tensors, {size} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
