import type { Tensor } from '../ir/builder.js';
import { defineOp, IDENTITY, type TensorSpec } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { type AttrsIn, bool, int, num } from '../ir/schema.js';
import { formatShape, numel, type Shape } from '../ir/shape.js';
import { emit } from '../onnx/emit.js';
import { type NameOrOptions, options, rule } from './util.js';

/** The first normalised axis of `x` for `axis` (negative counts from the end), never the batch. */
export function firstNormalizedAxis(x: Shape, axis: number): number {
  const first = axis < 0 ? x.length + axis : axis;
  rule(first >= 1 && first < x.length, `axis ${axis} must name an axis of ${formatShape(x)} after the batch`);
  return first;
}

/** A layer norm's weight (ones) and bias (zeros) of the normalised shape, as PyTorch's LayerNorm. */
export const affineParams = (shape: Shape, affine: boolean): TensorSpec[] =>
  affine
    ? [
        { name: 'weight', shape, dtype: 'float32', role: 'param', init: { kind: 'constant', value: 1 } },
        { name: 'bias', shape, dtype: 'float32', role: 'param', init: { kind: 'constant', value: 0 } },
      ]
    : [];

/**
 * FLOPs of a layer norm per element: the mean's add, the subtraction, the square and the
 * variance's add, the normalising multiply (5), and the affine multiply and add (2); the per-group
 * divides, square root and reciprocal are not counted.
 */
export const layerNormFlops = (elements: number, affine: boolean): number => (affine ? 7 : 5) * elements;

/**
 * Layer normalisation over the trailing axes from `axis` (default the last), PyTorch's LayerNorm
 * with its normalized_shape the input's shape from `axis` on, ONNX's LayerNormalization:
 * (x - mean) / sqrt(var + eps) * weight + bias, the statistics over those axes per sample (and
 * position). ConvNeXt's blocks apply it channels-last (after a transpose); for NCHW channels see
 * `layernorm2d`. Parameters: weight and bias of the normalised shape. FLOPs: `layerNormFlops`.
 * Backward needs the input (the mean and inverse std are recomputed from it; PyTorch keeps them,
 * one float each per normalised group, which this estimate leaves out).
 */
export const LayerNorm = registerOp(
  defineOp({
    kind: 'layernorm',
    summary: 'layer normalisation over the trailing axes from `axis` (default the last)',
    arity: 1,
    attrs: {
      axis: int({ default: -1 }),
      eps: num({ min: 0, default: 1e-5 }),
      affine: bool({ default: true }),
    },
    inferShape([x], a) {
      firstNormalizedAxis(x!, a.axis);
      return x!;
    },
    params: ({ attrs: a, inputs: [x] }) => affineParams(x!.slice(firstNormalizedAxis(x!, a.axis)), a.affine),
    macs: () => 0,
    flops: ({ attrs: a, output }) => layerNormFlops(numel(output), a.affine),
    spatial: () => IDENTITY,
    memory: { inplace: false, view: false, saves: { inputs: [0], output: false } },
    onnx({ attrs: a, inputs: [x] }, w, [input]) {
      const first = firstNormalizedAxis(x!, a.axis);
      const shape = x!.slice(first);
      const scale = a.affine
        ? w.param('weight')
        : w.constant(new Array(numel(shape)).fill(1), shape, 'float32');
      const bias = a.affine ? [w.param('bias')] : [];
      return emit(w, 'LayerNormalization', [input!, scale, ...bias], {
        axis: { i: first },
        epsilon: { f: a.eps },
      });
    },
  }),
);

export const layernorm = (
  x: Tensor,
  attrs: AttrsIn<typeof LayerNorm.attrs> = {},
  name?: NameOrOptions,
): Tensor => x.builder.apply(LayerNorm, [x], attrs, options(name));
