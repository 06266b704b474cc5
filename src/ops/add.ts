import type { Tensor } from '../ir/builder.js';
import { defineOp, IDENTITY, SAVES_NOTHING } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { numel } from '../ir/shape.js';
import { emit } from '../onnx/emit.js';
import { broadcastShapes } from './broadcast.js';
import { type NameOrOptions, options } from './util.js';

/**
 * Element-wise sum: the residual connection. FLOPs: 1 per output element. It can accumulate into
 * its first input's buffer, and its gradient passes dY through unchanged, so it saves nothing.
 */
export const Add = registerOp(
  defineOp({
    kind: 'add',
    summary: 'element-wise sum (residual connection)',
    arity: 2,
    attrs: {},
    inferShape: ([a, b]) => broadcastShapes(a!, b!, 'add'),
    params: () => [],
    macs: () => 0,
    flops: ({ output }) => numel(output),
    spatial: () => IDENTITY,
    memory: { inplace: true, view: false, saves: SAVES_NOTHING },
    onnx: (_, w, [a, b]) => emit(w, 'Add', [a!, b!]),
  }),
);

export const add = (a: Tensor, b: Tensor, name?: NameOrOptions): Tensor =>
  a.builder.apply(Add, [a, b], {}, options(name));
