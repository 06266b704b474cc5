import type { TrainDefaults } from './train_py.js';

export interface ReadmeFacts {
  readonly model: string;
  /** [C, H, W] */
  readonly input: readonly number[];
  readonly classes: number;
  readonly command: string;
  readonly weights: boolean;
  readonly train: TrainDefaults;
}

/** A --data example that fits the model's input. */
function dataExample(input: readonly number[]): string {
  const [c, h] = input;
  if (c === 1 && h === 28) return 'fashion-mnist';
  if (c === 3 && h === 32) return 'cifar10:/data/cifar-10-batches-bin';
  return 'folder:/data/images';
}

/** DIR/README.md: what the files are and the commands for CPU only, one machine with GPUs, several machines. */
export function readme(f: ReadmeFacts): string {
  const data = dataExample(f.input);
  const d = f.train;
  const train = `train.py --data ${data} --out RUN`;
  return `# ${f.model} for PyTorch

Written by \`${f.command}\`.

| file | what |
|---|---|
| model.py | the model as an \`nn.Module\` (input ${f.input.join('x')}, ${f.classes} classes); \`build()\` returns it${f.weights ? ' with the exported weights' : ''}. Module and parameter names are convlab's, which are torchvision's \`state_dict\` keys |
| train.py | training with \`torchrun\` and \`DistributedDataParallel\`, \`convlab train\`'s defaults |${f.weights ? '\n| weights.safetensors | the weights given to the export (`build()` loads them; `train.py --weights weights.safetensors` starts from them) |' : ''}

Only PyTorch is needed (1.13 or later; Pillow too for \`--data folder:DIR\`). \`--data\` takes what
\`convlab train\` takes: \`fashion-mnist[:DIR]\`, \`mnist:DIR\`, \`idx:DIR\` (IDX files, gzip or not),
\`cifar10:DIR\`, \`cifar100:DIR\` (the binary versions), \`folder:DIR\` (DIR/train/<class>/*.png|jpg and
DIR/test/<class>/*) and \`synthetic[:k=v,...]\`; nothing is downloaded.

## CPU only

    torchrun --standalone --nproc_per_node=2 ${train}

Each process takes an equal share of every batch and of the cores (gloo exchanges the gradients).
One process needs no torchrun: \`python3 ${train}\`.

## One machine, N GPUs

    torchrun --standalone --nproc_per_node=N ${train}

One process per GPU, nccl, mixed precision (\`--no-amp\` turns it off).

## Several machines

On each of the M machines (node rank 0 .. M-1), with HOST:PORT a machine all of them reach:

    torchrun --nnodes=M --nproc_per_node=N --rdzv_id=JOB --rdzv_backend=c10d --rdzv_endpoint=HOST:PORT ${train}

\`--data\` must name the same data on every machine; RUN is written by the process of global rank 0.

## What a run does

- \`--batch\` is the global batch (default ${d.batch}), split evenly across processes, so the steps, the
  learning-rate schedule and the batch-norm statistics (\`--sync-bn\`, the default with more than one
  process) are those of one process on the whole batch, as in \`convlab train\`.
- Defaults as \`convlab train\`: ${d.epochs} epochs; SGD, momentum ${d.sgd.momentum}${d.sgd.nesterov ? ' (Nesterov)' : ''}, weight decay ${d.sgd.weightDecay}, learning rate ${d.lr.sgd}
  (\`--optimizer adamw\`: ${d.lr.adamw}, weight decay ${d.adamw.weightDecay}); ${d.warmup} epoch of linear warm-up, then the ${d.schedule} schedule;
  random crops with zero padding and flips by kind of data; the auxiliary heads' loss weights of model.py
  (\`--aux-weight\`); \`--label-smoothing\`; inputs normalised by the training images' per-channel mean and std.
- \`RUN/metrics.jsonl\`: the loss of every step and the test loss and accuracy of every epoch.
  \`RUN/checkpoint.safetensors\` (weights, optimizer state, position) every \`--checkpoint-every\` steps and at
  each epoch's end: after a crash, run the same command with \`--resume\`.
- \`RUN/model.safetensors\`: the final weights, convlab's names, the normalisation in its metadata.
  Back in convlab:

      convlab evaluate ${f.model} --weights RUN/model.safetensors --data ${data}${f.input.join('x') === '3x224x224' ? '' : ` --input ${f.input.join('x')}`}

## Debian's PyTorch 1.13 with Python 3.11

Its torchrun stops with \`AttributeError: 'NoneType' object has no attribute 'get'\`: the default
\`--redirects 0\` and \`--tee 0\` parse to None under Python 3.11. Redirect only a local rank 9 that a
machine with fewer than 10 processes does not have, which redirects nothing:

    PET_REDIRECTS=9:1 PET_TEE=9:1 torchrun --standalone --nproc_per_node=2 ${train}
`;
}
