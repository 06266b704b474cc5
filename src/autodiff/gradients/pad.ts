import type { OnnxWriter } from '../../ir/op.js';
import { add, emit, ints, padZeros, reduceSum, slice } from '../../onnx/emit.js';
import { axisPads, Pad } from '../../ops/pad.js';
import { registerGradient } from '../gradient.js';

const BIG = 2 ** 31;

/** dY's rows [start, end) of `axis`, reversed (a mirrored pad region, read back in input order). */
const reversedRows = (w: OnnxWriter, t: string, axis: number, start: number, end: number) =>
  emit(w, 'Slice', [
    t,
    ints(w, [end - 1]),
    ints(w, [start - 1 < 0 ? -BIG : start - 1]),
    ints(w, [axis]),
    ints(w, [-1]),
  ]);

/**
 * Undo the padding of one axis (length `n` before padding, `b` and `e` padded): the interior slice,
 * plus, for 'edge', each pad region's sum added to the edge row, and for 'reflect', each region
 * mirrored back onto the rows it copied (rows 1..b and n-1-e..n-2).
 */
function unpadAxis(
  w: OnnxWriter,
  dy: string,
  axis: number,
  rank: number,
  n: number,
  b: number,
  e: number,
  mode: string,
) {
  const core = slice(w, dy, [axis], [b], [b + n]);
  if (mode === 'constant') return core;
  const place = (t: string, before: number, after: number) => {
    const begins = new Array<number>(rank).fill(0);
    const ends = new Array<number>(rank).fill(0);
    begins[axis] = before;
    ends[axis] = after;
    return padZeros(w, t, begins, ends);
  };
  let dx = core;
  if (b > 0) {
    const region =
      mode === 'edge'
        ? reduceSum(w, slice(w, dy, [axis], [0], [b]), [axis], true)
        : reversedRows(w, dy, axis, 0, b);
    dx = add(w, dx, mode === 'edge' ? place(region, 0, n - 1) : place(region, 1, n - 1 - b));
  }
  if (e > 0) {
    const from = b + n;
    const region =
      mode === 'edge'
        ? reduceSum(w, slice(w, dy, [axis], [from], [from + e]), [axis], true)
        : reversedRows(w, dy, axis, from, from + e);
    dx = add(w, dx, mode === 'edge' ? place(region, n - 1, 0) : place(region, n - 1 - e, 1));
  }
  return dx;
}

/** Padding is linear: dX is dY with each padded axis undone in turn (the axes pad independently). */
registerGradient({
  op: Pad,
  backward({ attrs: a, inputs: [x], dy }, w) {
    const { begins, ends } = axisPads(x!, a.pads);
    let dx = dy;
    x!.forEach((n, axis) => {
      if (begins[axis]! + ends[axis]! > 0)
        dx = unpadAxis(w, dx, axis, x!.length, n, begins[axis]!, ends[axis]!, a.mode);
    });
    return { inputs: [dx] };
  },
});
