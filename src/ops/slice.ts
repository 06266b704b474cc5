import type { Tensor } from '../ir/builder.js';
import { defineOp, IDENTITY, SAVES_NOTHING } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { type AttrsIn, int } from '../ir/schema.js';
import { emit } from '../onnx/emit.js';
import { type NameOrOptions, options, rule } from './util.js';

/**
 * The range [start, end) of one axis (channels by default): ShuffleNet v2's channel split is two
 * slices. A view in PyTorch (x.chunk), so it costs no FLOPs and no new bytes.
 */
export const Slice = registerOp(
  defineOp({
    kind: 'slice',
    summary: 'take channels [start, end) (channel split)',
    arity: 1,
    attrs: { start: int({ min: 0 }), end: int({ min: 1 }), axis: int({ min: 1, default: 1 }) },
    inferShape([x], a) {
      rule(a.axis < x!.length, `axis ${a.axis} is out of range for rank ${x!.length}`);
      const size = x![a.axis]!;
      rule(
        a.start < a.end && a.end <= size,
        `range [${a.start}, ${a.end}) must be non-empty and within 0..${size}`,
      );
      return x!.map((d, i) => (i === a.axis ? a.end - a.start : d));
    },
    params: () => [],
    macs: () => 0,
    flops: () => 0,
    spatial: () => IDENTITY,
    memory: { inplace: false, view: true, saves: SAVES_NOTHING },
    onnx: ({ attrs: a }, w, [x]) =>
      emit(w, 'Slice', [
        x!,
        w.constant([a.start], [1], 'int64'),
        w.constant([a.end], [1], 'int64'),
        w.constant([a.axis], [1], 'int64'),
      ]),
  }),
);

export const slice = (x: Tensor, attrs: AttrsIn<typeof Slice.attrs>, name?: NameOrOptions): Tensor =>
  x.builder.apply(Slice, [x], attrs, options(name));

/** Split channels into consecutive parts of the given sizes (ShuffleNet v2 splits in halves). */
export function split(x: Tensor, sizes: readonly number[], names: readonly string[]): Tensor[] {
  let start = 0;
  return sizes.map((size, i) => {
    const part = slice(x, { start, end: start + size }, names[i]);
    start += size;
    return part;
  });
}
