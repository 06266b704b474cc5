import type { SpatialTransfer } from '../ir/op.js';
import type { Pair, Shape } from '../ir/shape.js';
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
