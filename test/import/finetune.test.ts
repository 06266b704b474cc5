import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { withOnnxFile } from '../../src/import/file.js';
import { readWeights } from '../../src/import/onnx.js';
import type { Graph } from '../../src/ir/graph.js';
import { Rng, type WeightData } from '../../src/ir/init.js';
import type { StepSession, TrainingBackend } from '../../src/train/backend.js';
import { trainingBackend } from '../../src/train/backends.js';
import { onnxruntimeBackend } from '../../src/train/step.js';
import { ROOT } from '../support/paths.js';

/*
 * Fine-tuning an imported model: torchvision's efficientnet_b0 and convnext_tiny exported by Debian's
 * PyTorch 1.13 with BatchNorm kept (tools/torchvision_onnx.py at 3x64x64, cached outside the
 * repository), imported, then trained from the file's weights: the session starts from exactly the
 * file's weights, a few steps on one fixed synthetic batch lower the loss, and the gradients of a
 * slice of parameters (the first convolution, a normalisation layer in the middle, the classifier)
 * equal central finite differences of the loss.
 */

const PYTHON = '/usr/bin/python3';
const SCRIPT = join(ROOT, 'tools', 'torchvision_onnx.py');
const SIZE = 64;

const haveTorch = spawnSync(PYTHON, ['-c', 'import torch, torchvision, onnx']).status === 0;
if (!haveTorch)
  console.warn(`ONNX fine-tune tests SKIPPED: ${PYTHON} cannot import torch, torchvision and onnx`);

/** The fixture folder, keyed by the script's content so an edited script regenerates. */
const CACHE = join(
  tmpdir(),
  `convlab-onnx-${createHash('sha256').update(readFileSync(SCRIPT)).digest('hex').slice(0, 12)}-s${SIZE}`,
);

/** `model` exported with BatchNorm kept at opset 17, once; asynchronously, so vitest's worker keeps answering. */
async function fixture(model: string): Promise<string> {
  const path = join(CACHE, `${model}.op17.bn.onnx`);
  if (!existsSync(join(CACHE, `${model}.json`))) {
    mkdirSync(CACHE, { recursive: true });
    const args = [
      SCRIPT,
      CACHE,
      '--models',
      model,
      '--opsets',
      '17',
      '--forms',
      'bn',
      '--size',
      String(SIZE),
    ];
    await promisify(execFile)(PYTHON, args, { timeout: 600_000 });
  }
  return path;
}

const SGD = { kind: 'sgd', momentum: 0, nesterov: false, weightDecay: 0 } as const;

/** One fixed batch of seeded noise images with fixed labels. */
function batchOf(n: number) {
  const rng = new Rng(3, 'finetune');
  const dims = [n, 3, SIZE, SIZE];
  const data = Float32Array.from({ length: n * 3 * SIZE * SIZE }, () => rng.normal());
  return { images: { data, dims }, labels: Int32Array.from({ length: n }, (_, i) => (7 * i + 3) % 1000) };
}

async function session(
  backend: TrainingBackend,
  graph: Graph,
  weights: Map<string, WeightData>,
  batch: number,
) {
  const options = { batch, optimizer: SGD, labelSmoothing: 0, seed: 1 };
  return backend.create(
    graph,
    { ...options, optimizer: { ...SGD, momentum: 0.9 } },
    { seed: 1, weights },
    {},
  );
}

/** The names of the state tensors that differ from the file's weights (none when it starts from them). */
function differing(s: StepSession, weights: Map<string, WeightData>): string[] {
  const state = s.snapshot();
  return [...weights]
    .filter(([name, w]) => {
      const v = state.get(name);
      return !v || v.length !== w.length || v.some((x, i) => x !== w[i]);
    })
    .map(([name]) => name);
}

/**
 * The first convolution's weight, a normalisation layer's weight near the middle, the classifier's
 * weight. The normalisation layer is the one nearest the middle whose gradient is above float32's
 * noise: convnext's blocks scale their branch by layer_scale = 1e-6 at initialisation, so the
 * LayerNorm inside a block gets a gradient ~1e-6 times smaller than the rest (zero in float32 once
 * read back as w - (w - grad)); the LayerNorms of its downsampling layers do not.
 */
function slice(graph: Graph, params: readonly string[], grads: Map<string, Float32Array>): string[] {
  const opOf = (name: string) => graph.nodes.find((n) => n.name === name.slice(0, name.lastIndexOf('.')))?.op;
  const weightsOf = (op: string) => params.filter((p) => p.endsWith('.weight') && opOf(p) === op);
  const norms = [...weightsOf('batchnorm2d'), ...weightsOf('layernorm')].sort(
    (a, b) => params.indexOf(a) - params.indexOf(b),
  );
  const middle = norms.length / 2;
  const norm = [...norms.keys()]
    .sort((a, b) => Math.abs(a - middle) - Math.abs(b - middle))
    .map((i) => norms[i]!)
    .find((name) => grads.get(name)!.some((g) => Math.abs(g) > 1e-2));
  return [weightsOf('conv2d')[0]!, norm!, weightsOf('linear').at(-1)!];
}

/**
 * Gradients read back through plain SGD at lr 1 (next = w - grad) against central differences of the
 * loss (a step at lr 0 changes no weight; BatchNorm in training mode normalises with the batch's own
 * statistics, so its running statistics do not enter the loss). The two elements of largest
 * gradient of each tensor are checked, where the difference quotient is far above float32's noise.
 */
async function gradientCheck(graph: Graph, weights: Map<string, WeightData>) {
  const { images, labels } = batchOf(2);
  const s = await onnxruntimeBackend.create(
    graph,
    { batch: 2, optimizer: SGD, labelSmoothing: 0, seed: 1 },
    { seed: 1, weights },
    { threads: 2 },
  );
  try {
    const params = s.state.filter((e) => e.kind === 'param').map((e) => e.name);
    const base = new Map([...s.snapshot()].map(([k, v]) => [k, v.slice()]));
    await s.step(images, labels, 1, 1);
    const after = s.snapshot();
    const grads = new Map(
      params.map((name) => {
        const w = base.get(name) as Float32Array;
        const next = after.get(name) as Float32Array;
        return [name, Float32Array.from(w, (v, i) => v - next[i]!)];
      }),
    );
    const lossWith = async (name: string, i: number, value: number) => {
      const w = (base.get(name) as Float32Array).slice();
      w[i] = value;
      s.restore(new Map([...base, [name, w]]));
      return (await s.step(images, labels, 0, 1)).loss;
    };
    const rows: { name: string; index: number; grad: number; fd: number }[] = [];
    for (const name of slice(graph, params, grads)) {
      const w = base.get(name) as Float32Array;
      const grad = grads.get(name)!;
      const top = [...grad.keys()].sort((a, b) => Math.abs(grad[b]!) - Math.abs(grad[a]!)).slice(0, 2);
      for (const i of top) {
        const h = 1e-3;
        const fd = ((await lossWith(name, i, w[i]! + h)) - (await lossWith(name, i, w[i]! - h))) / (2 * h);
        rows.push({ name, index: i, grad: grad[i]!, fd });
      }
    }
    return rows;
  } finally {
    await s.release();
  }
}

describe.skipIf(!haveTorch)('an imported torchvision model fine-tunes', () => {
  for (const model of ['efficientnet_b0', 'convnext_tiny']) {
    it(`${model}: starts from the file's weights, the loss falls, gradients equal finite differences`, async () => {
      const path = await fixture(model);
      const { graph, weights } = withOnnxFile(path, {}, (m) => ({ graph: m.graph, weights: readWeights(m) }));

      // The default backend is what `convlab train` uses (native oneDNN where built, falling back to
      // onnxruntime for ops it lacks); both start from the file's weights.
      const { images, labels } = batchOf(4);
      const s = await session(await trainingBackend(), graph, weights, 4);
      const losses: number[] = [];
      try {
        expect(differing(s, weights)).toEqual([]);
        for (let step = 1; step <= 5; step++) losses.push((await s.step(images, labels, 0.01, step)).loss);
      } finally {
        await s.release();
      }
      console.log(`${model} fine-tune losses: ${losses.map((l) => l.toFixed(4)).join(' ')}`);
      expect(losses.at(-1)!).toBeLessThan(0.5 * losses[0]!);

      const rows = await gradientCheck(graph, weights);
      for (const r of rows)
        console.log(
          `${model} ${r.name}[${r.index}] grad ${r.grad.toExponential(4)} fd ${r.fd.toExponential(4)}`,
        );
      expect(new Set(rows.map((r) => r.name)).size).toBe(3);
      for (const r of rows) {
        // float32 throughout (onnxruntime's CPU Conv has no float64 kernel): a loss near 7 carries
        // about 1e-6 of rounding, i.e. ~1e-3 in a difference quotient with h = 1e-3, and the
        // curvature the central difference ignores is under 1% at that step (measured: 0.6% at
        // worst, on the first convolution). A wrong rule is off by far more (a factor, a sign).
        const tolerance = 0.02 * Math.max(Math.abs(r.grad), Math.abs(r.fd)) + 1e-3;
        expect(Math.abs(r.grad - r.fd), `${r.name}[${r.index}]`).toBeLessThan(tolerance);
      }
    }, 600_000);
  }
});
