import type { Tensor } from '../ir/builder.js';
import { defineOp, IDENTITY } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { type AttrsIn, num } from '../ir/schema.js';
import { type NameOrOptions, options } from './util.js';

/**
 * Dropout with probability p. The identity at inference (0 FLOPs); in training it keeps a mask of
 * the zeroed elements, one byte each, for backward.
 */
export const Dropout = registerOp(
  defineOp({
    kind: 'dropout',
    summary: 'dropout (identity at inference)',
    arity: 1,
    attrs: { p: num({ min: 0, max: 1, default: 0.5 }) },
    inferShape: ([x]) => x!,
    params: () => [],
    macs: () => 0,
    flops: () => 0,
    spatial: () => IDENTITY,
    memory: {
      inplace: true,
      view: false,
      saves: {
        inputs: [],
        output: false,
        extra: ({ output }) => [{ what: 'mask', shape: output, dtype: 'bool' }],
      },
    },
  }),
);

export const dropout = (x: Tensor, attrs: AttrsIn<typeof Dropout.attrs> = {}, name?: NameOrOptions): Tensor =>
  x.builder.apply(Dropout, [x], attrs, options(name));
