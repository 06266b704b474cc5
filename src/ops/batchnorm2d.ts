import type { Tensor } from '../ir/builder.js';
import { defineOp, IDENTITY } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { type AttrsIn, num } from '../ir/schema.js';
import { numel } from '../ir/shape.js';
import { type NameOrOptions, options, requireRank } from './util.js';

/**
 * Batch normalisation over channels, PyTorch's BatchNorm2d. At inference it is one scale and one
 * shift per element (FLOPs = 2 per element), which is why it can run in place and fold into a conv.
 */
export const BatchNorm2d = registerOp(
  defineOp({
    kind: 'batchnorm2d',
    summary: 'batch normalisation (affine, with running statistics)',
    arity: 1,
    attrs: { eps: num({ min: 0, default: 1e-5 }), momentum: num({ min: 0, max: 1, default: 0.1 }) },
    inferShape([x]) {
      requireRank(x!, 4);
      return x!;
    },
    params({ inputs: [x] }) {
      const c = [x![1]!];
      return [
        { name: 'weight', shape: c, dtype: 'float32', role: 'param', init: { kind: 'constant', value: 1 } },
        { name: 'bias', shape: c, dtype: 'float32', role: 'param', init: { kind: 'constant', value: 0 } },
        {
          name: 'running_mean',
          shape: c,
          dtype: 'float32',
          role: 'buffer',
          init: { kind: 'constant', value: 0 },
        },
        {
          name: 'running_var',
          shape: c,
          dtype: 'float32',
          role: 'buffer',
          init: { kind: 'constant', value: 1 },
        },
        {
          name: 'num_batches_tracked',
          shape: [],
          dtype: 'int64',
          role: 'buffer',
          init: { kind: 'constant', value: 0 },
        },
      ];
    },
    macs: () => 0,
    flops: ({ output }) => 2 * numel(output),
    spatial: () => IDENTITY,
    memory: {
      inplace: true,
      view: false,
      // PyTorch's native_batch_norm_backward reads the input and the batch mean and inverse std.
      saves: {
        inputs: [0],
        output: false,
        extra: ({ inputs: [x] }) => [
          { what: 'save_mean', shape: [x![1]!], dtype: 'float32' },
          { what: 'save_invstd', shape: [x![1]!], dtype: 'float32' },
        ],
      },
    },
  }),
);

export const batchnorm2d = (
  x: Tensor,
  attrs: AttrsIn<typeof BatchNorm2d.attrs> = {},
  name?: NameOrOptions,
): Tensor => x.builder.apply(BatchNorm2d, [x], attrs, options(name));
