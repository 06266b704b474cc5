#!/usr/bin/python3
"""Reference fixture: the bytes PyTorch's autograd keeps for backward, for convlab's memory tests.

An offline fixture generator, never needed at run time; the tests only read the JSON it writes
(test/golden/torch_saved_bytes.json). Run it with Debian's interpreter, which has torch 1.13 and
torchvision 0.14 (the `python3` first on PATH does not):

    /usr/bin/python3 tools/torch_saved_bytes.py > test/golden/torch_saved_bytes.json

For each torchvision model (weights=None, seeded), in training mode at batch 8, 3x224x224:

  savedBytes      bytes of every tensor autograd saves for backward during ONE forward pass,
                  seen through torch.autograd.graph.saved_tensors_hooks; deduplicated by storage
                  (a tensor saved by two ops, or a view of a saved tensor, counts once, with the
                  size of its whole storage); parameters and buffers excluded. The forward ends
                  with F.cross_entropy, whose saved log-softmax (batch x classes floats) is included.
  savedTensors    number of distinct storages saved.
  savedByDtype    savedBytes split by dtype.
  savedByModule   savedBytes attributed to the type of the innermost module running when a storage
                  was first saved (functional calls inside forward() count for their module, e.g.
                  torchvision DenseNet's final F.relu and F.adaptive_avg_pool2d show as 'DenseNet').
  peak            the CPU allocator's high-water mark, from the profiler's memory events
                  (profile_memory=True), in steady state: one warm-up step first so every .grad
                  exists, then zero_grad() (1.13 keeps .grad allocated) and a measured step.
                  train = params + buffers + grads + input batch + the most bytes allocated at once
                  above that during forward + backward (plain SGD: no optimiser state);
                  infer = params + buffers + input batch + the most bytes allocated at once during
                  an eval-mode forward under torch.no_grad().
                  The parts are recorded too: params, buffers, grads, inputBatch (images and
                  labels), forwardHighWater and backwardHighWater (above the resident state).
                  Memory that oneDNN allocates outside PyTorch's allocator is not seen.

A second section, `densenet_bc_100_k12`, measures DenseNet-BC (L=100, k=12) with the CIFAR stem
(one 3x3 conv, no norm0/relu0/pool0) at batch 64, 3x32x32, both as torchvision builds it and with
torchvision's memory_efficient=True (checkpointing of concat-BN-ReLU-conv1, the recomputation of
Pleiss et al. 2017).

Takes a few minutes on two cores. Logs go to stderr.
"""

import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torch.profiler import ProfilerActivity, profile

BATCH = 8
SIZE = 224
MODELS = {
    'resnet18': lambda: torchvision.models.resnet18(weights=None),
    'resnet50': lambda: torchvision.models.resnet50(weights=None),
    'densenet121': lambda: torchvision.models.densenet121(weights=None),
    'mobilenet_v2': lambda: torchvision.models.mobilenet_v2(weights=None),
    'vgg16': lambda: torchvision.models.vgg16(weights=None),
    'googlenet': lambda: torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True),
}


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def storage_of(t):
    # torch 1.13 has no untyped_storage(); TypedStorage exposes data_ptr() and nbytes().
    s = t.untyped_storage() if hasattr(t, 'untyped_storage') else t.storage()
    return s.data_ptr(), s.nbytes()


def state_storages(model):
    return {storage_of(t)[0] for t in list(model.parameters()) + list(model.buffers())}


def state_bytes(model):
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    return params, buffers


class ModuleTracker:
    """The innermost module whose forward is running, via forward pre/post hooks."""

    def __init__(self, model):
        self.stack = []
        self.handles = []
        for m in model.modules():
            self.handles.append(m.register_forward_pre_hook(self.enter))
            self.handles.append(m.register_forward_hook(self.leave))

    def enter(self, module, inputs):
        self.stack.append(module)

    def leave(self, module, inputs, output):
        self.stack.pop()

    def current(self):
        return type(self.stack[-1]).__name__ if self.stack else '(top level)'

    def remove(self):
        for h in self.handles:
            h.remove()


def saved_bytes(model, x, y):
    """One training forward; what autograd saves, deduplicated by storage."""
    excluded = state_storages(model)
    seen = {}
    tracker = ModuleTracker(model)

    def pack(t):
        ptr, nbytes = storage_of(t)
        if ptr not in excluded and ptr not in seen:
            seen[ptr] = (nbytes, str(t.dtype).replace('torch.', ''), tracker.current())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(x)
        loss = F.cross_entropy(out, y)
    tracker.remove()
    loss.backward()
    by_dtype, by_module = {}, {}
    for nbytes, dtype, module in seen.values():
        by_dtype[dtype] = by_dtype.get(dtype, 0) + nbytes
        by_module[module] = by_module.get(module, 0) + nbytes
    return {
        'savedBytes': sum(v[0] for v in seen.values()),
        'savedTensors': len(seen),
        'savedByDtype': dict(sorted(by_dtype.items())),
        'savedByModule': dict(sorted(by_module.items(), key=lambda kv: -kv[1])),
    }


def high_water(fn):
    """Run fn under the profiler; (most bytes allocated at once, bytes still allocated at the end), relative to the start."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        result = fn()
    events = sorted(
        (e for e in prof.profiler.kineto_results.events() if e.name() == '[memory]'),
        key=lambda e: e.start_us(),
    )
    live = peak = 0
    for e in events:
        live += e.nbytes()
        peak = max(peak, live)
    return peak, live, result


def peaks(model, x, y):
    params, buffers = state_bytes(model)
    batch_bytes = x.numel() * x.element_size() + y.numel() * y.element_size()
    model.train()
    F.cross_entropy(model(x), y).backward()  # warm-up: every .grad now exists
    model.zero_grad(set_to_none=False)
    grads = sum(p.grad.numel() * p.grad.element_size() for p in model.parameters() if p.grad is not None)

    def forward():
        return F.cross_entropy(model(x), y)

    fwd_peak, fwd_end, loss = high_water(forward)
    bwd_peak, _, _ = high_water(loss.backward)
    del loss
    model.eval()

    def infer():
        with torch.no_grad():
            return model(x)

    inf_peak, _, _ = high_water(infer)
    model.train()
    return {
        'params': params,
        'buffers': buffers,
        'grads': grads,
        'inputBatch': batch_bytes,
        'forwardHighWater': fwd_peak,
        'backwardHighWater': fwd_end + bwd_peak,
        'train': params + buffers + grads + batch_bytes + max(fwd_peak, fwd_end + bwd_peak),
        'infer': params + buffers + batch_bytes + inf_peak,
    }


def measure(name, model, batch, size, classes):
    torch.manual_seed(0)
    model.train()
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, classes, (batch,))
    start = time.time()
    entry = {'input': [3, size, size], 'batch': batch, **saved_bytes(model, x, y)}
    entry['peak'] = peaks(model, x, y)
    log(
        f'{name:28s} saved {entry["savedBytes"] / 2**20:9.1f} MiB in {entry["savedTensors"]:4d} storages, '
        f'train peak {entry["peak"]["train"] / 2**20:8.1f} MiB, infer peak {entry["peak"]["infer"] / 2**20:7.1f} MiB '
        f'({time.time() - start:.0f} s)'
    )
    return entry


def densenet_bc_100_k12(memory_efficient):
    """DenseNet-BC-100 (k=12) for CIFAR: torchvision's DenseNet with the paper's 3x3 stem."""
    m = torchvision.models.DenseNet(
        growth_rate=12,
        block_config=(16, 16, 16),
        num_init_features=24,
        bn_size=4,
        num_classes=10,
        memory_efficient=memory_efficient,
    )
    m.features.conv0 = nn.Conv2d(3, 24, kernel_size=3, padding=1, bias=False)
    del m.features.norm0, m.features.relu0, m.features.pool0
    return m


def main():
    torch.set_num_threads(2)
    torch.manual_seed(0)
    models = {}
    for name, make in MODELS.items():
        models[name] = measure(name, make(), BATCH, SIZE, 1000)
    cifar = {}
    for variant, efficient in (('naive', False), ('memory_efficient', True)):
        torch.manual_seed(0)
        cifar[variant] = measure(f'densenet_bc_100_k12 {variant}', densenet_bc_100_k12(efficient), 64, 32, 10)
    json.dump(
        {
            '_about': (
                'Bytes autograd saves for backward in one training-mode forward (saved_tensors_hooks, '
                'deduplicated by storage, parameters and buffers excluded), and CPU allocator peaks. '
                'Generated by tools/torch_saved_bytes.py; see its docstring for every field.'
            ),
            'torch': torch.__version__,
            'torchvision': torchvision.__version__,
            'models': models,
            'densenet_bc_100_k12': cifar,
        },
        sys.stdout,
        indent=1,
    )
    print()


if __name__ == '__main__':
    main()
