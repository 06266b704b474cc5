import { describe, expect, it } from 'vitest';
import { bindingBuilt } from '../../src/native/binding.js';
import { conv2d } from '../../src/ops/conv2d.js';
import { relu } from '../../src/ops/relu.js';
import type { ImageBatch } from '../../src/train/backend.js';
import { NativeSession } from '../../src/train/native.js';
import { randomBatch } from '../../src/train/timing.js';
import { MODELS, model } from './models.js';

const batch = 4;
const images: ImageBatch = { data: randomBatch([batch, 3, 8, 8], 2), dims: [batch, 3, 8, 8] };
const labels = Int32Array.from({ length: batch }, (_, i) => i);
const SGD = { kind: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 5e-4 } as const;

describe.skipIf(!bindingBuilt())('a native step profiled primitive by primitive', () => {
  it('is the same step as run() makes, its time told by op', async () => {
    const build = MODELS['conv, BN+ReLU fused']!;
    const create = () =>
      NativeSession.create(build(), { batch, optimizer: SGD }, { seed: 1 }, { threads: 1 });
    const [plain, profiled] = [create(), create()];
    const result = await plain.step(images, labels, 0.05, 1);
    const byOp = profiled.profile(images, labels, 0.05, 1);
    // Every step is told by its node's op (the fused ReLU runs inside batch norm), or by its name.
    expect([...byOp.keys()].sort()).toEqual([
      'adaptive_avgpool2d',
      'batchnorm2d',
      'conv2d',
      'flatten',
      'linear',
      'loss',
      'update',
    ]);
    for (const op of ['conv2d', 'batchnorm2d', 'linear', 'loss', 'update'])
      expect(byOp.get(op), op).toBeGreaterThan(0);
    expect((await profiled.step(images, labels, 0.05, 2)).loss).toBe(
      (await plain.step(images, labels, 0.05, 2)).loss,
    );
    expect(result.loss).toBeGreaterThan(0);
    for (const [name, value] of plain.snapshot()) expect(profiled.snapshot().get(name), name).toEqual(value);
  });
});

describe.skipIf(!bindingBuilt())('the native convolutions', () => {
  it("never run on oneDNN's reference kernels, inputs of fewer than 16 channels included", async () => {
    // GoogLeNet's 5x5 branches at a quarter width: 8 channels in, 24 out. The forward takes a
    // plain input there, on which oneDNN 2.6's only backward is its reference kernel (2.5 s a pass).
    const narrow = model('narrow', (x) => {
      const y = relu(conv2d(x, { out: 8, kernel: 1, bias: false }, 'reduce'), 'r');
      return conv2d(y, { out: 24, kernel: 5, padding: 2, bias: false }, 'conv5x5');
    });
    const s = await NativeSession.create(narrow, { batch, optimizer: SGD }, { seed: 1 }, { threads: 1 });
    const convs = s.implementations().filter((p) => /conv/.test(p.label) && !/reorder/.test(p.label));
    expect(convs.map((p) => p.label)).toEqual(
      expect.arrayContaining(['conv5x5/fwd', 'conv5x5/bwd-weights', 'conv5x5/bwd-data']),
    );
    expect(convs.filter((p) => p.impl.startsWith('ref'))).toEqual([]);
  });
});
