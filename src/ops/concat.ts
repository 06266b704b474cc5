import type { Tensor } from '../ir/builder.js';
import { defineOp, IDENTITY, SAVES_NOTHING } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { type AttrsIn, int } from '../ir/schema.js';
import { emit } from '../onnx/emit.js';
import { type NameOrOptions, options, rule } from './util.js';

/**
 * Concatenation along an axis (channels by default): Inception's branch merge and DenseNet's
 * feature reuse. No FLOPs; it copies, and its gradient is a split, so it saves nothing.
 */
export const Concat = registerOp(
  defineOp({
    kind: 'concat',
    summary: 'concatenate along an axis (channels by default)',
    arity: 'variadic',
    attrs: { axis: int({ min: 1, default: 1 }) },
    inferShape(inputs, a) {
      const first = inputs[0]!;
      rule(a.axis < first.length, `axis ${a.axis} is out of range for rank ${first.length}`);
      for (const s of inputs) {
        rule(
          s.length === first.length && s.every((d, i) => i === a.axis || d === first[i]),
          () =>
            `inputs must match on every axis but ${a.axis}, got ${inputs.map((x) => `[${x.join(',')}]`).join(' and ')}`,
        );
      }
      return first.map((d, i) => (i === a.axis ? inputs.reduce((sum, s) => sum + s[i]!, 0) : d));
    },
    params: () => [],
    macs: () => 0,
    flops: () => 0,
    spatial: () => IDENTITY,
    memory: { inplace: false, view: false, saves: SAVES_NOTHING },
    onnx: ({ attrs: a }, w, inputs) => emit(w, 'Concat', inputs, { axis: { i: a.axis } }),
  }),
);

export const concat = (
  xs: readonly Tensor[],
  attrs: AttrsIn<typeof Concat.attrs> = {},
  name?: NameOrOptions,
): Tensor => xs[0]!.builder.apply(Concat, xs, attrs, options(name));
