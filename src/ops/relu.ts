import type { Tensor } from '../ir/builder.js';
import { registerOp } from '../ir/registry.js';
import { emit } from '../onnx/emit.js';
import { pointwiseOp } from './pointwise.js';
import { type NameOrOptions, options } from './util.js';

/** ReLU: max(x, 0). FLOPs: 1 per element (a comparison). Backward needs only the output's sign, so it saves the output, which is why ReLU can run in place. */
export const Relu = registerOp(
  pointwiseOp({
    kind: 'relu',
    summary: 'max(x, 0)',
    flopsPerElement: 1,
    saves: { inputs: [], output: true },
    onnx: (w, x) => emit(w, 'Relu', [x]),
  }),
);

export const relu = (x: Tensor, name?: NameOrOptions): Tensor =>
  x.builder.apply(Relu, [x], {}, options(name));
