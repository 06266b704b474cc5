import type { Tensor } from '../ir/builder.js';
import { registerOp } from '../ir/registry.js';
import { emit } from '../onnx/emit.js';
import { pointwiseOp } from './pointwise.js';
import { type NameOrOptions, options } from './util.js';

/**
 * ReLU6 (MobileNetV2): min(max(x, 0), 6). FLOPs: 2 per element. Backward needs the input: PyTorch
 * 1.13's ReLU6(inplace=True) keeps a copy of it (measured with saved_tensors_hooks), unlike ReLU.
 */
export const Relu6 = registerOp(
  pointwiseOp({
    kind: 'relu6',
    summary: 'min(max(x, 0), 6)',
    flopsPerElement: 2,
    saves: { inputs: [0], output: false },
    onnx: (w, x) => emit(w, 'Clip', [x, w.constant([0], [], 'float32'), w.constant([6], [], 'float32')]),
  }),
);

export const relu6 = (x: Tensor, name?: NameOrOptions): Tensor =>
  x.builder.apply(Relu6, [x], {}, options(name));
