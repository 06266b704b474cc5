import type { OnnxWriter } from '../../ir/op.js';
import type { Shape } from '../../ir/shape.js';
import { reduceSum, reshape } from '../../onnx/emit.js';

/**
 * Sum a broadcast gradient back to the operand's shape: over the axes where the operand had size 1,
 * and over the leading axes an operand of lower rank lacked (then reshaped to the operand's rank).
 */
export function unbroadcast(w: OnnxWriter, grad: string, gradShape: Shape, operand: Shape): string {
  const lead = gradShape.length - operand.length;
  const axes = gradShape.flatMap((d, i) => (i < lead || (operand[i - lead] === 1 && d !== 1) ? [i] : []));
  if (!axes.length) return grad;
  const summed = reduceSum(w, grad, axes, true);
  return lead > 0 ? reshape(w, summed, operand) : summed;
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
