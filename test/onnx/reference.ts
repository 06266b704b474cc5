import { expect } from 'vitest';
import { type Graph, GraphBuilder, resolveGraph, type Tensor } from '../../src/index.js';
import { initialWeights, Rng, type WeightData } from '../../src/ir/init.js';
import { exportOnnx } from '../../src/onnx/export.js';
import { openSession, runBatch } from '../../src/runtime/session.js';

/** A dense NCHW (or NF) tensor for the reference implementations. */
export interface T {
  shape: number[];
  data: Float32Array;
}

export const zeros = (shape: number[]): T => ({
  shape,
  data: new Float32Array(shape.reduce((a, b) => a * b, 1)),
});

export function randomT(shape: number[], seed: number): T {
  const rng = new Rng(seed, 'test');
  const t = zeros(shape);
  for (let i = 0; i < t.data.length; i++) t.data[i] = rng.normal();
  return t;
}

export const at = (t: T, n: number, c: number, h: number, w: number): number =>
  t.data[((n * t.shape[1]! + c) * t.shape[2]! + h) * t.shape[3]! + w]!;

export function map4(shape: number[], f: (n: number, c: number, h: number, w: number) => number): T {
  const t = zeros(shape);
  let i = 0;
  for (let n = 0; n < shape[0]!; n++)
    for (let c = 0; c < shape[1]!; c++)
      for (let h = 0; h < shape[2]!; h++) for (let w = 0; w < shape[3]!; w++) t.data[i++] = f(n, c, h, w);
  return t;
}

/** PyTorch's output length of a window, written out independently of src/ops/window.ts. */
export function outLength(
  L: number,
  k: number,
  s: number,
  p0: number,
  p1: number,
  d: number,
  ceil: boolean,
): number {
  const eff = d * (k - 1) + 1;
  if (!ceil) return Math.floor((L + p0 + p1 - eff) / s) + 1;
  let o = Math.ceil((L + p0 + p1 - eff) / s) + 1;
  if ((o - 1) * s >= L + p0) o--; // the last window must start inside the input or its left padding
  return o;
}

export interface ConvRef {
  w: T;
  b?: T;
  stride: [number, number];
  pad: [number, number, number, number];
  dil: [number, number];
  groups: number;
}

export function convRef(x: T, c: ConvRef): T {
  const [N, , H, W] = x.shape as [number, number, number, number];
  const [O, Cg, KH, KW] = c.w.shape as [number, number, number, number];
  const Ho = outLength(H, KH, c.stride[0], c.pad[0], c.pad[2], c.dil[0], false);
  const Wo = outLength(W, KW, c.stride[1], c.pad[1], c.pad[3], c.dil[1], false);
  const perGroupOut = O / c.groups;
  return map4([N, O, Ho, Wo], (n, o, i, j) => {
    let s = c.b ? c.b.data[o]! : 0;
    const g = Math.floor(o / perGroupOut);
    for (let ci = 0; ci < Cg; ci++)
      for (let u = 0; u < KH; u++)
        for (let v = 0; v < KW; v++) {
          const h = i * c.stride[0] - c.pad[0] + u * c.dil[0];
          const w = j * c.stride[1] - c.pad[1] + v * c.dil[1];
          if (h < 0 || h >= H || w < 0 || w >= W) continue;
          s += at(x, n, g * Cg + ci, h, w) * c.w.data[((o * Cg + ci) * KH + u) * KW + v]!;
        }
    return s;
  });
}

export interface PoolRef {
  k: [number, number];
  s: [number, number];
  pad: [number, number, number, number];
  dil?: [number, number];
  ceil: boolean;
  countIncludePad?: boolean;
}

/** PyTorch's max_pool2d and avg_pool2d (divisor rules of aten's AvgPool2d kernel), any padding. */
export function poolRef(x: T, kind: 'max' | 'avg', p: PoolRef): T {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const dil = p.dil ?? [1, 1];
  const Ho = outLength(H, p.k[0], p.s[0], p.pad[0], p.pad[2], dil[0], p.ceil);
  const Wo = outLength(W, p.k[1], p.s[1], p.pad[1], p.pad[3], dil[1], p.ceil);
  return map4([N, C, Ho, Wo], (n, c, i, j) => {
    const h0 = i * p.s[0] - p.pad[0];
    const w0 = j * p.s[1] - p.pad[1];
    if (kind === 'max') {
      let m = Number.NEGATIVE_INFINITY;
      for (let u = 0; u < p.k[0]; u++)
        for (let v = 0; v < p.k[1]; v++) {
          const h = h0 + u * dil[0];
          const w = w0 + v * dil[1];
          if (h >= 0 && h < H && w >= 0 && w < W) m = Math.max(m, at(x, n, c, h, w));
        }
      return m;
    }
    const h1 = Math.min(h0 + p.k[0], H + p.pad[2]);
    const w1 = Math.min(w0 + p.k[1], W + p.pad[3]);
    const poolSize = (h1 - h0) * (w1 - w0);
    let s = 0;
    let valid = 0;
    for (let h = Math.max(h0, 0); h < Math.min(h1, H); h++)
      for (let w = Math.max(w0, 0); w < Math.min(w1, W); w++) {
        s += at(x, n, c, h, w);
        valid++;
      }
    return s / (p.countIncludePad ? poolSize : valid);
  });
}

export function adaptiveRef(x: T, kind: 'max' | 'avg', out: [number, number]): T {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  return map4([N, C, out[0], out[1]], (n, c, i, j) => {
    const [h0, h1] = [Math.floor((i * H) / out[0]), Math.ceil(((i + 1) * H) / out[0])];
    const [w0, w1] = [Math.floor((j * W) / out[1]), Math.ceil(((j + 1) * W) / out[1])];
    let m = Number.NEGATIVE_INFINITY;
    let s = 0;
    for (let h = h0; h < h1; h++)
      for (let w = w0; w < w1; w++) {
        m = Math.max(m, at(x, n, c, h, w));
        s += at(x, n, c, h, w);
      }
    return kind === 'max' ? m : s / ((h1 - h0) * (w1 - w0));
  });
}

export const flat = (x: T): T => ({ shape: [x.shape[0]!, x.data.length / x.shape[0]!], data: x.data });

/** Concatenation along channels (or features): each sample's pieces one after another. */
export function concatRef(xs: T[]): T {
  const N = xs[0]!.shape[0]!;
  const per = xs.map((x) => x.data.length / N);
  const out = zeros([N, xs.reduce((s, x) => s + x.shape[1]!, 0), ...xs[0]!.shape.slice(2)]);
  let offset = 0;
  for (let n = 0; n < N; n++)
    for (const [k, x] of xs.entries()) {
      out.data.set(x.data.subarray(n * per[k]!, (n + 1) * per[k]!), offset);
      offset += per[k]!;
    }
  return out;
}

export const elementwise = (x: T, f: (v: number) => number): T => ({ shape: x.shape, data: x.data.map(f) });

/** Build a one-input graph, export it, run it in onnxruntime at the batch of `x`, return output 0. */
export async function runGraph(
  build: (x: Tensor) => Tensor,
  x: T,
  options: { weights?: (w: Map<string, WeightData>) => void; mode?: 'infer' | 'train' } = {},
): Promise<{ out: T; weights: Map<string, WeightData>; graph: Graph }> {
  const b = new GraphBuilder('t', 'test');
  b.output(build(b.input(x.shape.slice(1) as [number, number, number])));
  const graph = b.build();
  const weights = initialWeights(resolveGraph(graph), 7);
  // Random values for everything, BatchNorm statistics included, so no parameter is trivially 0 or 1.
  let k = 0;
  for (const [name, t] of weights) {
    if (t instanceof Float32Array) weights.set(name, randomT([t.length], 100 + k++).data);
  }
  options.weights?.(weights);
  const bytes = exportOnnx(graph, { mode: options.mode ?? 'infer', weights });
  const session = await openSession(bytes);
  const outputs = await runBatch(session, x.data, x.shape);
  await session.release();
  const first = outputs.values().next().value!;
  return { out: { shape: [...first.shape], data: first.data }, weights, graph };
}

export const param = (w: Map<string, WeightData>, name: string, shape: number[]): T => ({
  shape,
  data: w.get(name) as Float32Array,
});

export function expectClose(actual: T, expected: T, tolerance = 1e-5): void {
  expect(actual.shape).toEqual(expected.shape);
  let worst = 0;
  let scale = 1e-6;
  for (let i = 0; i < expected.data.length; i++) {
    worst = Math.max(worst, Math.abs(actual.data[i]! - expected.data[i]!));
    scale = Math.max(scale, Math.abs(expected.data[i]!));
  }
  expect(worst / scale).toBeLessThan(tolerance);
}
