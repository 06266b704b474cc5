import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { synthetic } from '../../src/data/synthetic.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { ConvlabError } from '../../src/ir/errors.js';
import type { Graph } from '../../src/ir/graph.js';
import { initialWeights } from '../../src/ir/init.js';
import { resolveGraph } from '../../src/ir/resolve.js';
import { adaptiveAvgpool2d } from '../../src/ops/adaptive_avgpool2d.js';
import { batchnorm2d } from '../../src/ops/batchnorm2d.js';
import { conv2d } from '../../src/ops/conv2d.js';
import { dropout } from '../../src/ops/dropout.js';
import { flatten } from '../../src/ops/flatten.js';
import { linear } from '../../src/ops/linear.js';
import { relu } from '../../src/ops/relu.js';
import { readSafetensorsFile, writeSafetensors } from '../../src/runtime/safetensors.js';
import { readCheckpoint, writeCheckpoint, writeFileAtomic } from '../../src/train/checkpoint.js';
import type { TrainConfig } from '../../src/train/config.js';
import { evaluate } from '../../src/train/evaluate.js';
import { type TrainOptions, train } from '../../src/train/loop.js';
import { clock, lineSink, Progress, type ProgressSink } from '../../src/train/progress.js';
import { FILES } from '../../src/train/run_folder.js';
import { learningRate, type Schedule, schedule } from '../../src/train/schedule.js';
import { tempDir } from '../support/tmp.js';

const root = tempDir('train');
let runs = 0;
const freshDir = () => {
  const dir = join(root, `run${runs++}`);
  mkdirSync(dir);
  return dir;
};

/** Two conv-BN-ReLU layers, global pooling, a linear classifier: enough for the synthetic gratings. */
/** `dropoutP` puts dropout before the classifier. */
function tiny(shape: [number, number, number] = [1, 16, 16], classes = 10, dropoutP = 0): Graph {
  const b = new GraphBuilder('tiny', 'test');
  let x = b.input(shape);
  x = relu(
    batchnorm2d(conv2d(x, { out: 8, kernel: 3, padding: 1, bias: false }, 'conv1'), {}, 'bn1'),
    'relu1',
  );
  x = conv2d(x, { out: 16, kernel: 3, stride: 2, padding: 1, bias: false }, 'conv2');
  x = relu(batchnorm2d(x, {}, 'bn2'), 'relu2');
  x = flatten(adaptiveAvgpool2d(x, { output: 1 }, 'avgpool'), 'flatten');
  if (dropoutP > 0) x = dropout(x, { p: dropoutP }, 'dropout');
  b.output(linear(x, { out: classes }, 'fc'));
  return b.build();
}

const data = synthetic({ shape: [1, 16, 16], train: 320, test: 200 });

const config = (over: Partial<TrainConfig> = {}): TrainConfig => ({
  model: 'tiny',
  graph: 'tiny',
  data: 'synthetic',
  limit: null,
  epochs: 2,
  batch: 32,
  lr: 0.1,
  optimizer: { kind: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 5e-4 },
  schedule: 'cosine',
  warmup: 0.5,
  labelSmoothing: 0,
  auxWeight: null,
  aux: true,
  seed: 0,
  augment: { pad: 2, flip: true },
  normalise: { mean: [0.5], std: [0.25] },
  ...over,
});

const run = (out: string, c: TrainConfig, more: Partial<TrainOptions> = {}) =>
  train({ graph: tiny(), data, config: c, out, thread: false, ...more });

/** metrics.jsonl without the wall-clock fields. */
const metrics = (dir: string) =>
  readFileSync(join(dir, FILES.metrics), 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const { time, imagesPerSec, ...rest } = JSON.parse(line);
      expect(time).toBeGreaterThan(0);
      if (rest.kind === 'epoch') expect(imagesPerSec).toBeGreaterThan(0);
      return rest;
    });

const tensorsOf = (path: string) => readCheckpoint(path).tensors;

function expectSameTensors(a: string, b: string) {
  const x = tensorsOf(a);
  const y = tensorsOf(b);
  expect([...y.keys()]).toEqual([...x.keys()]);
  for (const [name, t] of x) {
    const u = y.get(name)!;
    expect(u.shape, name).toEqual(t.shape);
    // Bit for bit: a resumed run is the same computation.
    expect(Buffer.from(u.data.buffer).equals(Buffer.from(t.data.buffer)), name).toBe(true);
  }
}

describe('learning-rate schedules', () => {
  const s = (over: Partial<Schedule>) =>
    schedule({ kind: 'cosine', lr: 0.1, totalSteps: 100, warmupSteps: 0, ...over });

  it('warms up linearly, then follows the schedule', () => {
    const warm = s({ warmupSteps: 10 });
    expect(learningRate(warm, 0)).toBeCloseTo(0.01, 12);
    expect(learningRate(warm, 4)).toBeCloseTo(0.05, 12);
    expect(learningRate(warm, 9)).toBeCloseTo(0.1, 12);
    expect(learningRate(warm, 10)).toBeCloseTo(0.1, 12); // cosine starts at the peak
    expect(learningRate(warm, 55)).toBeCloseTo(0.05, 12); // half way through the cosine
    expect(learningRate(warm, 99)).toBeCloseTo(0.05 * (1 + Math.cos((Math.PI * 89) / 90)), 12);
  });

  it('step divides by 10 at 50% and 75%; constant stays', () => {
    const step = s({ kind: 'step' });
    expect([0, 49, 50, 74, 75, 99].map((i) => learningRate(step, i))).toEqual([
      0.1,
      0.1,
      0.1 * 0.1,
      0.1 * 0.1,
      0.1 * 0.1 ** 2,
      0.1 * 0.1 ** 2,
    ]);
    const constant = s({ kind: 'constant', warmupSteps: 4 });
    expect(learningRate(constant, 1)).toBeCloseTo(0.05, 12);
    expect(learningRate(constant, 50)).toBe(0.1);
  });

  it('refuses schedules that cannot run', () => {
    expect(() => s({ lr: 0 })).toThrow(/positive/);
    expect(() => s({ warmupSteps: 100 })).toThrow(/warm-up/);
    expect(() => s({ totalSteps: 0 })).toThrow(/at least one step/);
  });
});

describe('progress', () => {
  const ESC = '\u001b';
  const capture = (tty: boolean) => {
    const out: string[] = [];
    const sink: ProgressSink = tty
      ? { tty, columns: 200, write: (t) => out.push(t) }
      : lineSink((l) => out.push(l));
    return { out, progress: new Progress(sink, { epochs: 2, stepsPerEpoch: 20, batch: 8 }) };
  };
  const update = (index: number) => ({ epoch: 1, index, loss: 1.5, accuracy: 0.25, lr: 0.1 });
  const summary = {
    epoch: 1,
    loss: 1,
    accuracy: 0.5,
    testLoss: 0.9,
    testAccuracy: 0.6,
    imagesPerSec: 100,
    time: 75,
  };

  it('prints plain lines, one per tenth of an epoch, when stderr is not a terminal', () => {
    const { out, progress } = capture(false);
    for (let i = 1; i <= 20; i++) progress.step(update(i));
    progress.epoch(summary);
    expect(out).toHaveLength(11);
    expect(out[0]).toMatch(
      /^epoch 1\/2 step 2\/20 loss 1\.5000 acc 25\.00% lr 0\.1 \S+ img\/s ETA \d+:\d\d$/,
    );
    expect(out[10]).toBe(
      'epoch 1/2: train loss 1.0000 acc 50.00%, test loss 0.9000 acc 60.00%, 100 img/s, 1:15 elapsed',
    );
    expect(out.join('')).not.toContain('\r');
    expect(out.join('')).not.toContain(ESC);
  });

  it('redraws one bar in place on a terminal', () => {
    const { out, progress } = capture(true);
    progress.step(update(1));
    progress.step(update(2)); // within 100 ms of the last draw: skipped
    progress.step(update(20)); // the epoch's last step is always drawn
    progress.epoch(summary);
    expect(out).toHaveLength(4);
    expect(out[0]).toMatch(/^\repoch 1\/2 \[=+ +\] 1\/20 loss 1\.5000 .* ETA \d+:\d\d/);
    expect(out[0]!.endsWith(`${ESC}[K`)).toBe(true);
    expect(out[1]).toMatch(/\[={30}\] 20\/20 /);
    expect(out[2]).toBe(`\r${ESC}[K`);
    expect(out[3]).toMatch(/^epoch 1\/2: train loss/);
  });

  it('formats durations', () => {
    expect([clock(5), clock(75), clock(3725), clock(Number.NaN)]).toEqual([
      '0:05',
      '1:15',
      '1:02:05',
      '--:--',
    ]);
  });
});

describe('checkpoint files', () => {
  it('are written atomically, leaving no temporary file, and read back', () => {
    const dir = freshDir();
    const path = join(dir, 'c.safetensors');
    writeFileAtomic(path, Uint8Array.of(1, 2, 3));
    writeFileAtomic(path, Uint8Array.of(4, 5));
    expect([...readFileSync(path)]).toEqual([4, 5]);
    expect(readdirSync(dir)).toEqual(['c.safetensors']);
  });

  it('refuse a missing, corrupt or foreign file with a one-line user error', () => {
    const dir = freshDir();
    const missing = join(dir, 'none.safetensors');
    expect(() => readCheckpoint(missing)).toThrow(/no checkpoint to resume: .* does not exist/);
    const corrupt = join(dir, 'corrupt.safetensors');
    writeFileSync(corrupt, 'not a checkpoint at all');
    expect(() => readCheckpoint(corrupt)).toThrow(ConvlabError);
    const foreign = join(dir, 'weights.safetensors');
    writeFileSync(
      foreign,
      writeSafetensors([['w', { dtype: 'float32', shape: [1], data: Float32Array.of(1) }]]),
    );
    expect(() => readCheckpoint(foreign)).toThrow(/not a usable convlab training checkpoint: .*format/);
    const broken = join(dir, 'broken.safetensors');
    writeFileSync(
      broken,
      writeSafetensors([], { format: 'convlab-checkpoint', version: '1', state: '{"epoch": 1}' }),
    );
    expect(() => readCheckpoint(broken)).toThrow(/lacks the epoch/);
    for (const path of [missing, corrupt, foreign, broken]) {
      try {
        readCheckpoint(path);
      } catch (e) {
        expect((e as ConvlabError).exitCode).toBe(2);
        expect((e as Error).message).not.toContain('\n');
      }
    }
  });

  it('round-trip tensors of both dtypes and the state', () => {
    const dir = freshDir();
    const path = join(dir, FILES.checkpoint);
    const state = {
      config: config(),
      epoch: 1,
      step: 10,
      loader: { epoch: 1, batch: 0, order: [1, 2, 3, 4], augment: [5, 6, 7, 8], samples: 320, batchSize: 32 },
      partial: { steps: 0, loss: 0, correct: 0, seen: 0 },
      history: [],
      elapsed: 1.5,
      metricsBytes: 123,
    } as const;
    writeCheckpoint(path, state, [
      ['a.weight', { data: Float32Array.of(1, 2, 3, 4), shape: [2, 2] }],
      ['a.num_batches_tracked', { data: BigInt64Array.of(7n), shape: [] }],
    ]);
    const c = readCheckpoint(path);
    expect(c.state).toEqual(state);
    expect(c.tensors.get('a.weight')).toEqual({
      dtype: 'float32',
      shape: [2, 2],
      data: Float32Array.of(1, 2, 3, 4),
    });
    expect(c.tensors.get('a.num_batches_tracked')?.data).toEqual(BigInt64Array.of(7n));
  });
});

describe('evaluation graph', () => {
  it('computes the same loss and accuracy as the exported model with the arithmetic done here', async () => {
    const graph = tiny();
    const r = resolveGraph(graph);
    const weights = initialWeights(r, 3);
    const normalise = { mean: [0.4], std: [0.3] };
    const result = await evaluate(r, weights, data.test, normalise, 64);
    // Reference: the plain inference export, normalisation and cross-entropy in JavaScript.
    const { exportOnnx } = await import('../../src/onnx/export.js');
    const session = await ort.InferenceSession.create(exportOnnx(r, { mode: 'infer', weights }));
    const n = data.test.count;
    const x = Float32Array.from(data.test.images, (p) => (p / 255 - 0.4) / 0.3);
    const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', x, [n, 1, 16, 16]) });
    const logits = out[session.outputNames[0]!]!.data as Float32Array;
    let loss = 0;
    let correct = 0;
    for (let i = 0; i < n; i++) {
      const row = Array.from(logits.subarray(10 * i, 10 * i + 10));
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
      loss += lse - row[data.test.labels[i]!]!;
      if (row.indexOf(max) === data.test.labels[i]) correct++;
    }
    await session.release();
    expect(result.count).toBe(200);
    expect(result.loss).toBeCloseTo(loss / n, 4);
    expect(result.accuracy).toBe(correct / n);
  });
});

describe('the training loop', () => {
  it('learns: the loss falls and test accuracy ends far above chance', async () => {
    const out = freshDir();
    const result = await run(out, config({ epochs: 4, augment: { pad: 0, flip: false } }));
    expect(result.status).toBe('completed');
    expect(result).toMatchObject({ epoch: 4, step: 40, stepsPerEpoch: 10 });
    const [first, , , last] = result.history;
    expect(last!.loss).toBeLessThan(first!.loss * 0.6);
    expect(last!.testAccuracy).toBeGreaterThan(0.6); // chance is 0.1
    const lines = metrics(out);
    expect(lines.filter((l) => l.kind === 'step')).toHaveLength(40);
    expect(lines.filter((l) => l.kind === 'epoch').map((l) => l.epoch)).toEqual([1, 2, 3, 4]);
    expect(lines[0]).toMatchObject({ kind: 'step', epoch: 1, step: 1 });
    expect(lines[0].lr).toBeCloseTo(0.1 / 5, 12); // half an epoch (5 steps) of warm-up

    // The final model is the inference graph with the trained weights: it scores what the last evaluation said.
    const weights = readSafetensorsFile(join(out, FILES.weights)).tensors;
    const fromFile = new Map([...weights].map(([k, t]) => [k, t.data]));
    const again = await evaluate(tiny(), fromFile, data.test, config().normalise, 50);
    expect(again.accuracy).toBe(last!.testAccuracy);
    const session = await ort.InferenceSession.create(join(out, FILES.model));
    expect(session.inputNames).toEqual(['input']);
    await session.release();
    // The checkpoint holds the weights, buffers and momentum buffers at the end.
    const c = readCheckpoint(join(out, FILES.checkpoint));
    expect(c.state).toMatchObject({ epoch: 4, step: 40, partial: { steps: 0 } });
    expect(c.tensors.get('fc.weight.momentum_buffer')?.shape).toEqual([10, 16]);
    expect(c.tensors.get('bn1.num_batches_tracked')?.data).toEqual(BigInt64Array.of(40n));
  });

  it('resumed after an epoch, ends exactly as an uninterrupted run', async () => {
    const straight = freshDir();
    await run(straight, config());
    const split = freshDir();
    // The loop asks whether to stop after each step but an epoch's last (9 here), then after the epoch.
    let asked = 0;
    const first = await run(split, config(), { stop: () => (++asked === 10 ? 'test' : undefined) });
    expect(first).toMatchObject({ status: 'stopped', reason: 'test', epoch: 1, step: 10 });
    expect(first.history).toHaveLength(1);
    const second = await run(split, config(), { resume: readCheckpoint(join(split, FILES.checkpoint)) });
    expect(second.status).toBe('completed');
    expectSameTensors(join(straight, FILES.checkpoint), join(split, FILES.checkpoint));
    expect(metrics(split)).toEqual(metrics(straight));
    expect(readFileSync(join(split, FILES.model)).equals(readFileSync(join(straight, FILES.model)))).toBe(
      true,
    );
  });

  it('resumed at an epoch boundary and mid-epoch, with AdamW, augmentation and dropout, ends exactly the same', async () => {
    // Dropout's masks are a function of seed, node and step, so a new session draws the same ones.
    const graph = tiny([1, 16, 16], 10, 0.5);
    const c = config({
      epochs: 3,
      optimizer: { kind: 'adamw', beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 },
      lr: 0.01,
      schedule: 'step',
      labelSmoothing: 0.1,
    });
    const straight = freshDir();
    await run(straight, c, { graph });
    const split = freshDir();
    // Stop after step 13 (mid epoch 2), then after epoch 2's end, then finish.
    let steps = 0;
    const stopAt = (n: number) => () => (++steps === n ? 'test' : undefined);
    const a = await run(split, c, { graph, stop: stopAt(13) });
    expect(a).toMatchObject({ status: 'stopped', epoch: 1, step: 13 });
    expect(readCheckpoint(join(split, FILES.checkpoint)).state.partial.steps).toBe(3);
    // The loop asks after each step except an epoch's last, and after each epoch: 7 more steps reach epoch 2's end.
    steps = 0;
    const b = await run(split, c, {
      graph,
      stop: stopAt(7),
      resume: readCheckpoint(join(split, FILES.checkpoint)),
    });
    expect(b).toMatchObject({ status: 'stopped', epoch: 2, step: 20 });
    const done = await run(split, c, { graph, resume: readCheckpoint(join(split, FILES.checkpoint)) });
    expect(done).toMatchObject({ status: 'completed', epoch: 3, step: 30 });
    expect(done.history).toHaveLength(3);
    expectSameTensors(join(straight, FILES.checkpoint), join(split, FILES.checkpoint));
    expect(metrics(split)).toEqual(metrics(straight));
    expect(readCheckpoint(join(split, FILES.checkpoint)).tensors.has('fc.weight.exp_avg_sq')).toBe(true);
  });

  it('drops metrics written after the checkpoint it resumes from', async () => {
    const out = freshDir();
    await run(out, config({ epochs: 1 }), { stop: () => 'test' });
    const path = join(out, FILES.metrics);
    writeFileSync(path, `${readFileSync(path, 'utf8')}{"kind":"step","epoch":1,"step":2,"stale":true}\n`);
    await run(out, config({ epochs: 1 }), { resume: readCheckpoint(join(out, FILES.checkpoint)) });
    const lines = metrics(out);
    expect(lines.some((l) => l.stale)).toBe(false);
    expect(lines.map((l) => l.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10]);
  });

  it('stops on a non-finite loss with a clear error, leaving the last good checkpoint', async () => {
    const out = freshDir();
    const error = await run(out, config({ lr: 1e6, warmup: 0 })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConvlabError);
    expect((error as ConvlabError).exitCode).toBe(1);
    expect((error as Error).message).toMatch(
      /^the loss became (NaN|-?Infinity) at epoch 1, step \d+ .*training diverged\. The last good checkpoint \(epoch 0, step 0\) is intact/,
    );
    const c = readCheckpoint(join(out, FILES.checkpoint));
    expect(c.state.step).toBe(0);
    for (const [, t] of c.tensors)
      if (t.dtype === 'float32') expect(t.data.every(Number.isFinite)).toBe(true);
    expect(existsSync(join(out, FILES.model))).toBe(false);
  });
});
