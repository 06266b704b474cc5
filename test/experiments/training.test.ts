import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../../src/data/sources.js';
import type { SeedContext } from '../../src/experiments/experiment.js';
import { RESTART, Stopped, trainRun } from '../../src/experiments/training.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { conv2d } from '../../src/ops/conv2d.js';
import { flatten } from '../../src/ops/flatten.js';
import { linear } from '../../src/ops/linear.js';
import { relu } from '../../src/ops/relu.js';
import { learningRate, schedule } from '../../src/train/schedule.js';
import { onnxruntimeBackend } from '../../src/train/step.js';
import { tempDir } from '../support/tmp.js';

const root = tempDir('training');

const tinyNet = () => {
  const b = new GraphBuilder('tiny', 'experiment');
  const x = relu(conv2d(b.input([1, 8, 8]), { out: 4, kernel: 3, padding: 1 }, 'conv'), 'relu');
  b.output(linear(flatten(x, 'flatten'), { out: 4 }, 'fc'));
  return b.build();
};

const context = async (
  work: string,
  stop: () => string | undefined = () => undefined,
): Promise<SeedContext> => ({
  data: await loadDataset('synthetic:shape=1x8x8,classes=4,train=64,test=16', { seed: 0 }),
  source: 'synthetic',
  budget: 'quick',
  scale: 'full',
  seed: 3,
  work,
  log: () => {},
  backend: onnxruntimeBackend,
  stop,
});

describe('the warm-restart schedule', () => {
  it('runs, over its first half, exactly the cosine schedule of a run half as long', () => {
    const full = schedule({ kind: 'cosine-restart', lr: 0.1, totalSteps: 20, warmupSteps: 2 });
    const half = schedule({ kind: 'cosine', lr: 0.1, totalSteps: 10, warmupSteps: 2 });
    for (let s = 0; s < 10; s++) expect(learningRate(full, s)).toBe(learningRate(half, s));
    // Then the rate restarts at its peak (no second warm-up) and anneals again.
    expect(learningRate(full, 10)).toBe(0.1);
    expect(learningRate(full, 15)).toBeCloseTo(0.05, 12);
    expect(learningRate(full, 19)).toBeLessThan(0.01);
    expect(() => schedule({ kind: 'cosine-restart', lr: 0.1, totalSteps: 8, warmupSteps: 4 })).toThrow(
      /shorter than the first cycle \(4 steps\)/,
    );
  });

  it('makes the first half of a training run the run of half the budget, step for step', async () => {
    const ctx = await context(join(root, 'prefix'));
    const spec = { graph: tinyNet(), data: ctx.data, batch: 16, lr: 0.1, probes: { gradNorms: true } };
    const full = await trainRun(ctx, { ...spec, name: 'full', epochs: 4, schedule: RESTART });
    const half = await trainRun(ctx, { ...spec, name: 'half', epochs: 2, schedule: 'cosine' });
    expect(full.steps).toHaveLength(16);
    expect(full.steps.slice(0, 8).map((s) => [s.loss, s.lr, s.accuracy])).toEqual(
      half.steps.map((s) => [s.loss, s.lr, s.accuracy]),
    );
    expect(full.probes.slice(0, 8)).toEqual(half.probes);
    expect(full.epochs.slice(0, 2).map((e) => e.testAccuracy)).toEqual(
      half.epochs.map((e) => e.testAccuracy),
    );
    // A completed run is read back from its folder rather than trained again.
    const again = await trainRun(ctx, { ...spec, name: 'full', epochs: 4, schedule: RESTART });
    expect(again.steps).toEqual(full.steps);
    expect(again.probes).toEqual(full.probes);
  }, 120_000);

  it('resumes a stopped run from its checkpoint with the same steps and probes as one that ran through', async () => {
    const work = join(root, 'resume');
    const spec = { graph: tinyNet(), batch: 16, lr: 0.1, epochs: 2, probes: { gradNorms: true } };
    let steps = 0;
    const stopping = await context(work, () => (++steps === 3 ? 'SIGINT' : undefined));
    await expect(trainRun(stopping, { ...spec, data: stopping.data, name: 'run' })).rejects.toBeInstanceOf(
      Stopped,
    );
    expect(existsSync(join(work, 'run', 'checkpoint.safetensors'))).toBe(true);
    const logs: string[] = [];
    const resumed = await trainRun(
      { ...(await context(work)), log: (t) => logs.push(t) },
      { ...spec, data: stopping.data, name: 'run' },
    );
    expect(logs.join('\n')).toMatch(/resuming at step 3/);
    const straight = await trainRun(await context(join(root, 'straight')), {
      ...spec,
      data: stopping.data,
      name: 'run',
    });
    expect(resumed.steps.map((s) => [s.loss, s.lr])).toEqual(straight.steps.map((s) => [s.loss, s.lr]));
    expect(resumed.probes).toEqual(straight.probes);
    expect(resumed.epochs.map((e) => e.testAccuracy)).toEqual(straight.epochs.map((e) => e.testAccuracy));
  }, 120_000);
});
