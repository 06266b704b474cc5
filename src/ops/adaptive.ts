import type { OnnxWriter, SpatialTransfer } from '../ir/op.js';
import type { Pair, Shape } from '../ir/shape.js';
import { emit } from '../onnx/emit.js';
import { requireRank } from './util.js';

/**
 * PyTorch's adaptive pooling bins: bin i of n over length L spans [floor(i*L/n), ceil((i+1)*L/n)).
 * Shared by adaptive average and max pooling.
 */
export const adaptiveBins = (length: number, n: number): Array<readonly [number, number]> =>
  Array.from(
    { length: n },
    (_, i) => [Math.floor((i * length) / n), Math.ceil(((i + 1) * length) / n)] as const,
  );

/** Sum of bin lengths along one axis (bins may overlap when n does not divide L). */
export const binTotal = (length: number, n: number): number =>
  adaptiveBins(length, n).reduce((s, [a, b]) => s + b - a, 0);

export function adaptiveShape(x: Shape, out: Pair): Shape {
  requireRank(x, 4);
  return [x[0]!, x[1]!, out[0], out[1]];
}

/** Uniform bins are an ordinary window; a single bin is global; anything else is genuinely adaptive. */
export function adaptiveTransfer(x: Shape, out: Pair): SpatialTransfer {
  const [h, w] = [x[2]!, x[3]!];
  if (out[0] === 1 && out[1] === 1) return { kind: 'global' };
  if (h % out[0] === 0 && w % out[1] === 0) {
    const kernel = [h / out[0], w / out[1]] as const;
    return {
      kind: 'window',
      kernel,
      stride: kernel,
      padding: [0, 0, 0, 0],
      dilation: [1, 1],
      ceilMode: false,
    };
  }
  return { kind: 'adaptive', outputSize: out };
}

/**
 * Lower adaptive pooling with the cheapest exact ONNX: global pooling for one bin, an ordinary pool
 * when the bins tile the input evenly, else PyTorch's bins one axis at a time (a Slice and a
 * ReduceMax/ReduceMean per bin, then a Concat). Max and mean over a rectangle are separable, and
 * every bin of one axis spans all columns of the other, so the two passes give the 2-D bins exactly.
 */
export function adaptiveOnnx(
  kind: 'Max' | 'Average',
  x: Shape,
  out: Pair,
  w: OnnxWriter,
  input: string,
): string {
  const [h, wd] = [x[2]!, x[3]!];
  if (out[0] === 1 && out[1] === 1) return emit(w, `Global${kind}Pool`, [input]);
  const pool = (t: string, kernel: readonly number[]) =>
    emit(w, `${kind}Pool`, [t], { kernel_shape: { ints: kernel }, strides: { ints: kernel } });
  if (h % out[0] === 0 && wd % out[1] === 0) return pool(input, [h / out[0], wd / out[1]]);
  const reduce = kind === 'Max' ? 'ReduceMax' : 'ReduceMean';
  let t = input;
  for (const [axis, length, n] of [
    [2, h, out[0]],
    [3, wd, out[1]],
  ] as const) {
    if (length === n) continue;
    if (length % n === 0) {
      t = pool(t, axis === 2 ? [length / n, 1] : [1, length / n]);
      continue;
    }
    const bins = adaptiveBins(length, n).map(([start, end]) => {
      const part = emit(w, 'Slice', [
        t,
        w.constant([start], [1], 'int64'),
        w.constant([end], [1], 'int64'),
        w.constant([axis], [1], 'int64'),
      ]);
      return emit(w, reduce, [part], { axes: { ints: [axis] }, keepdims: { i: 1 } });
    });
    t = emit(w, 'Concat', bins, { axis: { i: axis } });
  }
  return t;
}
