import type { Tensor } from '../ir/builder.js';
import { defineOp, IDENTITY } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { numel } from '../ir/shape.js';
import { emit } from '../onnx/emit.js';
import { broadcastShapes } from './broadcast.js';
import { type NameOrOptions, options } from './util.js';

/**
 * Element-wise power a ^ b with NumPy broadcasting (the square of a decomposed layer norm's
 * variance, Pow(x, 2)). FLOPs: 1 per output element (one pow, counted as one operation like exp).
 * Backward reads both inputs and the output: dA = dY * b * a^(b-1), dB = dY * y * ln(a) (defined
 * for a > 0; 0 where a = 0, as PyTorch's pow_backward_exponent).
 */
export const Pow = registerOp(
  defineOp({
    kind: 'pow',
    summary: 'element-wise power a ^ b with broadcasting',
    arity: 2,
    attrs: {},
    inferShape: ([a, b]) => broadcastShapes(a!, b!, 'pow'),
    params: () => [],
    macs: () => 0,
    flops: ({ output }) => numel(output),
    spatial: () => IDENTITY,
    memory: { inplace: false, view: false, saves: { inputs: [0, 1], output: true } },
    onnx: (_, w, [a, b]) => emit(w, 'Pow', [a!, b!]),
  }),
);

export const pow = (a: Tensor, b: Tensor, name?: NameOrOptions): Tensor =>
  a.builder.apply(Pow, [a, b], {}, options(name));
