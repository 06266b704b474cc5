import type { Tensor } from '../ir/builder.js';
import { DataType, defineOp, IDENTITY } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { type AttrsIn, num } from '../ir/schema.js';
import { emit } from '../onnx/emit.js';
import { keepMask } from './random.js';
import { type NameOrOptions, options } from './util.js';

/**
 * Dropout with probability p: in training each element is zeroed with probability p and the rest
 * scaled by 1/(1-p); the identity at inference (0 FLOPs). Training keeps the mask, one byte per
 * element, for backward.
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
        extra: ({ output }) => [{ what: 'mask', shape: output, dtype: 'bool' }] as const,
      },
    },
    onnx({ attrs: a, output }, w, [x]) {
      if (w.mode === 'infer' || a.p === 0) return x!;
      if (!w.randomSource()) {
        // A standalone training-forward export: ONNX's own Dropout, which any runtime knows.
        const training = emit(w, 'Cast', [w.constant([1], [], 'int64')], { to: { i: DataType.BOOL } });
        return w.node('Dropout', [x!, w.constant([a.p], [], 'float32'), training])[0]!;
      }
      // In a training step the mask is a hash of (seed, node, step, element): see ops/random.ts.
      const keep = keepMask(w, output, a.p);
      w.save('mask', keep);
      const kept = emit(w, 'Where', [keep, x!, w.constant([0], [], 'float32')]);
      return emit(w, 'Mul', [kept, w.constant([a.p < 1 ? 1 / (1 - a.p) : 0], [], 'float32')]);
    },
  }),
);

export const dropout = (x: Tensor, attrs: AttrsIn<typeof Dropout.attrs> = {}, name?: NameOrOptions): Tensor =>
  x.builder.apply(Dropout, [x], attrs, options(name));
