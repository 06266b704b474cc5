import type { Tensor } from '../ir/builder.js';
import { registerOp } from '../ir/registry.js';
import { emit, mul } from '../onnx/emit.js';
import { pointwiseOp } from './pointwise.js';
import { type NameOrOptions, options } from './util.js';

/**
 * SiLU, also called Swish (EfficientNet, RegNetY, MobileNetV3's cousins): x * sigmoid(x). FLOPs: 5
 * per element (sigmoid's 4 and the product). ONNX has no SiLU before opset 24, so it lowers to
 * Sigmoid and Mul (what torch.onnx.export writes; the importer fuses that pair back into this op).
 * Backward needs the input: dX = dY * s * (1 + x * (1 - s)) with s = sigmoid(x).
 */
export const Silu = registerOp(
  pointwiseOp({
    kind: 'silu',
    summary: 'x * sigmoid(x) (Swish)',
    flopsPerElement: 5,
    saves: { inputs: [0], output: false },
    onnx: (w, x) => mul(w, x, emit(w, 'Sigmoid', [x])),
  }),
);

export const silu = (x: Tensor, name?: NameOrOptions): Tensor =>
  x.builder.apply(Silu, [x], {}, options(name));
