import type { Tensor } from '../ir/builder.js';
import { defineOp, IDENTITY } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { type AttrsIn, bool, num } from '../ir/schema.js';
import { numel } from '../ir/shape.js';
import { emit } from '../onnx/emit.js';
import { type NameOrOptions, options, requireRank } from './util.js';

/**
 * L2 normalisation over channels at every position, y = x / sqrt(sum_c x^2 + eps), optionally
 * times a learnable per-channel scale (ParseNet, SSD's conv4_3 with scale 20). After max-pooling it
 * evens out the scale of features from different layers.
 * FLOPs: 3 per element (square, sum, divide) + 2 per position (eps add, sqrt), + 1 per element when scaled.
 */
export const L2Norm = registerOp(
  defineOp({
    kind: 'l2norm',
    summary: 'L2 normalisation over channels (optionally with a learnable scale)',
    arity: 1,
    attrs: {
      eps: num({ min: 0, default: 1e-10 }),
      scale: bool({ default: false }),
      scaleInit: num({ default: 20 }),
    },
    inferShape([x]) {
      requireRank(x!, 4);
      return x!;
    },
    params: ({ attrs: a, inputs: [x] }) =>
      a.scale
        ? [
            {
              name: 'weight',
              shape: [x![1]!],
              dtype: 'float32',
              role: 'param',
              init: { kind: 'constant', value: a.scaleInit },
            },
          ]
        : [],
    macs: () => 0,
    flops: ({ attrs: a, output }) => {
      const positions = output[0]! * output[2]! * output[3]!;
      return (a.scale ? 4 : 3) * numel(output) + 2 * positions;
    },
    spatial: () => IDENTITY,
    // Backward of x / ||x|| needs x and the per-position norm; y = x / norm carries both.
    memory: {
      inplace: false,
      view: false,
      saves: {
        inputs: [0],
        output: false,
        extra: ({ output }) =>
          [{ what: 'norm', shape: [output[0]!, 1, output[2]!, output[3]!], dtype: 'float32' }] as const,
      },
    },
    onnx({ attrs: a, inputs: [shape] }, w, [x]) {
      const sumSquares = emit(w, 'ReduceSumSquare', [x!], { axes: { ints: [1] }, keepdims: { i: 1 } });
      const norm = emit(w, 'Sqrt', [emit(w, 'Add', [sumSquares, w.constant([a.eps], [], 'float32')])]);
      w.save('norm', norm);
      const y = emit(w, 'Div', [x!, norm]);
      if (!a.scale) return y;
      const c = shape![1]!;
      const scale = emit(w, 'Reshape', [w.param('weight'), w.constant([1, c, 1, 1], [4], 'int64')]);
      return emit(w, 'Mul', [y, scale]);
    },
  }),
);

export const l2norm = (x: Tensor, attrs: AttrsIn<typeof L2Norm.attrs> = {}, name?: NameOrOptions): Tensor =>
  x.builder.apply(L2Norm, [x], attrs, options(name));
