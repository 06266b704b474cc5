import type { Tensor } from '../ir/builder.js';
import { registerOp } from '../ir/registry.js';
import { emit } from '../onnx/emit.js';
import { pointwiseOp } from './pointwise.js';
import { type NameOrOptions, options } from './util.js';

/** Sigmoid (the SE gate): 1 / (1 + exp(-x)). FLOPs: 4 per element (negate, exp, add, divide). Backward uses y(1 - y), so it saves the output. */
export const Sigmoid = registerOp(
  pointwiseOp({
    kind: 'sigmoid',
    summary: '1 / (1 + exp(-x))',
    flopsPerElement: 4,
    saves: { inputs: [], output: true },
    onnx: (w, x) => emit(w, 'Sigmoid', [x]),
  }),
);

export const sigmoid = (x: Tensor, name?: NameOrOptions): Tensor =>
  x.builder.apply(Sigmoid, [x], {}, options(name));
