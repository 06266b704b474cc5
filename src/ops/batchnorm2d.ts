import type { Tensor } from '../ir/builder.js';
import { defineOp, IDENTITY } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { type AttrsIn, num } from '../ir/schema.js';
import { numel } from '../ir/shape.js';
import { emit } from '../onnx/emit.js';
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
        extra: ({ inputs: [x] }) =>
          [
            { what: 'save_mean', shape: [x![1]!], dtype: 'float32' },
            { what: 'save_invstd', shape: [x![1]!], dtype: 'float32' },
          ] as const,
      },
    },
    onnx({ attrs: a, inputs: [shape] }, w, [x]) {
      const [gamma, beta, runningMean, runningVar] = ['weight', 'bias', 'running_mean', 'running_var'].map(
        (p) => w.param(p),
      );
      const epsilon = { epsilon: { f: a.eps } };
      if (w.mode === 'infer') {
        return emit(w, 'BatchNormalization', [x!, gamma!, beta!, runningMean!, runningVar!], epsilon);
      }
      // Training normalises by the batch's own statistics, computed here because backward needs
      // them (save_mean, save_invstd) and because PyTorch's running variance is the unbiased one.
      const [n, c, h, wd] = shape as [number, number, number, number];
      const count = n * h * wd;
      const axes = { axes: { ints: [0, 2, 3] }, keepdims: { i: 0 } };
      const mean = emit(w, 'ReduceMean', [x!], axes);
      const centred = emit(w, 'Sub', [
        x!,
        emit(w, 'Reshape', [mean, w.constant([1, c, 1, 1], [4], 'int64')]),
      ]);
      const variance = emit(w, 'ReduceMean', [emit(w, 'Mul', [centred, centred])], axes);
      const scalar = (v: number) => w.constant([v], [], 'float32');
      const invstd = emit(w, 'Reciprocal', [emit(w, 'Sqrt', [emit(w, 'Add', [variance, scalar(a.eps)])])]);
      w.save('save_mean', mean);
      w.save('save_invstd', invstd);
      const blend = (running: string, batch: string) =>
        emit(w, 'Add', [
          emit(w, 'Mul', [running, scalar(1 - a.momentum)]),
          emit(w, 'Mul', [batch, scalar(a.momentum)]),
        ]);
      w.update('running_mean', blend(runningMean!, mean));
      w.update(
        'running_var',
        blend(runningVar!, emit(w, 'Mul', [variance, scalar(count / Math.max(1, count - 1))])),
      );
      w.update(
        'num_batches_tracked',
        emit(w, 'Add', [w.param('num_batches_tracked'), w.constant([1], [], 'int64')]),
      );
      return emit(w, 'BatchNormalization', [x!, gamma!, beta!, mean, variance], epsilon);
    },
  }),
);

export const batchnorm2d = (
  x: Tensor,
  attrs: AttrsIn<typeof BatchNorm2d.attrs> = {},
  name?: NameOrOptions,
): Tensor => x.builder.apply(BatchNorm2d, [x], attrs, options(name));
