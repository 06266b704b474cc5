import type { Tensor } from '../ir/builder.js';
import { defineOp, SAVES_NOTHING } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { type AttrsIn, bool, padding, pair } from '../ir/schema.js';
import { numel } from '../ir/shape.js';
import { emit } from '../onnx/emit.js';
import { type NameOrOptions, options, requireRank } from './util.js';
import { rulePoolPadding, windowOutput, windowTransfer } from './window.js';

/**
 * Average pooling, PyTorch's AvgPool2d. FLOPs: kh*kw per output element (kh*kw - 1 adds and a
 * divide). `countIncludePad` decides whether zero padding counts in the divisor (PyTorch: true).
 */
export const AvgPool2d = registerOp(
  defineOp({
    kind: 'avgpool2d',
    summary: 'average pooling (padding, ceil_mode, count_include_pad)',
    arity: 1,
    attrs: {
      kernel: pair({ min: 1 }),
      stride: pair({ min: 1 }),
      padding: padding({ default: 0 }),
      ceilMode: bool({ default: false }),
      countIncludePad: bool({ default: true }),
    },
    inferShape([x], a) {
      requireRank(x!, 4);
      rulePoolPadding(a.kernel, a.padding);
      const [h, w] = windowOutput(x!, { ...a, dilation: [1, 1] });
      return [x![0]!, x![1]!, h, w];
    },
    params: () => [],
    macs: () => 0,
    flops: ({ attrs: a, output }) => numel(output) * a.kernel[0] * a.kernel[1],
    spatial: ({ attrs }) => windowTransfer({ ...attrs, dilation: [1, 1] }),
    // The gradient spreads dY evenly over each window: it needs only shapes.
    memory: { inplace: false, view: false, saves: SAVES_NOTHING },
    // onnxruntime's divisor rule is PyTorch's: with count_include_pad a window counts the padding it
    // covers but not a ceil_mode overhang past it (checked against PyTorch's rule in test/onnx/lowering.test.ts).
    onnx: ({ attrs: a }, w, [x]) =>
      emit(w, 'AveragePool', [x!], {
        kernel_shape: { ints: a.kernel },
        strides: { ints: a.stride },
        pads: { ints: a.padding },
        ceil_mode: { i: a.ceilMode ? 1 : 0 },
        count_include_pad: { i: a.countIncludePad ? 1 : 0 },
      }),
  }),
);

export const avgpool2d = (x: Tensor, attrs: AttrsIn<typeof AvgPool2d.attrs>, name?: NameOrOptions): Tensor =>
  x.builder.apply(AvgPool2d, [x], attrs, options(name));
