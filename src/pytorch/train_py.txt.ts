/**
 * train.py's Python, with `__DEFAULTS__`, `__AUGMENT__`, `__MODEL__` and `__FASHION_MNIST_DIR__`
 * filled in by train_py.ts from convlab train's own defaults.
 */
export const TRAIN_PY = String.raw`"""Train __MODEL__ (model.py) with PyTorch DistributedDataParallel, launched by torchrun. Written by convlab.

    torchrun --standalone --nproc_per_node=N train.py --data fashion-mnist --out RUN

Each process trains on its share of every batch (DistributedSampler); gradients are averaged
across processes (gloo on CPU, nccl on GPUs); batch norm normalises over the whole batch
(--sync-bn, the default with more than one process). The defaults are \`convlab train\`'s: SGD
with Nesterov momentum and weight decay, a linear warm-up, a cosine schedule, random crops with
zero padding and flips by kind of data, the auxiliary heads' loss weights of model.py,
per-channel normalisation measured on the training images. --batch is the global batch (all
processes together), as in convlab, so a run's steps and schedule do not depend on the number
of processes. RUN/checkpoint.safetensors is written every --checkpoint-every steps and at the end
of every epoch; --resume continues from it. RUN/model.safetensors holds the final weights with
convlab's names (and the normalisation in its metadata): \`convlab evaluate\` and \`convlab run\`
read it. Only torch is needed (Pillow for --data folder:DIR).
"""

import argparse
import gzip
import hashlib
import json
import math
import os
import struct
import sys
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data.distributed import DistributedSampler

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as exported  # noqa: E402  (model.py beside this file)

# convlab train's defaults.
DEFAULTS = __DEFAULTS__
# Random-crop padding and horizontal flips by kind of data (folder: an eighth of the image height).
AUGMENT = __AUGMENT__
FASHION_MNIST_DIR = "__FASHION_MNIST_DIR__"
SYNTHETIC_DEFAULTS = {"classes": 10, "train": 2000, "test": 500, "seed": 0, "noise": 16}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="fashion-mnist[:DIR] | mnist:DIR | idx:DIR | cifar10:DIR | cifar100:DIR | folder:DIR | synthetic[:k=v,...]")
    p.add_argument("--out", required=True, help="the run's folder: metrics.jsonl, checkpoint.safetensors, model.safetensors")
    p.add_argument("--epochs", type=int, default=DEFAULTS["epochs"])
    p.add_argument("--batch", type=int, default=DEFAULTS["batch"], help="global batch, split evenly across processes")
    p.add_argument("--lr", type=float, help="peak learning rate (default: %s for SGD, %s for AdamW)" % (DEFAULTS["lr"]["sgd"], DEFAULTS["lr"]["adamw"]))
    p.add_argument("--optimizer", choices=["sgd", "adamw"], default="sgd")
    p.add_argument("--momentum", type=float, default=DEFAULTS["sgd"]["momentum"])
    p.add_argument("--no-nesterov", action="store_true")
    p.add_argument("--weight-decay", type=float, help="default: %s for SGD, %s for AdamW" % (DEFAULTS["sgd"]["weightDecay"], DEFAULTS["adamw"]["weightDecay"]))
    p.add_argument("--schedule", choices=["cosine", "step", "constant", "cosine-restart"], default=DEFAULTS["schedule"])
    p.add_argument("--warmup", type=float, help="linear warm-up in epochs (default: min(%s, epochs - 1))" % DEFAULTS["warmup"])
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--aux-weight", type=float, help="loss weight of every auxiliary head (default: model.py's AUX_LOSS_WEIGHTS)")
    p.add_argument("--pad", type=int, help="random-crop zero padding (default by kind of data)")
    p.add_argument("--flip", dest="flip", action="store_true", default=None)
    p.add_argument("--no-flip", dest="flip", action="store_false")
    p.add_argument("--limit", type=int, help="train on the first N training samples")
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    p.add_argument("--weights", help="start from these weights (safetensors, convlab's names)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--checkpoint-every", type=int, default=100, help="steps between checkpoints (and each epoch's end)")
    p.add_argument("--max-steps", type=int, help="stop after this many steps (the schedule still spans --epochs)")
    p.add_argument("--sync-bn", dest="sync_bn", action="store_true", default=None, help="batch norm over the global batch (default with more than one process)")
    p.add_argument("--no-sync-bn", dest="sync_bn", action="store_false")
    p.add_argument("--no-amp", action="store_true", help="no mixed precision on GPUs")
    p.add_argument("--cpu", action="store_true", help="train on the CPU even where there are GPUs")
    p.add_argument("--eval-batch", type=int, default=256)
    p.add_argument("--float64", action="store_true", help="compute in double precision (numerical checks; weights are still written as float32)")
    return p.parse_args(argv)


# ----------------------------------------------------------------------------------------- data


def _read(path):
    with open(path, "rb") as f:
        data = f.read()
    return gzip.decompress(data) if path.endswith(".gz") else data


def _find(folder, names, what):
    for name in names:
        for candidate in (name, name + ".gz"):
            path = os.path.join(folder, candidate)
            if os.path.exists(path):
                return path
    raise SystemExit(f"{folder}: no {what} ({' or '.join(names)}, optionally .gz)")


def _idx(path, rank):
    data = _read(path)
    magic, = struct.unpack(">I", data[:4])
    if magic >> 8 != 8 or (magic & 0xFF) != rank:
        raise SystemExit(f"{path}: not an IDX file of unsigned bytes with {rank} dimensions")
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    body = data[4 + 4 * rank:]
    if len(body) != math.prod(dims):
        raise SystemExit(f"{path}: {len(body)} bytes of data, the header says {math.prod(dims)}")
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(dims)


def load_idx(folder):
    def split(prefix):
        images = _idx(_find(folder, [f"{prefix}-images-idx3-ubyte", f"{prefix}-images.idx3-ubyte"], f"{prefix} images"), 3)
        labels = _idx(_find(folder, [f"{prefix}-labels-idx1-ubyte", f"{prefix}-labels.idx1-ubyte"], f"{prefix} labels"), 1)
        return images.unsqueeze(1), labels.long()

    return split("train"), split("t10k")


def load_cifar(folder, hundred):
    def records(names, label_bytes, label_at):
        data = b"".join(_read(_find(folder, [n], n)) for n in names)
        size = label_bytes + 3072
        if len(data) % size:
            raise SystemExit(f"{folder}: not whole {size}-byte CIFAR records")
        t = torch.frombuffer(bytearray(data), dtype=torch.uint8).reshape(-1, size)
        return t[:, label_bytes:].reshape(-1, 3, 32, 32).clone(), t[:, label_at].long()

    sub = "cifar-100-binary" if hundred else "cifar-10-batches-bin"
    if os.path.isdir(os.path.join(folder, sub)):
        folder = os.path.join(folder, sub)
    if hundred:
        return records(["train.bin"], 2, 1), records(["test.bin"], 2, 1)
    return records([f"data_batch_{i}.bin" for i in range(1, 6)], 1, 0), records(["test_batch.bin"], 1, 0)


def load_folder(folder, shape):
    from PIL import Image  # only this source needs Pillow

    c, h, w = shape
    classes = sorted(d for d in os.listdir(os.path.join(folder, "train")) if os.path.isdir(os.path.join(folder, "train", d)))

    def split(name):
        images, labels = [], []
        for label, cls in enumerate(classes):
            root = os.path.join(folder, name, cls)
            if not os.path.isdir(root):
                continue
            for dirpath, _, files in os.walk(root):
                for f in sorted(files):
                    if not f.lower().endswith((".png", ".jpg", ".jpeg")):
                        continue
                    img = Image.open(os.path.join(dirpath, f)).convert("L" if c == 1 else "RGB")
                    scale = max(w / img.width, h / img.height)  # cover, then crop the centre (as convlab)
                    img = img.resize((max(w, round(img.width * scale)), max(h, round(img.height * scale))), Image.BILINEAR)
                    left, top = (img.width - w) // 2, (img.height - h) // 2
                    img = img.crop((left, top, left + w, top + h))
                    t = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8).reshape(h, w, c).permute(2, 0, 1)
                    images.append(t)
                    labels.append(label)
        if not images:
            raise SystemExit(f"{os.path.join(folder, name)}: no images")
        return torch.stack(images), torch.tensor(labels)

    return split("train"), split("test")


def load_synthetic(options, shape):
    """Oriented gratings under a Gaussian window, class k at k*180/K degrees (seeded; not convlab's exact bytes)."""
    o = dict(SYNTHETIC_DEFAULTS)
    for pair in filter(None, options.split(",")):
        key, _, value = pair.partition("=")
        if key == "shape":
            continue
        o[key] = float(value)
    g = torch.Generator().manual_seed(int(o["seed"]))
    c, h, w = shape
    k = int(o["classes"])

    def split(n):
        labels = torch.randint(0, k, (n,), generator=g)
        theta = labels.float() * math.pi / k
        y, x = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
        cy, cx = (torch.rand(n, generator=g) * 0.4 + 0.3) * h, (torch.rand(n, generator=g) * 0.4 + 0.3) * w
        sigma = (torch.rand(n, generator=g) * 0.15 + 0.2) * min(h, w)
        phase = torch.rand(n, generator=g) * 2 * math.pi
        u = (x - cx.view(-1, 1, 1)) * torch.cos(theta).view(-1, 1, 1) + (y - cy.view(-1, 1, 1)) * torch.sin(theta).view(-1, 1, 1)
        r2 = (x - cx.view(-1, 1, 1)) ** 2 + (y - cy.view(-1, 1, 1)) ** 2
        patch = torch.cos(2 * math.pi * u / 6 + phase.view(-1, 1, 1)) * torch.exp(-r2 / (2 * sigma.view(-1, 1, 1) ** 2))
        grey = torch.rand(n, 1, 1, generator=g) * 100 + 78
        tint = torch.rand(n, c, 1, 1, generator=g) * 0.5 + 0.75 if c > 1 else torch.ones(n, 1, 1, 1)
        img = grey.unsqueeze(1) + 70 * patch.unsqueeze(1) * tint + (torch.rand(n, c, h, w, generator=g) - 0.5) * o["noise"] * math.sqrt(12)
        return img.clamp(0, 255).round().to(torch.uint8), labels

    return split(int(o["train"])), split(int(o["test"]))


def load_data(source, shape):
    """(train, test, kind): each split (uint8 images [N, C, H, W], int64 labels)."""
    kind, _, rest = source.partition(":")
    if kind == "fashion-mnist":
        splits = load_idx(rest or FASHION_MNIST_DIR)
    elif kind in ("mnist", "idx"):
        if not rest:
            raise SystemExit(f"--data {kind}:DIR needs the folder of the IDX files")
        splits = load_idx(rest)
    elif kind in ("cifar10", "cifar100"):
        splits = load_cifar(rest, kind == "cifar100")
    elif kind == "folder":
        splits = load_folder(rest, shape)
    elif kind == "synthetic":
        splits = load_synthetic(rest, shape)
    else:
        raise SystemExit(f"unknown --data '{source}'; forms: fashion-mnist[:DIR], mnist:DIR, idx:DIR, cifar10:DIR, cifar100:DIR, folder:DIR, synthetic[:k=v,...]")
    (train, test) = splits
    if tuple(train[0].shape[1:]) != tuple(shape):
        raise SystemExit(
            f"the data's images are {'x'.join(map(str, train[0].shape[1:]))}, the model takes {'x'.join(map(str, shape))}: "
            "export the model with --input matching the data"
        )
    return train, test, kind


def channel_stats(images):
    """Per-channel mean and population standard deviation of the pixels in [0, 1] (convlab's)."""
    x = images.double() / 255
    mean = x.mean(dim=(0, 2, 3))
    std = ((x - mean.view(1, -1, 1, 1)) ** 2).mean(dim=(0, 2, 3)).sqrt()
    return mean.tolist(), std.tolist()


def augment(images, pad, flip, generator):
    """torchvision's RandomCrop(size, padding=pad) and RandomHorizontalFlip on a uint8 batch."""
    n, _, h, w = images.shape
    if pad:
        padded = F.pad(images, (pad, pad, pad, pad))
        tops = torch.randint(0, 2 * pad + 1, (n,), generator=generator).tolist()
        lefts = torch.randint(0, 2 * pad + 1, (n,), generator=generator).tolist()
        images = torch.stack([padded[i, :, t:t + h, l:l + w] for i, (t, l) in enumerate(zip(tops, lefts))])
    if flip:
        mirrored = torch.rand(n, generator=generator) < 0.5
        images = torch.where(mirrored.view(-1, 1, 1, 1), images.flip(3), images)
    return images


# ------------------------------------------------------------------------------ training pieces


def js_round(x):
    """Halves round up, as convlab (JavaScript's Math.round), not to even as Python's round."""
    return math.floor(x + 0.5)


def learning_rate(config, step, total, warmup):
    """convlab's schedule of the 0-based step: linear warm-up, then cosine / step / constant / cosine-restart."""
    lr = config["lr"]
    if step < warmup:
        return lr * (step + 1) / warmup
    kind = config["schedule"]
    if kind == "constant":
        return lr
    if kind == "step":
        return lr * DEFAULTS["step_gamma"] ** sum(step >= js_round(m * total) for m in DEFAULTS["step_milestones"])

    def cosine(t, span):
        return lr * (1 + math.cos(math.pi * t / span)) / 2

    if kind == "cosine":
        return cosine(step - warmup, total - warmup)
    cycle = total // 2
    return cosine(step - warmup, cycle - warmup) if step < cycle else cosine(step - cycle, total - cycle)


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """Batch norm over the global batch on CPU processes (nn.SyncBatchNorm needs GPUs in torch 1.13).

    The per-channel sums are all-reduced with an autograd-aware all_reduce, whose backward sums the
    gradients of every process, so the step equals a single process's step on the whole batch.
    """

    def forward(self, x):
        if not self.training:
            return super().forward(x)
        from torch.distributed.nn import all_reduce

        count = x.numel() // x.shape[1] * dist.get_world_size()
        sums = all_reduce(torch.stack([x.sum(dim=(0, 2, 3)), (x * x).sum(dim=(0, 2, 3))]))
        mean = sums[0] / count
        var = sums[1] / count - mean * mean
        with torch.no_grad():
            self.running_mean.mul_(1 - self.momentum).add_(mean, alpha=self.momentum)
            self.running_var.mul_(1 - self.momentum).add_(var * count / max(1, count - 1), alpha=self.momentum)
            self.num_batches_tracked.add_(1)
        scale = self.weight * torch.rsqrt(var + self.eps)
        return x * scale.view(1, -1, 1, 1) + (self.bias - mean * scale).view(1, -1, 1, 1)


def make_optimizer(config, model):
    o = config["optimizer"]
    if o["kind"] == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=config["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"], weight_decay=o["weightDecay"])
    return torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=o["momentum"], nesterov=o["nesterov"], weight_decay=o["weightDecay"])


def optimizer_tensors(model, optimizer):
    """The optimizer's state as named tensors: '<parameter>.<slot>' (convlab's checkpoint naming)."""
    out = {}
    for name, p in model.named_parameters():
        for slot, value in optimizer.state.get(p, {}).items():
            out[f"{name}.{slot}"] = value if torch.is_tensor(value) else torch.tensor(float(value))
    return out


def load_optimizer_tensors(model, optimizer, tensors):
    for name, p in model.named_parameters():
        slots = {k[len(name) + 1:]: v for k, v in tensors.items() if k.startswith(name + ".") and "." not in k[len(name) + 1:]}
        if slots:
            optimizer.state[p] = {k: (v.to(p.device) if v.dim() else v) for k, v in slots.items()}


def losses(outputs, labels, config, aux_weights):
    """Main loss plus the auxiliary heads', weighted (label smoothing on all of them)."""
    if not isinstance(outputs, (tuple, list)):
        outputs = (outputs,)
    total = F.cross_entropy(outputs[0], labels, label_smoothing=config["label_smoothing"])
    for logits, weight in zip(outputs[1:], aux_weights):
        total = total + weight * F.cross_entropy(logits, labels, label_smoothing=config["label_smoothing"])
    return total


@torch.no_grad()
def evaluate(model, images, labels, normalise, device, batch, rank, world):
    """Test loss and accuracy, each process scoring its share, summed across processes."""
    model.eval()
    dtype = next(model.parameters()).dtype
    mean = torch.tensor(normalise[0], device=device, dtype=dtype).view(1, -1, 1, 1)
    std = torch.tensor(normalise[1], device=device, dtype=dtype).view(1, -1, 1, 1)
    loss = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.float64, device=device)
    for start in range(rank * batch, len(images), batch * world):
        x = (images[start:start + batch].to(device).to(dtype) / 255 - mean) / std
        y = labels[start:start + batch].to(device)
        logits = model(x).float()
        loss += F.cross_entropy(logits, y, reduction="sum").double()
        correct += (logits.argmax(1) == y).sum().double()
    if world > 1:
        both = torch.stack([loss, correct])
        dist.all_reduce(both)
        loss, correct = both[0], both[1]
    model.train()
    return loss.item() / len(images), int(correct.item())


def weights_digest(model):
    """SHA-256 of every parameter and buffer's bytes, in state_dict order."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def run_config(args, kind, limit, shape, normalise):
    epochs = args.epochs
    optimizer = (
        dict(DEFAULTS["adamw"], weightDecay=args.weight_decay if args.weight_decay is not None else DEFAULTS["adamw"]["weightDecay"])
        if args.optimizer == "adamw"
        else dict(
            DEFAULTS["sgd"],
            momentum=args.momentum,
            nesterov=(not args.no_nesterov) and args.momentum > 0,
            weightDecay=args.weight_decay if args.weight_decay is not None else DEFAULTS["sgd"]["weightDecay"],
        )
    )
    pad, flip = AUGMENT[kind] if kind != "folder" else (js_round(shape[1] / 8), True)
    return {
        "model": "__MODEL__",
        "data": args.data,
        "limit": limit,
        "epochs": epochs,
        "batch": args.batch,
        "lr": args.lr if args.lr is not None else DEFAULTS["lr"][args.optimizer],
        "optimizer": dict(optimizer, kind=args.optimizer),
        "schedule": args.schedule,
        "warmup": args.warmup if args.warmup is not None else min(DEFAULTS["warmup"], epochs - 1),
        "label_smoothing": args.label_smoothing,
        "aux_weight": args.aux_weight,
        "seed": args.seed,
        "augment": {"pad": args.pad if args.pad is not None else pad, "flip": args.flip if args.flip is not None else flip},
        "normalise": {"mean": normalise[0], "std": normalise[1]},
    }


def write_checkpoint(path, model, optimizer, state):
    tensors = dict(model.state_dict())  # in the precision trained (float64 with --float64), to resume exactly
    tensors.update({f"optimizer.{k}": v for k, v in optimizer_tensors(model, optimizer).items()})
    exported.save_safetensors(tensors, path, {"state": json.dumps(state)})


# --------------------------------------------------------------------------------------- main


def main(argv=None):
    args = parse_args(argv)
    distributed = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1
    use_cuda = torch.cuda.is_available() and not args.cpu
    if distributed:
        dist.init_process_group("nccl" if use_cuda else "gloo")
    rank = dist.get_rank() if distributed else 0
    world = dist.get_world_size() if distributed else 1
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    else:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", 1))))
    if args.batch % world:
        raise SystemExit(f"--batch {args.batch} must split evenly across {world} processes")
    local_batch = args.batch // world
    log = print if rank == 0 else (lambda *a, **k: None)

    checkpoint_path = os.path.join(args.out, "checkpoint.safetensors")
    state = None
    if args.resume:
        if not os.path.exists(checkpoint_path):
            raise SystemExit(f"--resume: {checkpoint_path} does not exist")
        state = json.loads(exported.read_safetensors_metadata(checkpoint_path)["state"])
    elif os.path.exists(checkpoint_path):
        raise SystemExit(f"--out '{args.out}' already holds a run ({checkpoint_path}): continue it with --resume, or choose another --out")

    shape = exported.INPUT_SHAPE
    (train_x, train_y), (test_x, test_y), kind = load_data(args.data, shape)
    limit = state["config"]["limit"] if state else args.limit
    if limit:
        train_x, train_y = train_x[:limit], train_y[:limit]
    classes = int(max(train_y.max(), test_y.max())) + 1
    if classes > exported.NUM_CLASSES:
        raise SystemExit(f"the data has {classes} classes, the model {exported.NUM_CLASSES}: export it with --classes {classes}")
    config = state["config"] if state else run_config(args, kind, limit, shape, channel_stats(train_x))
    normalise = (config["normalise"]["mean"], config["normalise"]["std"])
    steps_per_epoch = len(train_x) // config["batch"]
    if steps_per_epoch < 1:
        raise SystemExit(f"{len(train_x)} training samples are fewer than one batch of {config['batch']}")
    total = config["epochs"] * steps_per_epoch
    warmup = js_round(config["warmup"] * steps_per_epoch)
    aux_weights = [config["aux_weight"] if config["aux_weight"] is not None else w for w in exported.AUX_LOSS_WEIGHTS]

    torch.manual_seed(config["seed"])
    model = exported.build(weights=None)
    if args.weights and not state:
        model.load_state_dict(exported.load_safetensors(args.weights))
    sync_bn = args.sync_bn if args.sync_bn is not None else world > 1
    if distributed and sync_bn:
        if use_cuda:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        else:
            for m in model.modules():
                if type(m) is nn.BatchNorm2d:
                    m.__class__ = GlobalBatchNorm2d
    dtype = torch.float64 if args.float64 else torch.float32
    model.to(device=device, dtype=dtype)
    optimizer = make_optimizer(config, model)
    step = 0
    if state:
        saved = exported.load_safetensors(checkpoint_path)
        model.load_state_dict({k: v for k, v in saved.items() if not k.startswith("optimizer.")})
        load_optimizer_tensors(model, optimizer, {k[len("optimizer."):]: v for k, v in saved.items() if k.startswith("optimizer.")})
        step = state["step"]
        log(f"resuming {args.out} at step {step} of {total} (epoch {step // steps_per_epoch + 1})")
    ddp = DistributedDataParallel(model, device_ids=[local_rank] if use_cuda else None) if distributed else model
    amp = use_cuda and not args.no_amp
    scaler = torch.cuda.amp.GradScaler(enabled=amp)
    mean = torch.tensor(normalise[0], device=device, dtype=dtype).view(1, -1, 1, 1)
    std = torch.tensor(normalise[1], device=device, dtype=dtype).view(1, -1, 1, 1)
    sampler = DistributedSampler(range(len(train_x)), num_replicas=world, rank=rank, shuffle=True, seed=config["seed"], drop_last=True)
    os.makedirs(args.out, exist_ok=True)
    metrics = open(os.path.join(args.out, "metrics.jsonl"), "a") if rank == 0 else None
    log(f"{config['model']}: {len(train_x)} training samples, {steps_per_epoch} steps an epoch of {config['batch']} "
        f"({world} process{'es' if world > 1 else ''} x {local_batch}) on {device.type}, {config['epochs']} epochs")

    last = None
    stop = min(total, args.max_steps) if args.max_steps is not None else total
    while step < stop:
        epoch, index = divmod(step, steps_per_epoch)
        sampler.set_epoch(epoch)
        order = list(sampler)
        ddp.train()
        started, seen = time.time(), 0
        while index < steps_per_epoch and step < stop:
            batch = torch.tensor(order[index * local_batch:(index + 1) * local_batch])
            # Each step's randomness depends only on (seed, step, rank): a resumed run draws what it would have.
            generator = torch.Generator().manual_seed(config["seed"] * 1_000_003 + step * 7919 + rank)
            torch.manual_seed(config["seed"] * 1_000_003 + step * 7919 + rank)
            images = augment(train_x[batch], config["augment"]["pad"], config["augment"]["flip"], generator)
            x = (images.to(device).to(dtype) / 255 - mean) / std
            y = train_y[batch].to(device)
            lr = learning_rate(config, step, total, warmup)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with torch.autocast(device_type="cuda", enabled=amp):
                loss = losses(ddp(x), y, config, aux_weights)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            reported = loss.detach().float()
            if distributed:
                dist.all_reduce(reported)
                reported /= world
            step, index, seen = step + 1, index + 1, seen + config["batch"]
            if metrics:
                metrics.write(json.dumps({"step": step, "epoch": epoch + 1, "loss": reported.item(), "lr": lr}) + "\n")
                metrics.flush()
            if step % args.checkpoint_every == 0 or index == steps_per_epoch or step == stop:
                if rank == 0:
                    write_checkpoint(checkpoint_path, model, optimizer, {"step": step, "config": config})
            if index % max(1, steps_per_epoch // 10) == 0 or index == steps_per_epoch:
                log(f"epoch {epoch + 1}/{config['epochs']} step {index}/{steps_per_epoch} loss {reported.item():.4f} lr {lr:.4g} "
                    f"({seen / max(1e-9, time.time() - started):.0f} images/s)", flush=True)
        if index == steps_per_epoch:
            test_loss, correct = evaluate(model, test_x, test_y, normalise, device, args.eval_batch, rank, world)
            last = (test_loss, correct)
            log(f"epoch {epoch + 1}: test loss {test_loss:.4f}, test accuracy {100 * correct / len(test_x):.2f}% ({correct}/{len(test_x)})", flush=True)
            if metrics:
                metrics.write(json.dumps({"epoch": epoch + 1, "step": step, "test_loss": test_loss, "test_accuracy": correct / len(test_x)}) + "\n")
                metrics.flush()

    digest = weights_digest(model)
    digests = [None] * world
    if distributed:
        dist.all_gather_object(digests, digest)
    else:
        digests = [digest]
    if rank == 0:
        if len(set(digests)) != 1:
            raise SystemExit(f"the processes hold different weights after training: {digests}")
        # Plain nn.BatchNorm2d names and buffers: the weights are convlab's whatever the processes used.
        tensors = {k: v.float() if v.is_floating_point() else v for k, v in model.state_dict().items()}
        meta = {"mean": json.dumps(normalise[0]), "std": json.dumps(normalise[1]), "trained_on": config["data"], "steps": str(step)}
        if last:
            meta["test_accuracy"] = str(last[1] / len(test_x))
        exported.save_safetensors(tensors, os.path.join(args.out, "model.safetensors"), meta)
        summary = {"steps": step, "processes": world, "weights_identical": True, "digests": digests}
        if last:
            summary.update(test_loss=last[0], test_correct=last[1], test_count=len(test_x), test_accuracy=last[1] / len(test_x))
        with open(os.path.join(args.out, "summary.json"), "w") as f:
            json.dump(summary, f, indent=2)
        log(f"weights identical on all {world} process{'es' if world > 1 else ''} (sha256 {digest[:16]})")
        accuracy = f"; test accuracy {100 * last[1] / len(test_x):.2f}%" if last else ""
        log(f"wrote {os.path.join(args.out, 'model.safetensors')}{accuracy}")
    if distributed:
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
`;
