import type { Tensor } from '../ir/builder.js';
import { defineOp, IDENTITY } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { type AttrsIn, num } from '../ir/schema.js';
import { numel } from '../ir/shape.js';
import { emit } from '../onnx/emit.js';
import { type NameOrOptions, options, rule } from './util.js';

/** float32's largest finite value: the bound an absent min or max stands for (finite, so a spec round-trips through JSON). */
export const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * Clamp to [min, max], ONNX's Clip and torch.clamp. ReLU6 (Clip 0..6) stays its own op, which the
 * importer maps Clip(0, 6) onto; this is the general bound. FLOPs: 2 per element (two
 * comparisons). Backward needs the input: dX = dY where min <= x <= max (PyTorch's clamp_backward).
 */
export const Clip = registerOp(
  defineOp({
    kind: 'clip',
    summary: 'clamp to [min, max]',
    arity: 1,
    attrs: { min: num({ default: -FLOAT32_MAX }), max: num({ default: FLOAT32_MAX }) },
    inferShape([x], a) {
      rule(a.min <= a.max, `min ${a.min} must not exceed max ${a.max}`);
      return x!;
    },
    params: () => [],
    macs: () => 0,
    flops: ({ output }) => 2 * numel(output),
    spatial: () => IDENTITY,
    memory: { inplace: true, view: false, saves: { inputs: [0], output: false } },
    onnx: ({ attrs: a }, w, [x]) =>
      emit(w, 'Clip', [x!, w.constant([a.min], [], 'float32'), w.constant([a.max], [], 'float32')]),
  }),
);

export const clip = (x: Tensor, attrs: AttrsIn<typeof Clip.attrs> = {}, name?: NameOrOptions): Tensor =>
  x.builder.apply(Clip, [x], attrs, options(name));
