import type { Tensor } from '../ir/builder.js';
import { registerOp } from '../ir/registry.js';
import { emit } from '../onnx/emit.js';
import { pointwiseOp } from './pointwise.js';
import { type NameOrOptions, options } from './util.js';

/** Hard-swish (MobileNetV3): x * relu6(x + 3) / 6. FLOPs: 5 per element (add, two clamps, multiply, divide). Backward needs the input. */
export const Hardswish = registerOp(
  pointwiseOp({
    kind: 'hardswish',
    summary: 'x * relu6(x + 3) / 6',
    flopsPerElement: 5,
    saves: { inputs: [0], output: false },
    onnx: (w, x) => emit(w, 'HardSwish', [x]),
  }),
);

export const hardswish = (x: Tensor, name?: NameOrOptions): Tensor =>
  x.builder.apply(Hardswish, [x], {}, options(name));
