import type { Tensor } from '../ir/builder.js';
import { defineOp } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { type AttrsIn, bool, padding, pair } from '../ir/schema.js';
import { numel } from '../ir/shape.js';
import { emit } from '../onnx/emit.js';
import { type NameOrOptions, options, requireRank } from './util.js';
import { rulePoolPadding, windowOutput, windowTransfer } from './window.js';

/**
 * Max pooling, PyTorch's MaxPool2d (stride is explicit; PyTorch defaults it to the kernel).
 * FLOPs: kh*kw - 1 comparisons per output element. A kernel of 1 with stride 2 is the strided
 * subsampling x[:, :, ::2, ::2] of the ResNet paper's option-A shortcut.
 */
export const MaxPool2d = registerOp(
  defineOp({
    kind: 'maxpool2d',
    summary: 'max pooling (padding, dilation, ceil_mode)',
    arity: 1,
    attrs: {
      kernel: pair({ min: 1 }),
      stride: pair({ min: 1 }),
      padding: padding({ default: 0 }),
      dilation: pair({ min: 1, default: 1 }),
      ceilMode: bool({ default: false }),
    },
    inferShape([x], a) {
      requireRank(x!, 4);
      rulePoolPadding(a.kernel, a.padding);
      const [h, w] = windowOutput(x!, a);
      return [x![0]!, x![1]!, h, w];
    },
    params: () => [],
    macs: () => 0,
    flops: ({ attrs: a, output }) => numel(output) * (a.kernel[0] * a.kernel[1] - 1),
    spatial: ({ attrs }) => windowTransfer(attrs),
    memory: {
      inplace: false,
      view: false,
      // max_pool2d_with_indices_backward reads the input and the argmax indices (int64, one per output).
      saves: {
        inputs: [0],
        output: false,
        extra: ({ output }) => [{ what: 'indices', shape: output, dtype: 'int64' }] as const,
      },
    },
    onnx({ attrs: a }, w, [x]) {
      const attrs = {
        kernel_shape: { ints: a.kernel },
        strides: { ints: a.stride },
        pads: { ints: a.padding },
        dilations: { ints: a.dilation },
        ceil_mode: { i: a.ceilMode ? 1 : 0 },
      };
      if (w.mode === 'infer') return emit(w, 'MaxPool', [x!], attrs);
      // Training also takes the argmax Indices (flat over N*C*H*W) that backward scatters into.
      const [y, indices] = w.node('MaxPool', [x!], attrs, 2);
      w.save('indices', indices!);
      return y!;
    },
  }),
);

export const maxpool2d = (x: Tensor, attrs: AttrsIn<typeof MaxPool2d.attrs>, name?: NameOrOptions): Tensor =>
  x.builder.apply(MaxPool2d, [x], attrs, options(name));
