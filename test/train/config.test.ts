import { describe, expect, it } from 'vitest';
import { OPTIMIZER_BUFFERS } from '../../src/analysis/memory.js';
import { synthetic } from '../../src/data/synthetic.js';
import { ConvlabError } from '../../src/ir/errors.js';
import { BENCH_OPTIMIZER } from '../../src/train/bench.js';
import {
  ADAMW,
  augmentationFor,
  DEFAULTS,
  freshConfig,
  type RunIdentity,
  SGD,
} from '../../src/train/config.js';

const train = synthetic({ shape: [3, 32, 32], train: 16, test: 8 }).train;
const run = (kind: RunIdentity['kind']): RunIdentity => ({
  model: 'resnet20',
  graph: 'resnet20',
  source: kind,
  kind,
  train,
  normalise: { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
});

describe('training configuration', () => {
  it("a fresh run takes convlab train's defaults and its data's augmentation", () => {
    expect(freshConfig({}, run('cifar10'))).toEqual({
      model: 'resnet20',
      graph: 'resnet20',
      data: 'cifar10',
      limit: null,
      epochs: 10,
      batch: 128,
      lr: 0.1,
      optimizer: { kind: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 5e-4 },
      schedule: 'cosine',
      warmup: 1,
      labelSmoothing: 0,
      auxWeight: null,
      aux: true,
      seed: 0,
      augment: { pad: 4, flip: true },
      normalise: run('cifar10').normalise,
    });
    expect(freshConfig({}, run('cifar10')).optimizer).toEqual(SGD);
  });

  it('what is given wins; AdamW takes its own rate and decay; no momentum means no Nesterov', () => {
    const adamw = freshConfig({ optimizer: 'adamw' }, run('synthetic'));
    expect(adamw.optimizer).toEqual(ADAMW);
    expect(adamw.lr).toBe(DEFAULTS.lr.adamw);
    expect(adamw.augment).toEqual({ pad: 0, flip: false });
    expect(freshConfig({ momentum: 0 }, run('synthetic')).optimizer).toMatchObject({
      momentum: 0,
      nesterov: false,
    });
    expect(freshConfig({ epochs: 1 }, run('synthetic')).warmup).toBe(0);
    expect(freshConfig({ pad: 1, flip: true, lr: 0.3 }, run('mnist'))).toMatchObject({
      lr: 0.3,
      augment: { pad: 1, flip: true },
    });
    expect(() => freshConfig({ epochs: 2, warmup: 2 }, run('synthetic'))).toThrow(ConvlabError);
  });

  it('augmentation by kind of data: flips only where a mirror image keeps its class', () => {
    expect(augmentationFor('fashion-mnist', 28)).toEqual({ pad: 2, flip: true });
    expect(augmentationFor('mnist', 28)).toEqual({ pad: 2, flip: false });
    expect(augmentationFor('folder', 64)).toEqual({ pad: 8, flip: true });
  });

  it("one SGD: bench train is convlab train's SGD with plain momentum, as bench/torch_train.py; memory counts the slots the optimisers keep", () => {
    expect(BENCH_OPTIMIZER).toEqual({ ...SGD, nesterov: false });
    expect(OPTIMIZER_BUFFERS).toEqual({ sgd: 0, momentum: 1, adam: 2 });
  });
});
