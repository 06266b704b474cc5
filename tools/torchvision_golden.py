#!/usr/bin/python3
"""Golden-fixture generator: torchvision reference figures for convlab's model zoo.

This is an offline fixture generator. It is NEVER needed at run time or by the
test suite; the tests only read the JSON it produced (test/golden/torchvision.json).

It must be run with Debian's system interpreter, /usr/bin/python3 (which has
torch 1.13 and torchvision 0.14 installed). The pyenv `python3` found first on
PATH does not have torch, hence the hard-coded shebang.

Usage (from the repository root):

    /usr/bin/python3 tools/torchvision_golden.py > test/golden/torchvision.json

The JSON goes to stdout; warnings and a summary table go to stderr.

For every model, built as torchvision.models.<name>(weights=None) in eval mode
(num_classes=1000; googlenet / inception_v3 with aux_logits=True,
init_weights=True, transform_input=False), it records:
  input         [3, H, W] (224x224, inception_v3 299x299)
  params        sum of numel over model.parameters() (aux heads included)
  params_no_aux googlenet / inception_v3 only: excluding aux1./aux2./AuxLogits.
  buffers       sum of numel over model.buffers() (incl. num_batches_tracked)
  macs          multiply-accumulates of one eval forward pass at batch 1, from
                forward hooks on every nn.Conv2d / nn.Linear:
                  conv   = out.numel() * (in_channels/groups) * kh * kw
                  linear = out.numel() * in_features
                (aux heads do not run in eval mode, so they do not count)
  layers        [{name, type, outShape, macs}] in hook (execution) order
  state_dict    [[key, shape]] for every state_dict entry, in order
plus an "extra" section with params/macs of googlenet and inception_v3 built
with aux_logits=False, and the torch / torchvision versions used.
"""

import json
import sys

import torch
import torch.nn as nn
import torchvision

MODELS = [
    "vgg16", "googlenet", "inception_v3",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "wide_resnet50_2", "resnext50_32x4d", "resnext101_32x8d",
    "densenet121", "densenet169", "densenet201",
    "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0",
    "mobilenet_v2",
]

AUX_MODELS = ("googlenet", "inception_v3")
AUX_PREFIXES = ("aux1.", "aux2.", "AuxLogits.")

# Published figures (torchvision model docs), GMACs to 3 decimals.
PUBLISHED_GMACS = {
    "vgg16": 15.470, "googlenet": 1.498, "inception_v3": 5.713,
    "resnet18": 1.814, "resnet34": 3.664, "resnet50": 4.089, "resnet101": 7.801,
    "resnet152": 11.514, "wide_resnet50_2": 11.398, "resnext50_32x4d": 4.230,
    "resnext101_32x8d": 16.414, "densenet121": 2.834, "densenet169": 3.360,
    "densenet201": 4.291, "shufflenet_v2_x0_5": 0.040, "shufflenet_v2_x1_0": 0.145,
    "shufflenet_v2_x1_5": 0.296, "shufflenet_v2_x2_0": 0.583, "mobilenet_v2": 0.301,
}
PUBLISHED_PARAMS = {
    "vgg16": 138357544, "googlenet": 13004888, "inception_v3": 27161264,
    "resnet18": 11689512, "resnet34": 21797672, "resnet50": 25557032,
    "resnet101": 44549160, "resnet152": 60192808, "wide_resnet50_2": 68883240,
    "resnext50_32x4d": 25028904, "resnext101_32x8d": 88791336,
    "densenet121": 7978856, "densenet169": 14149480, "densenet201": 20013928,
    "shufflenet_v2_x0_5": 1366792, "shufflenet_v2_x1_0": 2278604,
    "shufflenet_v2_x1_5": 3503624, "shufflenet_v2_x2_0": 7393996,
    "mobilenet_v2": 3504872,
}
PUBLISHED_PARAMS_NO_AUX = {"googlenet": 6624904, "inception_v3": 23834568}


def warn(msg):
    print("WARNING: " + msg, file=sys.stderr)


def build(name, aux_logits=True):
    ctor = getattr(torchvision.models, name)
    if name in AUX_MODELS:
        model = ctor(weights=None, aux_logits=aux_logits, init_weights=True,
                     transform_input=False)
    else:
        model = ctor(weights=None)
    return model.eval()


def input_hw(name):
    return (299, 299) if name == "inception_v3" else (224, 224)


def count_macs(model, hw):
    """Run one eval forward pass at batch 1; return (total_macs, layers)."""
    layers = []
    handles = []

    def make_hook(mod_name):
        def hook(mod, inputs, output):
            n_out = output.numel()
            if isinstance(mod, nn.Conv2d):
                kh, kw = mod.kernel_size
                macs = n_out * (mod.in_channels // mod.groups) * kh * kw
                typ = "Conv2d"
            else:
                macs = n_out * mod.in_features
                typ = "Linear"
            layers.append({"name": mod_name, "type": typ,
                           "outShape": list(output.shape), "macs": int(macs)})
        return hook

    for mod_name, mod in model.named_modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            handles.append(mod.register_forward_hook(make_hook(mod_name)))
    x = torch.zeros(1, 3, *hw)
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return sum(l["macs"] for l in layers), layers


def check(name, what, got, expected):
    if got != expected:
        warn("%s %s: got %s, published %s" % (name, what, got, expected))


def main():
    torch.set_num_threads(2)
    torch.manual_seed(0)
    out = {
        "generated_by": "tools/torchvision_golden.py",
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "models": {},
        "extra": {},
    }
    rows = []
    for name in MODELS:
        model = build(name)
        hw = input_hw(name)
        params = sum(p.numel() for p in model.parameters())
        entry = {"input": [3, hw[0], hw[1]], "params": int(params)}
        if name in AUX_MODELS:
            entry["params_no_aux"] = int(sum(
                p.numel() for n, p in model.named_parameters()
                if not n.startswith(AUX_PREFIXES)))
        entry["buffers"] = int(sum(b.numel() for b in model.buffers()))
        macs, layers = count_macs(model, hw)
        entry["macs"] = int(macs)
        entry["layers"] = layers
        entry["state_dict"] = [[k, list(v.shape)] for k, v in model.state_dict().items()]
        out["models"][name] = entry

        check(name, "GMACs", round(macs / 1e9, 3), PUBLISHED_GMACS[name])
        check(name, "params", entry["params"], PUBLISHED_PARAMS[name])
        if name in PUBLISHED_PARAMS_NO_AUX:
            check(name, "params_no_aux", entry["params_no_aux"], PUBLISHED_PARAMS_NO_AUX[name])
        rows.append((name, entry["params"], entry.get("params_no_aux", ""), entry["macs"]))

    for name in AUX_MODELS:
        model = build(name, aux_logits=False)
        macs, _ = count_macs(model, input_hw(name))
        key = name + "_no_aux"
        out["extra"][key] = {
            "params": int(sum(p.numel() for p in model.parameters())),
            "macs": int(macs),
        }
        rows.append((key, out["extra"][key]["params"], "", int(macs)))

    for r in rows:
        print("%-22s params=%-10s no_aux=%-9s macs=%s" % r, file=sys.stderr)
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
