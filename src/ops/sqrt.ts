import type { Tensor } from '../ir/builder.js';
import { registerOp } from '../ir/registry.js';
import { emit } from '../onnx/emit.js';
import { pointwiseOp } from './pointwise.js';
import { type NameOrOptions, options } from './util.js';

/**
 * Square root, element-wise (the Sqrt of the ReduceMean/Sub/Pow/Sqrt/Div layer-norm pattern older
 * opsets export). FLOPs: 1 per element. Backward reads the output: dX = dY / (2 * y).
 */
export const Sqrt = registerOp(
  pointwiseOp({
    kind: 'sqrt',
    summary: 'square root, element-wise',
    flopsPerElement: 1,
    saves: { inputs: [], output: true },
    onnx: (w, x) => emit(w, 'Sqrt', [x]),
  }),
);

export const sqrt = (x: Tensor, name?: NameOrOptions): Tensor =>
  x.builder.apply(Sqrt, [x], {}, options(name));
