import { describe, expect, it } from 'vitest';
import { initialWeights, initTensor, Rng } from '../../src/ir/init.js';
import type { Init, TensorSpec } from '../../src/ir/op.js';
import { resolveGraph } from '../../src/ir/resolve.js';
import { buildModel } from '../../src/zoo/index.js';

const spec = (shape: number[], extra: Partial<TensorSpec> = {}): TensorSpec => ({
  name: 'weight',
  shape,
  dtype: 'float32',
  role: 'param',
  init: { kind: 'constant', value: 0 },
  ...extra,
});

function moments(x: Float32Array): { mean: number; std: number; min: number; max: number } {
  let s = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const v of x) {
    s += v;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  const mean = s / x.length;
  let q = 0;
  for (const v of x) q += (v - mean) ** 2;
  return { mean, std: Math.sqrt(q / x.length), min, max };
}

const draw = (shape: number[], init: Init, extra: Partial<TensorSpec> = {}) =>
  initTensor(spec(shape, extra), init, new Rng(3, 'w')) as Float32Array;

describe('the seeded generator', () => {
  it('is deterministic per seed and stream, and differs across them', () => {
    const a = Array.from(
      { length: 5 },
      (
        (r) => () =>
          r.nextUint32()
      )(new Rng(1, 'x')),
    );
    const b = Array.from(
      { length: 5 },
      (
        (r) => () =>
          r.nextUint32()
      )(new Rng(1, 'x')),
    );
    const c = Array.from(
      { length: 5 },
      (
        (r) => () =>
          r.nextUint32()
      )(new Rng(2, 'x')),
    );
    const d = Array.from(
      { length: 5 },
      (
        (r) => () =>
          r.nextUint32()
      )(new Rng(1, 'y')),
    );
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(a).not.toEqual(d);
    expect(() => new Rng(1.5)).toThrow(/integer/);
  });

  it('draws uniforms in (0, 1) and standard normals', () => {
    const r = new Rng(0, 'moments');
    const u = Float32Array.from({ length: 200_000 }, () => r.uniform());
    const m = moments(u);
    expect(m.min).toBeGreaterThan(0);
    expect(m.max).toBeLessThan(1);
    expect(Math.abs(m.mean - 0.5)).toBeLessThan(0.005);
    expect(Math.abs(m.std - Math.sqrt(1 / 12))).toBeLessThan(0.005);
    const n = moments(Float32Array.from({ length: 200_000 }, () => r.normal()));
    expect(Math.abs(n.mean)).toBeLessThan(0.01);
    expect(Math.abs(n.std - 1)).toBeLessThan(0.01);
  });
});

describe('torch.nn.init, distribution by distribution', () => {
  // A conv weight [64, 32, 3, 3]: fan_in 288, fan_out 576.
  const conv = [64, 32, 3, 3];

  it('kaiming_normal: std sqrt(2 / fan) for fan_in and fan_out', () => {
    expect(moments(draw(conv, { kind: 'kaiming_normal', mode: 'fan_in' })).std).toBeCloseTo(
      Math.sqrt(2 / 288),
      3,
    );
    expect(moments(draw(conv, { kind: 'kaiming_normal', mode: 'fan_out' })).std).toBeCloseTo(
      Math.sqrt(2 / 576),
      3,
    );
  });

  it("PyTorch's default conv and linear weight and bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in))", () => {
    const w = moments(draw(conv, { kind: 'default_weight' }));
    const bound = 1 / Math.sqrt(288);
    expect(w.max).toBeLessThanOrEqual(bound);
    expect(w.min).toBeGreaterThanOrEqual(-bound);
    expect(w.std).toBeCloseTo(bound / Math.sqrt(3), 3);
    // A bias reads its layer's fan-in, which the op records on the spec.
    const b = moments(draw([64], { kind: 'default_bias' }, { fanIn: 288, fanOut: 576 }));
    expect(b.max).toBeLessThanOrEqual(bound);
    expect(b.max).toBeGreaterThan(0.8 * bound);
  });

  it('xavier uniform and normal: gain 1 over fan_in + fan_out', () => {
    const u = moments(draw(conv, { kind: 'xavier_uniform' }));
    expect(u.max).toBeLessThanOrEqual(Math.sqrt(6 / 864));
    expect(u.std).toBeCloseTo(Math.sqrt(6 / 864) / Math.sqrt(3), 3);
    expect(moments(draw(conv, { kind: 'xavier_normal' })).std).toBeCloseTo(Math.sqrt(2 / 864), 3);
  });

  it('normal, uniform and constant', () => {
    const n = moments(draw([100_000], { kind: 'normal', std: 0.01, mean: 0.5 }));
    expect(n.mean).toBeCloseTo(0.5, 3);
    expect(n.std).toBeCloseTo(0.01, 3);
    const u = moments(draw([100_000], { kind: 'uniform', bound: 0.3 }));
    expect(u.max).toBeLessThanOrEqual(0.3);
    expect(u.min).toBeGreaterThanOrEqual(-0.3);
    expect([...draw([3], { kind: 'constant', value: 2.5 })]).toEqual([2.5, 2.5, 2.5]);
  });

  it('trunc_normal: absolute bounds [a, b], the normal inside them', () => {
    // Bounds at one standard deviation: the truncated normal's std is 0.5379 sigma.
    const t = moments(draw([200_000], { kind: 'trunc_normal', std: 2, a: -2, b: 2 }));
    expect(t.min).toBeGreaterThanOrEqual(-2);
    expect(t.max).toBeLessThanOrEqual(2);
    expect(t.max).toBeGreaterThan(1.99);
    expect(Math.abs(t.mean)).toBeLessThan(0.01);
    expect(t.std).toBeCloseTo(2 * 0.5379, 2);
    // torchvision's GoogLeNet: std 0.01 within [-2, 2], so in effect untruncated.
    expect(moments(draw([200_000], { kind: 'trunc_normal', std: 0.01, a: -2, b: 2 })).std).toBeCloseTo(
      0.01,
      4,
    );
  });

  it('int64 buffers (num_batches_tracked) start from integer constants', () => {
    const t = initTensor(
      { ...spec([]), name: 'num_batches_tracked', dtype: 'int64', role: 'buffer' },
      { kind: 'constant', value: 0 },
      new Rng(0),
    );
    expect(t).toEqual(BigInt64Array.from([0n]));
  });
});

describe('initialWeights', () => {
  it("follows each node's init policy and keys tensors by state_dict name", () => {
    const r = resolveGraph(buildModel('resnet18'));
    const w = initialWeights(r, 0);
    // torchvision's ResNet: kaiming_normal_(fan_out) for convs, BN weight 1 and bias 0.
    expect(moments(w.get('layer1.0.conv1.weight') as Float32Array).std).toBeCloseTo(
      Math.sqrt(2 / (64 * 9)),
      2,
    );
    expect([...(w.get('bn1.weight') as Float32Array)].every((v) => v === 1)).toBe(true);
    expect([...(w.get('bn1.running_var') as Float32Array)].every((v) => v === 1)).toBe(true);
    expect(w.get('bn1.num_batches_tracked')).toEqual(BigInt64Array.from([0n]));
    // The classifier keeps PyTorch's default Linear init: U(+-1/sqrt(512)).
    expect(moments(w.get('fc.weight') as Float32Array).max).toBeLessThanOrEqual(1 / Math.sqrt(512));
  });

  it('gives a tensor the same values whatever else the graph holds', () => {
    const a = initialWeights(resolveGraph(buildModel('resnet18')), 4);
    const b = initialWeights(resolveGraph(buildModel('resnet34')), 4);
    expect(a.get('conv1.weight')).toEqual(b.get('conv1.weight'));
    expect(a.get('layer1.0.conv1.weight')).toEqual(b.get('layer1.0.conv1.weight'));
    expect(a.get('conv1.weight')).not.toEqual(
      initialWeights(resolveGraph(buildModel('resnet18')), 5).get('conv1.weight'),
    );
  });
});
