import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/ir/builder.js';
import type { Graph } from '../../src/ir/graph.js';
import { resolveGraph } from '../../src/ir/resolve.js';
import { modelBytes } from '../../src/onnx/emit.js';
import { DataType } from '../../src/onnx/proto.js';
import { GraphWriter } from '../../src/onnx/writer.js';
import { dropout } from '../../src/ops/dropout.js';
import { flatten } from '../../src/ops/flatten.js';
import { linear } from '../../src/ops/linear.js';
import { MODULUS, salt, uniformDraws } from '../../src/ops/random.js';
import { TrainingSession } from '../../src/train/step.js';

/** The hash of src/ops/random.ts written again in BigInt, from its comments. */
function reference(seed: number, node: string, step: number, count: number): bigint[] {
  const p = BigInt(MODULUS);
  const square = (h: bigint, c: bigint) => (h * h + c) % p;
  const rotate = (h: bigint, a: bigint) => (((h % 65536n) * 32768n + h / 65536n) * a) % p;
  const mix = (h: bigint) => rotate(square(rotate(square(h, 12345n), 69621n), 98765n), 48271n);
  const key = mix((BigInt(step) * 48271n + BigInt(salt(seed, node))) % p);
  return Array.from({ length: count }, (_, i) => mix((BigInt(i) * 48271n + key) % p));
}

/** A session computing uniformDraws for node `drop` of a small graph, given the step. */
async function drawsSession(seed: number, shape: number[]) {
  const b = new GraphBuilder('draws', 'test');
  b.output(dropout(b.input([1, 1, 1]), { p: 0.5 }, 'drop'));
  const r = resolveGraph(b.build(), { batch: 1 });
  const w = new GraphWriter('train', 'inputs');
  const step = w.claim('step');
  w.drawsFrom(seed, step);
  const draws = w.within(r.byName.get('drop')!, () => uniformDraws(w, shape));
  const out = w.output(draws, 'draws');
  const model = modelBytes({
    name: 'draws',
    ...w.pruned([out]),
    inputs: [{ name: step, elemType: DataType.FLOAT, shape: [] }],
    outputs: [{ name: out, elemType: DataType.INT64, shape }],
  });
  const session = await ort.InferenceSession.create(model, { logSeverityLevel: 3 });
  return async (at: number) => {
    const result = await session.run({ [step]: new ort.Tensor('float32', Float32Array.of(at), []) });
    return Array.from(result[out]!.data as BigInt64Array, (v) => Number(v) / MODULUS);
  };
}

const mean = (u: readonly number[]) => u.reduce((s, x) => s + x, 0) / u.length;
function correlation(a: readonly number[], b: readonly number[]): number {
  const [ma, mb] = [mean(a), mean(b)];
  let [ab, aa, bb] = [0, 0, 0];
  for (let i = 0; i < a.length; i++) {
    ab += (a[i]! - ma) * (b[i]! - mb);
    aa += (a[i]! - ma) ** 2;
    bb += (b[i]! - mb) ** 2;
  }
  return ab / Math.sqrt(aa * bb);
}
/** Pearson's chi-square of counts against equal expected counts. */
function chiSquare(counts: readonly number[]): number {
  const expected = counts.reduce((s, c) => s + c, 0) / counts.length;
  return counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
}

describe('counter-based random draws in the graph', () => {
  it('equal the hash computed independently in BigInt', async () => {
    const draw = await drawsSession(7, [3, 5]);
    for (const step of [1, 2, 1000]) {
      const expected = reference(7, 'drop', step, 15).map((v) => Number(v) / MODULUS);
      expect(await draw(step)).toEqual(expected);
    }
  });

  it('look uniform and independent across elements and steps (10^5 draws)', async () => {
    const n = 100_000;
    const draw = await drawsSession(0, [n]);
    const [u, next] = [await draw(1), await draw(2)];
    expect(Math.abs(mean(u) - 0.5)).toBeLessThan(0.005);
    // 1/sqrt(n) = 0.0032 is one standard error of a correlation.
    expect(Math.abs(correlation(u.slice(1), u.slice(0, -1)))).toBeLessThan(0.015);
    expect(Math.abs(correlation(u.slice(64), u.slice(0, -64)))).toBeLessThan(0.015);
    expect(Math.abs(correlation(u, next))).toBeLessThan(0.015);
    const bins = new Array<number>(100).fill(0);
    for (const x of u) bins[Math.floor(x * 100)]!++;
    const pairs = new Array<number>(256).fill(0);
    for (let i = 1; i < n; i++) pairs[Math.floor(u[i]! * 16) * 16 + Math.floor(u[i - 1]! * 16)]!++;
    // 99.9% quantiles of chi-square with 99 and 255 degrees of freedom: 149 and 334.
    expect(chiSquare(bins)).toBeLessThan(149);
    expect(chiSquare(pairs)).toBeLessThan(334);
  });
});

describe('dropout in a training step', () => {
  const features = 4096;
  function net(): Graph {
    const b = new GraphBuilder('dropped', 'test');
    const x = dropout(flatten(b.input([1, 64, 64])), { p: 0.3 }, 'drop');
    b.output(linear(x, { out: 2, bias: false }, 'fc'));
    return b.build();
  }
  /** The fc weight's gradient for an all-ones image and an all-zero weight is the kept mask x 1/(1-p). */
  async function keptAt(seed: number, step: number): Promise<Float32Array> {
    const graph = net();
    const options = {
      batch: 1,
      optimizer: { kind: 'sgd', momentum: 0, nesterov: false, weightDecay: 0 },
    } as const;
    const weights = new Map([['fc.weight', new Float32Array(2 * features)]]);
    const trainer = await TrainingSession.create(graph, { ...options, seed }, { seed: 0, weights });
    const images = new ort.Tensor('float32', new Float32Array(features).fill(1), [1, 1, 64, 64]);
    await trainer.step(images, Int32Array.of(0), 1, step);
    const next = (trainer.snapshot().get('fc.weight') as Float32Array).slice();
    await trainer.release();
    // SGD with lr 1: next = -grad; class 0's row of the gradient of CE at uniform logits is -0.5 x input.
    return next.slice(0, features).map((v) => v / 0.5);
  }

  it('zeroes p of the elements, scales the rest by 1/(1-p), and depends only on seed and step', async () => {
    const scaled = await keptAt(1, 5);
    const dropped = scaled.filter((v) => v === 0).length / features;
    expect(Math.abs(dropped - 0.3)).toBeLessThan(0.03);
    for (const v of scaled) if (v !== 0) expect(v).toBeCloseTo(1 / 0.7, 5);
    expect(await keptAt(1, 5)).toEqual(scaled);
    expect(await keptAt(1, 6)).not.toEqual(scaled);
    expect(await keptAt(2, 5)).not.toEqual(scaled);
  });
});
