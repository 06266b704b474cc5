/**
 * Inference speed, side by side on this machine: convlab's own ONNX export run by onnxruntime,
 * onnxruntime on PyTorch's export of the same torchvision model (torch.onnx.export), and PyTorch
 * itself (eval mode), with the same batch and thread count. Prints images/s and the ratios.
 *
 *   npx tsx bench/infer.ts                      # resnet50 at batch 8, mobilenet_v2 at batch 32
 *   npx tsx bench/infer.ts resnet18:16 googlenet:8 [--threads 2] [--seconds 60] [--json]
 *
 * The three engines take turns, about a second of batches each, for --seconds: whatever else the
 * machine does then falls on all three alike. Each figure is the median over every timed batch of its
 * engine; 'best' also compares the two onnxruntime sessions' fastest batches. PyTorch runs in
 * Debian's /usr/bin/python3 (bench/torch_infer.py --serve), which also writes PyTorch's export.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildModel, getModel, resolveGraph } from '../src/index.js';
import { exportOnnx } from '../src/onnx/export.js';
import { defaultThreads, floatTensor, openSession } from '../src/runtime/session.js';
import { median, randomBatch } from '../src/train/timing.js';
import { openPeer } from './ort_peer.js';
import { inTurns, PYTHON, printTable, TorchPeer, timed } from './turns.js';

const here = dirname(fileURLToPath(import.meta.url));

interface Row {
  model: string;
  batch: number;
  threads: number;
  /** images/s */
  convlab: number;
  ortOnTorchExport: number;
  pytorch: number;
  gflopsConvlab: number;
  convlabOverPytorch: number;
  convlabOverOrtOnTorchExport: number;
  /** convlab / ort(torch export) from each session's fastest batch. */
  bestRunRatio: number;
  /** Timed batches of each engine. */
  runs: number;
}

async function compare(
  model: string,
  batch: number,
  threads: number,
  seconds: number,
  dir: string,
): Promise<Row> {
  const entry = getModel(model);
  const shape = [batch, ...entry.input];
  const file = join(dir, `${model}.onnx`);
  const torchArgs = [
    model,
    '--batch',
    String(batch),
    '--input',
    entry.input.join('x'),
    '--threads',
    String(threads),
  ];
  process.stderr.write(`${model} b${batch}: torch.onnx.export...\n`);
  execFileSync(
    PYTHON,
    [join(here, 'torch_infer.py'), ...torchArgs, '--export', file, '--runs', '1', '--warmup', '0'],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );

  process.stderr.write(
    `${model} b${batch}: convlab, onnxruntime on PyTorch's export, PyTorch, in turns...\n`,
  );
  const r = resolveGraph(buildModel(model), { batch });
  const macs = r.nodes.reduce((s, n) => s + (n.inference ? n.macs : 0), 0);
  const ours = await openSession(exportOnnx(r, { mode: 'infer' }), { threads });
  const peer = await openPeer(file, threads);
  const torch = await TorchPeer.start('torch_infer.py', torchArgs);
  const x = randomBatch(shape);
  const feedsOurs = { [ours.inputNames[0]!]: floatTensor(x, shape) };
  const feedsPeer = { [peer.inputNames[0]!]: floatTensor(x, shape) };
  const times = await inTurns(
    [
      (k) => timed(() => ours.run(feedsOurs), k),
      (k) => timed(() => peer.run(feedsPeer), k),
      (k) => torch.time(k),
    ],
    seconds,
    10,
  );
  torch.stop();
  await ours.release();
  await peer.release();

  const [convlab, ortOnTorchExport, pytorch] = times.map((t) => batch / (median(t) / 1000)) as [
    number,
    number,
    number,
  ];
  return {
    model,
    batch,
    threads,
    convlab,
    ortOnTorchExport,
    pytorch,
    gflopsConvlab: (2 * macs * convlab) / batch / 1e9,
    convlabOverPytorch: convlab / pytorch,
    convlabOverOrtOnTorchExport: convlab / ortOnTorchExport,
    bestRunRatio: Math.min(...times[1]!) / Math.min(...times[0]!),
    runs: times[0]!.length,
  };
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    threads: { type: 'string' },
    seconds: { type: 'string', default: '60' },
    json: { type: 'boolean' },
  },
});
const jobs = (positionals.length ? positionals : ['resnet50:8', 'mobilenet_v2:32']).map((j) => {
  const [model, batch] = j.split(':');
  return { model: model!, batch: Number(batch ?? 1) };
});
const threads = values.threads ? Number(values.threads) : defaultThreads();
const dir = mkdtempSync(join(tmpdir(), 'convlab-bench-'));
const rows: Row[] = [];
try {
  for (const { model, batch } of jobs)
    rows.push(await compare(model, batch, threads, Number(values.seconds), dir));
} finally {
  rmSync(dir, { recursive: true, force: true });
}

if (values.json) {
  process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
} else {
  const f = (x: number) => x.toFixed(1);
  const header = [
    'model',
    'batch',
    'threads',
    'convlab img/s',
    'ort(torch export) img/s',
    'PyTorch img/s',
    'convlab GFLOP/s',
    'vs PyTorch',
    'vs ort(torch export)',
    'best',
  ];
  const lines = rows.map((r) => [
    r.model,
    String(r.batch),
    String(r.threads),
    f(r.convlab),
    f(r.ortOnTorchExport),
    f(r.pytorch),
    f(r.gflopsConvlab),
    `${r.convlabOverPytorch.toFixed(2)}x`,
    `${r.convlabOverOrtOnTorchExport.toFixed(2)}x`,
    `${r.bestRunRatio.toFixed(2)}x`,
  ]);
  printTable(header, lines);
  process.stdout.write(
    'GFLOP/s: 2 x conv/linear MACs per second. best: convlab / ort(torch export) on their fastest batches.\n',
  );
}
