import type { Tensor } from '../ir/builder.js';
import { defineOp, IDENTITY, SAVES_NOTHING } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { numel } from '../ir/shape.js';
import { emit } from '../onnx/emit.js';
import { broadcastShapes } from './broadcast.js';
import { type NameOrOptions, options } from './util.js';

/**
 * Element-wise difference a - b with NumPy broadcasting (the x - mean of a decomposed layer norm,
 * input normalisation). FLOPs: 1 per output element. Its gradient is dY and -dY, so it saves nothing.
 */
export const Sub = registerOp(
  defineOp({
    kind: 'sub',
    summary: 'element-wise difference a - b with broadcasting',
    arity: 2,
    attrs: {},
    inferShape: ([a, b]) => broadcastShapes(a!, b!, 'sub'),
    params: () => [],
    macs: () => 0,
    flops: ({ output }) => numel(output),
    spatial: () => IDENTITY,
    memory: { inplace: true, view: false, saves: SAVES_NOTHING },
    onnx: (_, w, [a, b]) => emit(w, 'Sub', [a!, b!]),
  }),
);

export const sub = (a: Tensor, b: Tensor, name?: NameOrOptions): Tensor =>
  a.builder.apply(Sub, [a, b], {}, options(name));
