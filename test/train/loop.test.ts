import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { ConvlabError } from '../../src/ir/errors.js';
import { readSafetensorsFile } from '../../src/runtime/safetensors.js';
import { readCheckpoint } from '../../src/train/checkpoint.js';
import type { TrainConfig } from '../../src/train/config.js';
import { evaluate } from '../../src/train/evaluate.js';
import { type TrainOptions, train } from '../../src/train/loop.js';
import { FILES } from '../../src/train/run_folder.js';
import { tempDir } from '../support/tmp.js';
import { tinyConfig as config, tinyData as data, tiny } from './tiny.js';

const root = tempDir('train');
let runs = 0;
const freshDir = () => {
  const dir = join(root, `run${runs++}`);
  mkdirSync(dir);
  return dir;
};

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
