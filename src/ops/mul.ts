import type { Tensor } from '../ir/builder.js';
import { defineOp, IDENTITY } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { numel } from '../ir/shape.js';
import { emit } from '../onnx/emit.js';
import { broadcastShapes } from './broadcast.js';
import { type NameOrOptions, options } from './util.js';

/**
 * Element-wise product with broadcasting: squeeze-and-excitation scales [N,C,H,W] by [N,C,1,1].
 * FLOPs: 1 per output element. Backward needs both inputs (dA = dY*B, dB = sum(dY*A)).
 */
export const Mul = registerOp(
  defineOp({
    kind: 'mul',
    summary: 'element-wise product with broadcasting (SE channel scaling)',
    arity: 2,
    attrs: {},
    inferShape: ([a, b]) => broadcastShapes(a!, b!, 'mul'),
    params: () => [],
    macs: () => 0,
    flops: ({ output }) => numel(output),
    spatial: () => IDENTITY,
    memory: { inplace: true, view: false, saves: { inputs: [0, 1], output: false } },
    onnx: (_, w, [a, b]) => emit(w, 'Mul', [a!, b!]),
  }),
);

export const mul = (a: Tensor, b: Tensor, name?: NameOrOptions): Tensor =>
  a.builder.apply(Mul, [a, b], {}, options(name));
