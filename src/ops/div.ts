import type { Tensor } from '../ir/builder.js';
import { defineOp, IDENTITY } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { numel } from '../ir/shape.js';
import { emit } from '../onnx/emit.js';
import { broadcastShapes } from './broadcast.js';
import { type NameOrOptions, options } from './util.js';

/**
 * Element-wise quotient a / b with NumPy broadcasting (the division by the standard deviation in a
 * decomposed layer norm, hard-sigmoid's / 6). FLOPs: 1 per output element. Backward reads the
 * divisor and the output: dA = dY / b, dB = -dY * y / b.
 */
export const Div = registerOp(
  defineOp({
    kind: 'div',
    summary: 'element-wise quotient a / b with broadcasting',
    arity: 2,
    attrs: {},
    inferShape: ([a, b]) => broadcastShapes(a!, b!, 'div'),
    params: () => [],
    macs: () => 0,
    flops: ({ output }) => numel(output),
    spatial: () => IDENTITY,
    memory: { inplace: false, view: false, saves: { inputs: [1], output: true } },
    onnx: (_, w, [a, b]) => emit(w, 'Div', [a!, b!]),
  }),
);

export const div = (a: Tensor, b: Tensor, name?: NameOrOptions): Tensor =>
  a.builder.apply(Div, [a, b], {}, options(name));
