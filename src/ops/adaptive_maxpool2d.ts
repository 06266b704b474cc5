import type { Tensor } from '../ir/builder.js';
import { defineOp } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { type AttrsIn, pair } from '../ir/schema.js';
import { numel } from '../ir/shape.js';
import { adaptiveOnnx, adaptiveShape, adaptiveTransfer, binTotal } from './adaptive.js';
import { type NameOrOptions, options } from './util.js';

/**
 * Adaptive max pooling, PyTorch's AdaptiveMaxPool2d: the level of a spatial pyramid (SPP), whose
 * output size does not depend on the input size. FLOPs: area - 1 comparisons per output bin.
 */
export const AdaptiveMaxPool2d = registerOp(
  defineOp({
    kind: 'adaptive_maxpool2d',
    summary: 'adaptive max pooling to a fixed output size (a spatial-pyramid level)',
    arity: 1,
    attrs: { output: pair({ min: 1 }) },
    inferShape: ([x], a) => adaptiveShape(x!, a.output),
    params: () => [],
    macs: () => 0,
    flops: ({ attrs: a, inputs: [x], output }) =>
      x![0]! * x![1]! * binTotal(x![2]!, a.output[0]) * binTotal(x![3]!, a.output[1]) - numel(output),
    spatial: ({ attrs, inputs: [x] }) => adaptiveTransfer(x!, attrs.output),
    memory: {
      inplace: false,
      view: false,
      saves: {
        inputs: [0],
        output: false,
        extra: ({ output }) => [{ what: 'indices', shape: output, dtype: 'int64' }] as const,
      },
    },
    onnx: ({ attrs: a, inputs: [x] }, w, [input]) => adaptiveOnnx('Max', x!, a.output, w, input!),
  }),
);

export const adaptiveMaxpool2d = (
  x: Tensor,
  attrs: AttrsIn<typeof AdaptiveMaxPool2d.attrs>,
  name?: NameOrOptions,
): Tensor => x.builder.apply(AdaptiveMaxPool2d, [x], attrs, options(name));
