import { describe, expect, it } from 'vitest';
import { importOnnx, readWeights } from '../../src/import/onnx.js';
import { memorySource } from '../../src/import/source.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { ConvlabError } from '../../src/ir/errors.js';
import type { Graph } from '../../src/ir/graph.js';
import { exportOnnx } from '../../src/onnx/export.js';
import {
  adaptiveAvgpool2d,
  batchnorm2d,
  channelShuffle,
  conv2d,
  flatten,
  gelu,
  layernorm,
  linear,
  maxpool2d,
  mul,
  relu,
  sigmoid,
  slice,
  transpose,
} from '../../src/ops/index.js';
import { mulberry32, mutate } from '../support/fuzz.js';

/*
 * 10^5 seeded mutations (truncations and overwritten bytes) of small real models: every import
 * either succeeds or fails with a one-line ConvlabError. Anything else (a TypeError, a RangeError
 * from a huge allocation, a stack overflow) is a crash; a hang would time the test out.
 */

function tinyModels(): Graph[] {
  const cnn = new GraphBuilder('cnn', 'fuzz');
  let x = cnn.input([3, 8, 8]);
  x = relu(batchnorm2d(conv2d(x, { out: 4, kernel: 3, padding: 1 }, 'conv'), {}, 'bn'), 'relu');
  x = maxpool2d(x, { kernel: 2, stride: 2 }, 'pool');
  cnn.output(linear(flatten(x, 'flatten'), { out: 3 }, 'fc'));

  const shuffle = new GraphBuilder('shuffle', 'fuzz');
  let y = shuffle.input([4, 4, 4]);
  y = channelShuffle(conv2d(y, { out: 4, kernel: 1, groups: 2 }, 'conv'), { groups: 2 }, 'shuffle');
  const gate = sigmoid(adaptiveAvgpool2d(slice(y, { start: 0, end: 4 }, 'split'), {}, 'pool'), 'gate');
  y = mul(y, gate, 'scale');
  shuffle.output(linear(flatten(adaptiveAvgpool2d(y, {}, 'gap'), 'flatten'), { out: 2 }, 'fc'));

  const nhwc = new GraphBuilder('nhwc', 'fuzz');
  let z = nhwc.input([4, 3, 3]);
  z = transpose(
    conv2d(z, { out: 4, kernel: 3, padding: 1, groups: 4 }, 'dw'),
    { perm: [0, 2, 3, 1] },
    'to_nhwc',
  );
  z = gelu(linear(layernorm(z, {}, 'norm'), { out: 8, perPosition: true }, 'fc1'), {}, 'act');
  z = transpose(linear(z, { out: 4, perPosition: true }, 'fc2'), { perm: [0, 3, 1, 2] }, 'to_nchw');
  nhwc.output(linear(flatten(z, 'flatten'), { out: 2 }, 'head'));
  return [cnn.build(), shuffle.build(), nhwc.build()];
}

describe('import of mutated models', () => {
  it('10^5 mutations: no crash, every rejection one clear line', () => {
    const models = tinyModels().map((g) => exportOnnx(g, { mode: 'infer', seed: 3 }));
    for (const bytes of models) expect(importOnnx(memorySource(bytes)).graph.nodes.length).toBeGreaterThan(3);
    const random = mulberry32(20260214);
    let accepted = 0;
    const reasons = new Map<string, number>();
    for (let i = 0; i < 100_000; i++) {
      const bytes = mutate(models[i % models.length]!, random);
      try {
        readWeights(importOnnx(memorySource(bytes)));
        accepted++;
      } catch (e) {
        if (!(e instanceof ConvlabError) || e.message.includes('\n') || e.message.length < 10) {
          throw new Error(`mutation ${i} crashed the importer: ${(e as Error).stack}`);
        }
        const reason = e.message.replace(/'[^']*'|\d+/g, '_').slice(0, 60);
        reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
      }
    }
    // Both outcomes occur, and rejections come from many distinct checks.
    expect(accepted).toBeGreaterThan(100);
    expect(reasons.size).toBeGreaterThan(10);
  }, 600_000);
});
