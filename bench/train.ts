/**
 * Training speed, side by side on this machine: convlab's training step (on --backend, default
 * the native oneDNN backend where it is built, else onnxruntime; one step is train-mode forward,
 * cross-entropy, backward, SGD with momentum 0.9 and weight decay 5e-4) and PyTorch's
 * (bench/torch_train.py: the same model, batch, input, thread count and optimiser), PyTorch twice:
 * as users run it, and with glibc's mmap/trim thresholds raised (--tuned-malloc), which spares it
 * this VM's cost of fresh pages. Prints images/s, the ratio to each peer and to the faster one,
 * the step's GFLOP/s (three times the forward's FLOPs, the usual estimate), convlab's RSS and what
 * it grew by over the session (beside convlab's memory estimate of the step); on the native
 * backend also its convolutions' own GFLOP/s and where a step's time goes by op, from steps
 * profiled primitive by primitive after the timed turns.
 *
 *   npx tsx bench/train.ts                               # resnet18 b64 and resnet20 b128, at 3x32x32
 *   npx tsx bench/train.ts resnet18:64 resnet20:128:1x28x28 [--threads 2] [--seconds 60] [--backend B] [--json]
 *
 * A job is MODEL:BATCH[:CxHxW] (input 3x32x32 unless given). The three engines take turns, about a
 * second of steps each, for --seconds, so whatever else the machine does falls on all alike; each
 * figure is the median over every timed step of its engine. The load average is printed beside
 * the figures: on a shared machine the ratios hold better than the absolute numbers.
 * PyTorch runs in Debian's /usr/bin/python3; a model torchvision lacks runs there as convlab's own
 * PyTorch export of it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { analyseMemory } from '../src/analysis/memory.js';
import { type ResolvedGraph, resolveGraph } from '../src/ir/resolve.js';
import { binding, bindingBuilt } from '../src/native/binding.js';
import { modelPy } from '../src/pytorch/model_py.js';
import { defaultThreads } from '../src/runtime/session.js';
import type { ImageBatch, TrainingBackend } from '../src/train/backend.js';
import { trainingBackend } from '../src/train/backends.js';
import { BENCH_OPTIMIZER } from '../src/train/bench.js';
import { NativeSession } from '../src/train/native.js';
import { median, randomBatch } from '../src/train/timing.js';
import { buildModel } from '../src/zoo/index.js';
import { inTurns, printTable, TorchPeer, timed } from './turns.js';

interface Row {
  backend: string;
  model: string;
  batch: number;
  input: [number, number, number];
  threads: number;
  /** images/s */
  convlab: number;
  pytorch: number;
  /** PyTorch with glibc's mmap/trim thresholds raised. */
  pytorchTunedMalloc: number;
  convlabOverPytorch: number;
  convlabOverPytorchTunedMalloc: number;
  /** Against the faster of the two peers. */
  convlabOverFasterPytorch: number;
  /** convlab's step, at three times the forward's FLOPs. */
  gflops: number;
  /**
   * The native backend's convolutions alone (forward, backward-data where the input needs it,
   * backward-weights), their FLOPs over their time in a step profiled primitive by primitive.
   */
  convGflops?: number;
  /** Milliseconds per step by op, the median of profiled steps (native backend). */
  profile?: Record<string, number>;
  /** convlab's resident set after its steps (MiB). */
  rssMiB: number;
  /** What the resident set grew by from just before the session was created to after its steps (MiB). */
  stepRssMiB: number;
  /** convlab's own memory estimate of the step (`convlab memory MODEL --mode train --optimizer momentum`: its peak, MiB). */
  estimateMiB: number;
  /** One-minute load average before and after. */
  load: [number, number];
  /** Timed steps of each engine. */
  runs: number;
}

/**
 * The model as convlab's PyTorch export writes it, for the peer to build where neither torchvision
 * nor its CIFAR ResNets have the model (densenet_bc_100_k12, wrn28_10): the same graph, in PyTorch.
 */
function exportedModule(r: ResolvedGraph): string {
  const path = join(mkdtempSync(join(tmpdir(), 'convlab-bench-train-')), 'model.py');
  const source = { command: 'bench/train.ts', description: r.graph.name, weights: false };
  writeFileSync(path, modelPy(r, source));
  return path;
}

/** Milliseconds by op of a native step, the median over five steps profiled primitive by primitive. */
function profiled(session: NativeSession, images: ImageBatch, labels: Int32Array, step: number) {
  const runs = Array.from({ length: 5 }, (_, i) => session.profile(images, labels, 0, step + 1 + i));
  return Object.fromEntries([...runs[0]!.keys()].map((op) => [op, median(runs.map((m) => m.get(op) ?? 0))]));
}

/** FLOPs of a step's convolutions: forward and backward-weights, and backward-data unless the input is the image. */
function convolutionFlops(r: ResolvedGraph): number {
  const convs = r.nodes.filter((n) => n.node.op === 'conv2d');
  return convs.reduce((sum, n) => sum + n.flops * (n.inputs[0] === 0 ? 2 : 3), 0);
}

async function compare(
  backend: TrainingBackend,
  model: string,
  batch: number,
  input: [number, number, number],
  threads: number,
  seconds: number,
): Promise<Row> {
  process.stderr.write(
    `${model} b${batch} ${input.join('x')}: compiling the training step, starting PyTorch...\n`,
  );
  const graph = buildModel(model, { input });
  const r = resolveGraph(graph, { batch });
  const classes = r.byName.get(r.outputs.find((o) => o.role === 'main')!.node)!.ctx.output[1]!;
  const rssBefore = process.memoryUsage().rss;
  const session = await backend.create(
    graph,
    { batch, optimizer: BENCH_OPTIMIZER },
    { seed: 0 },
    { threads },
  );
  const shape = [batch, ...input];
  const images = { data: randomBatch(shape), dims: shape };
  const labels = Int32Array.from({ length: batch }, (_, i) => (i * 7919) % classes);
  let step = 0;
  const module = exportedModule(r);
  const peerArgs = [
    model,
    '--batch',
    String(batch),
    '--input',
    input.join('x'),
    '--classes',
    String(classes),
    '--threads',
    String(threads),
    '--module',
    module,
  ];
  const torch = await TorchPeer.start('torch_train.py', peerArgs);
  const tuned = await TorchPeer.start('torch_train.py', [...peerArgs, '--tuned-malloc']);
  const loadBefore = loadavg()[0]!;
  process.stderr.write(`${model} b${batch}: convlab and PyTorch (twice) in turns for ${seconds} s...\n`);
  const times = await inTurns(
    [
      (k) => timed(() => session.step(images, labels, 0, ++step), k),
      (k) => torch.time(k),
      (k) => tuned.time(k),
    ],
    seconds,
    5,
  );
  const rss = process.memoryUsage().rss;
  const profile = session instanceof NativeSession ? profiled(session, images, labels, step) : undefined;
  torch.stop();
  tuned.stop();
  rmSync(dirname(module), { recursive: true, force: true });
  await session.release();
  const [convlab, pytorch, pytorchTunedMalloc] = times.map((t) => batch / (median(t) / 1000)) as [
    number,
    number,
    number,
  ];
  const forwardFlops = r.nodes.reduce((sum, n) => sum + n.flops, 0);
  return {
    backend: session.backend,
    model,
    batch,
    input,
    threads,
    convlab,
    pytorch,
    pytorchTunedMalloc,
    convlabOverPytorch: convlab / pytorch,
    convlabOverPytorchTunedMalloc: convlab / pytorchTunedMalloc,
    convlabOverFasterPytorch: convlab / Math.max(pytorch, pytorchTunedMalloc),
    gflops: (3 * forwardFlops * (convlab / batch)) / 1e9,
    ...(profile && { profile, convGflops: convolutionFlops(r) / (profile.conv2d ?? Number.NaN) / 1e6 }),
    rssMiB: rss / 2 ** 20,
    stepRssMiB: (rss - rssBefore) / 2 ** 20,
    estimateMiB: analyseMemory(r, { mode: 'train', optimizer: 'momentum' }).bytes.peak / 2 ** 20,
    load: [loadBefore, loadavg()[0]!],
    runs: times[0]!.length,
  };
}

/** Where a native step's time goes, by op (the ms of a profiled step and its share). */
function printProfile(r: Row, profile: Record<string, number>): void {
  const total = Object.values(profile).reduce((a, b) => a + b, 0);
  const lines = Object.entries(profile)
    .sort((a, b) => b[1] - a[1])
    .map(([op, ms]) => [op, ms.toFixed(2), `${((100 * ms) / total).toFixed(1)}%`]);
  process.stdout.write(
    `\n${r.model} b${r.batch}, one step profiled primitive by primitive (${total.toFixed(1)} ms):\n`,
  );
  printTable(['op', 'ms', 'share'], lines);
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    threads: { type: 'string' },
    seconds: { type: 'string', default: '60' },
    backend: { type: 'string' },
    json: { type: 'boolean' },
  },
});
const jobs = (positionals.length ? positionals : ['resnet18:64', 'resnet20:128']).map((j) => {
  const [model, batch, input] = j.split(':');
  return {
    model: model!,
    batch: Number(batch ?? 64),
    input: (input ?? '3x32x32').split('x').map(Number) as [number, number, number],
  };
});
const threads = values.threads ? Number(values.threads) : defaultThreads();
const backend = await trainingBackend(values.backend);
// Loaded before any session, so that a step's RSS growth holds the step's memory, not the library's.
if (bindingBuilt()) binding();
const rows: Row[] = [];
for (const { model, batch, input } of jobs)
  rows.push(await compare(backend, model, batch, input, threads, Number(values.seconds)));

if (values.json) {
  process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
} else {
  const header = [
    'model',
    'batch',
    'input',
    'threads',
    'backend',
    'convlab img/s',
    'PyTorch img/s',
    'PyTorch tuned-malloc img/s',
    'vs PyTorch',
    'vs tuned',
    'vs faster',
    'GFLOP/s',
    'conv GFLOP/s',
    'RSS MiB',
    'step RSS MiB',
    'estimate MiB',
    'load',
  ];
  const lines = rows.map((r) => [
    r.model,
    String(r.batch),
    r.input.join('x'),
    String(r.threads),
    r.backend,
    r.convlab.toFixed(1),
    r.pytorch.toFixed(1),
    r.pytorchTunedMalloc.toFixed(1),
    `${r.convlabOverPytorch.toFixed(2)}x`,
    `${r.convlabOverPytorchTunedMalloc.toFixed(2)}x`,
    `${r.convlabOverFasterPytorch.toFixed(2)}x`,
    r.gflops.toFixed(0),
    r.convGflops?.toFixed(0) ?? '-',
    r.rssMiB.toFixed(0),
    r.stepRssMiB.toFixed(0),
    r.estimateMiB.toFixed(0),
    r.load.map((l) => l.toFixed(1)).join('-'),
  ]);
  printTable(header, lines);
  process.stdout.write(
    'One step: train-mode forward, cross-entropy, backward, SGD (momentum 0.9, weight decay 5e-4).\n',
  );
  for (const r of rows.filter((r) => r.profile)) printProfile(r, r.profile!);
}
