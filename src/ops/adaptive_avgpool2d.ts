import type { Tensor } from '../ir/builder.js';
import { defineOp, SAVES_NOTHING } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { type AttrsIn, pair } from '../ir/schema.js';
import { adaptiveOnnx, adaptiveShape, adaptiveTransfer, binTotal } from './adaptive.js';
import { type NameOrOptions, options } from './util.js';

/**
 * Adaptive average pooling, PyTorch's AdaptiveAvgPool2d; output 1x1 is global average pooling.
 * FLOPs: per output bin, its area (area - 1 adds and a divide), summed exactly over PyTorch's bins.
 */
export const AdaptiveAvgPool2d = registerOp(
  defineOp({
    kind: 'adaptive_avgpool2d',
    summary: 'adaptive average pooling to a fixed output size (1 = global average pooling)',
    arity: 1,
    attrs: { output: pair({ min: 1, default: 1 }) },
    inferShape: ([x], a) => adaptiveShape(x!, a.output),
    params: () => [],
    macs: () => 0,
    flops: ({ attrs: a, inputs: [x] }) =>
      x![0]! * x![1]! * binTotal(x![2]!, a.output[0]) * binTotal(x![3]!, a.output[1]),
    spatial: ({ attrs, inputs: [x] }) => adaptiveTransfer(x!, attrs.output),
    memory: { inplace: false, view: false, saves: SAVES_NOTHING },
    onnx: ({ attrs: a, inputs: [x] }, w, [input]) => adaptiveOnnx('Average', x!, a.output, w, input!),
  }),
);

export const adaptiveAvgpool2d = (
  x: Tensor,
  attrs: AttrsIn<typeof AdaptiveAvgPool2d.attrs> = {},
  name?: NameOrOptions,
): Tensor => x.builder.apply(AdaptiveAvgPool2d, [x], attrs, options(name));
