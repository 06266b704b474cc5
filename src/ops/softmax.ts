import type { Tensor } from '../ir/builder.js';
import { defineOp, IDENTITY } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { type AttrsIn, int } from '../ir/schema.js';
import { numel } from '../ir/shape.js';
import { emit } from '../onnx/emit.js';
import { type NameOrOptions, options, rule } from './util.js';

/**
 * Softmax along an axis (classes by default). FLOPs: 5 per element (max, subtract, exp, sum,
 * divide). Backward needs the output: dX = y * (dY - sum(dY * y)).
 */
export const Softmax = registerOp(
  defineOp({
    kind: 'softmax',
    summary: 'softmax along an axis',
    arity: 1,
    attrs: { axis: int({ min: 1, default: 1 }) },
    inferShape([x], a) {
      rule(a.axis < x!.length, `axis ${a.axis} is out of range for rank ${x!.length}`);
      return x!;
    },
    params: () => [],
    macs: () => 0,
    flops: ({ output }) => 5 * numel(output),
    spatial: () => IDENTITY,
    memory: { inplace: false, view: false, saves: { inputs: [], output: true } },
    onnx: ({ attrs: a }, w, [x]) => emit(w, 'Softmax', [x!], { axis: { i: a.axis } }),
  }),
);

export const softmax = (x: Tensor, attrs: AttrsIn<typeof Softmax.attrs> = {}, name?: NameOrOptions): Tensor =>
  x.builder.apply(Softmax, [x], attrs, options(name));
