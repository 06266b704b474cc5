import type { Tensor } from '../ir/builder.js';
import { defineOp, IDENTITY, SAVES_NOTHING, type SpatialTransfer } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { type AttrsIn, intList, num, oneOf } from '../ir/schema.js';
import { formatShape, type Shape } from '../ir/shape.js';
import { emit, ints } from '../onnx/emit.js';
import { type NameOrOptions, options, rule } from './util.js';

/** Begin and end padding of every axis of `x` (batch included, always 0) from the op's `pads`. */
export function axisPads(x: Shape, pads: readonly number[]): { begins: number[]; ends: number[] } {
  const rank = x.length;
  rule(
    pads.length === 2 * (rank - 1),
    () =>
      `pads must give a begin and an end for each of the ${rank - 1} axes after the batch (ONNX order: all begins, then all ends), got ${pads.length} values`,
  );
  const half = rank - 1;
  return { begins: [0, ...pads.slice(0, half)], ends: [0, ...pads.slice(half)] };
}

/**
 * Padding of every axis after the batch, ONNX's Pad and PyTorch's F.pad / ZeroPad2d /
 * ReflectionPad2d / ReplicationPad2d: `pads` lists the begins of axes 1.., then their ends, as
 * ONNX orders them (without the batch's two zeros). `mode` 'constant' fills with `value`,
 * 'reflect' mirrors without repeating the edge (each pad shorter than its axis), 'edge' repeats
 * it. No FLOPs (a copy). Receptive field: a window of one tap whose begin padding is the pad
 * (positions shift by it); padding outside H and W leaves fields alone. Backward needs only shapes.
 */
export const Pad = registerOp(
  defineOp({
    kind: 'pad',
    summary: 'pad every axis after the batch (constant, reflect or edge)',
    arity: 1,
    attrs: {
      pads: intList({ min: 0 }),
      mode: oneOf(['constant', 'reflect', 'edge'], { default: 'constant' }),
      value: num({ default: 0 }),
    },
    inferShape([x], a) {
      const { begins, ends } = axisPads(x!, a.pads);
      if (a.mode === 'reflect') {
        rule(
          x!.every((d, i) => begins[i]! < d && ends[i]! < d),
          () => `reflect padding ${formatShape(a.pads)} must be shorter than each axis of ${formatShape(x!)}`,
        );
      }
      return x!.map((d, i) => d + begins[i]! + ends[i]!);
    },
    params: () => [],
    macs: () => 0,
    flops: () => 0,
    spatial({ attrs: a, inputs: [x] }): SpatialTransfer {
      if (x!.length !== 4) return IDENTITY;
      const { begins, ends } = axisPads(x!, a.pads);
      return {
        kind: 'window',
        kernel: [1, 1],
        stride: [1, 1],
        padding: [begins[2]!, begins[3]!, ends[2]!, ends[3]!],
        dilation: [1, 1],
        ceilMode: false,
      };
    },
    memory: { inplace: false, view: false, saves: SAVES_NOTHING },
    onnx({ attrs: a, inputs: [x] }, w, [input]) {
      const { begins, ends } = axisPads(x!, a.pads);
      const value = a.mode === 'constant' ? [w.constant([a.value], [], 'float32')] : [];
      return emit(w, 'Pad', [input!, ints(w, [...begins, ...ends]), ...value], { mode: { s: a.mode } });
    },
  }),
);

export const pad = (x: Tensor, attrs: AttrsIn<typeof Pad.attrs>, name?: NameOrOptions): Tensor =>
  x.builder.apply(Pad, [x], attrs, options(name));
