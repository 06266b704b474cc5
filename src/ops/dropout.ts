import type { Tensor } from '../ir/builder.js';
import { defineOp, IDENTITY } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { type AttrsIn, num } from '../ir/schema.js';
import { type NameOrOptions, onnxNode, options } from './util.js';

/** TensorProto.DataType BOOL: Dropout's training_mode input is a bool scalar. */
const ONNX_BOOL = 9;

/**
 * Dropout with probability p. The identity at inference (0 FLOPs); in training it keeps a mask of
 * the zeroed elements, one byte each, for backward.
 */
export const Dropout = registerOp(
  defineOp({
    kind: 'dropout',
    summary: 'dropout (identity at inference)',
    arity: 1,
    attrs: { p: num({ min: 0, max: 1, default: 0.5 }) },
    inferShape: ([x]) => x!,
    params: () => [],
    macs: () => 0,
    flops: () => 0,
    spatial: () => IDENTITY,
    memory: {
      inplace: true,
      view: false,
      saves: {
        inputs: [],
        output: false,
        extra: ({ output }) => [{ what: 'mask', shape: output, dtype: 'bool' }],
      },
    },
    onnx({ attrs: a }, w, [x]) {
      if (w.mode === 'infer') return x!;
      const ratio = w.constant([a.p], [], 'float32');
      const training = onnxNode(w, 'Cast', [w.constant([1], [], 'int64')], { to: { i: ONNX_BOOL } });
      // The mask output is what backward multiplies by; onnxruntime draws it from its own seeded stream.
      const [y, mask] = w.node('Dropout', [x!, ratio, training], {}, 2);
      w.save('mask', mask!);
      return y!;
    },
  }),
);

export const dropout = (x: Tensor, attrs: AttrsIn<typeof Dropout.attrs> = {}, name?: NameOrOptions): Tensor =>
  x.builder.apply(Dropout, [x], attrs, options(name));
