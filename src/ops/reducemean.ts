import type { Tensor } from '../ir/builder.js';
import { defineOp, GLOBAL, IDENTITY, SAVES_NOTHING } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { type AttrsIn, bool, intList } from '../ir/schema.js';
import { formatShape, numel } from '../ir/shape.js';
import { emit } from '../onnx/emit.js';
import { type NameOrOptions, options, rule } from './util.js';

/**
 * The mean over some axes after the batch, ONNX's ReduceMean (x.mean(dim), the means of a
 * decomposed layer norm, x.mean([2, 3]) as global pooling in timm). `axes` lists them (>= 1: the
 * batch is never reduced); `keepdims` keeps them as size 1. FLOPs: one per input element (the
 * adds), plus one divide per output element. Receptive field: reducing H or W of a feature map
 * makes every output read the whole map; other axes keep it. Backward needs only shapes.
 */
export const ReduceMean = registerOp(
  defineOp({
    kind: 'reducemean',
    summary: 'mean over axes after the batch (keepdims by default)',
    arity: 1,
    attrs: { axes: intList({ min: 1 }), keepdims: bool({ default: true }) },
    inferShape([x], a) {
      rule(
        a.axes.every((axis) => axis < x!.length) && new Set(a.axes).size === a.axes.length,
        () => `axes ${formatShape(a.axes)} must be distinct axes of ${formatShape(x!)} after the batch`,
      );
      const reduced = new Set(a.axes);
      return x!.flatMap((d, i) => (reduced.has(i) ? (a.keepdims ? [1] : []) : [d]));
    },
    params: () => [],
    macs: () => 0,
    flops: ({ inputs: [x], output }) => numel(x!) + numel(output),
    spatial: ({ attrs: a, inputs: [x] }) =>
      x!.length === 4 && a.axes.some((axis) => axis >= 2) ? GLOBAL : IDENTITY,
    memory: { inplace: false, view: false, saves: SAVES_NOTHING },
    onnx: ({ attrs: a }, w, [x]) =>
      emit(w, 'ReduceMean', [x!], { axes: { ints: a.axes }, keepdims: { i: a.keepdims ? 1 : 0 } }),
  }),
);

export const reducemean = (
  x: Tensor,
  attrs: AttrsIn<typeof ReduceMean.attrs>,
  name?: NameOrOptions,
): Tensor => x.builder.apply(ReduceMean, [x], attrs, options(name));
