import type { Padding4, Pair, Shape } from '../ir/shape.js';
import { rule } from './util.js';

/**
 * Output length of a sliding window along one axis, PyTorch's rule: floor (or ceil) of
 * (L + pad_begin + pad_end - dilation*(k-1) - 1) / stride, plus one; with ceil_mode the last window
 * must start inside the input or its leading padding.
 */
export function windowLength(
  length: number,
  kernel: number,
  stride: number,
  padBegin: number,
  padEnd: number,
  dilation: number,
  ceilMode: boolean,
): number {
  const span = length + padBegin + padEnd - dilation * (kernel - 1) - 1;
  let out = Math.floor((ceilMode ? span + stride - 1 : span) / stride) + 1;
  if (ceilMode && (out - 1) * stride >= length + padBegin) out -= 1;
  return out;
}

export interface WindowAttrs {
  readonly kernel: Pair;
  readonly stride: Pair;
  readonly padding: Padding4;
  readonly dilation: Pair;
  readonly ceilMode: boolean;
}

/** [H_out, W_out] of a window op over an NCHW input, with the checks every window op shares. */
export function windowOutput(input: Shape, w: WindowAttrs): [number, number] {
  const [, , h, wd] = input as [number, number, number, number];
  const [pt, pl, pb, pr] = w.padding;
  const effective = [w.dilation[0] * (w.kernel[0] - 1) + 1, w.dilation[1] * (w.kernel[1] - 1) + 1];
  rule(
    h + pt + pb >= effective[0]! && wd + pl + pr >= effective[1]!,
    `kernel ${effective[0]}x${effective[1]} (dilation included) is larger than the padded input ${h + pt + pb}x${wd + pl + pr}`,
  );
  return [
    windowLength(h, w.kernel[0], w.stride[0], pt, pb, w.dilation[0], w.ceilMode),
    windowLength(wd, w.kernel[1], w.stride[1], pl, pr, w.dilation[1], w.ceilMode),
  ];
}

/** The sliding-window spatial transfer shared by conv and pooling ops. */
export const windowTransfer = (w: WindowAttrs) =>
  ({
    kind: 'window',
    kernel: w.kernel,
    stride: w.stride,
    padding: w.padding,
    dilation: w.dilation,
    ceilMode: w.ceilMode,
  }) as const;

/** PyTorch's pooling rule: padding may be at most half the kernel on every side. */
export function rulePoolPadding(kernel: Pair, padding: Padding4): void {
  const [pt, pl, pb, pr] = padding;
  rule(
    Math.max(pt, pb) <= Math.floor(kernel[0] / 2) && Math.max(pl, pr) <= Math.floor(kernel[1] / 2),
    `padding [${padding.join(',')}] must be at most half the kernel ${kernel.join('x')}`,
  );
}
