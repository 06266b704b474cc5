import type { OnnxWriter } from '../../ir/op.js';
import type { Shape } from '../../ir/shape.js';
import { reduceSum } from '../../onnx/emit.js';

/** Sum a broadcast gradient back to the operand's shape (the axes where the operand had size 1). */
export function unbroadcast(w: OnnxWriter, grad: string, gradShape: Shape, operand: Shape): string {
  const axes = operand.flatMap((d, i) => (d === 1 && gradShape[i] !== 1 ? [i] : []));
  return axes.length ? reduceSum(w, grad, axes, true) : grad;
}

/**
 * Pads and output padding that make a transposed window op (stride s, dilated kernel k, begin
 * padding p) produce exactly `length` positions from `count` outputs: the inverse of the forward's
 * windowing even when the forward dropped a remainder or (ceil_mode) overhung the input.
 */
export function transposedFit(
  length: number,
  count: number,
  stride: number,
  kernel: number,
  padBegin: number,
) {
  const excess = stride * (count - 1) + kernel - padBegin - length;
  return excess >= 0 ? { padEnd: excess, outputPadding: 0 } : { padEnd: 0, outputPadding: -excess };
}
