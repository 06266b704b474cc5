import { type NodeContext, registerHandler } from '../convert.js';
import { BATCH } from '../values.js';

/* Concat, Split and Slice along one axis. */

/** A possibly negative axis of a rank-`rank` tensor, as the IR's positive axis (never the batch). */
export function channelAxis(c: NodeContext, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 1 || a >= rank) c.fail(`axis ${axis} of a rank-${rank} tensor: convlab keeps the batch axis whole`);
  return a;
}

registerHandler(['Concat'], (c) => {
  const xs = c.node.inputs.map((_, i) => c.tensor(i));
  const axis = channelAxis(c, c.int('axis', 1), xs[0]!.shape.length);
  c.output(c.apply('concat', xs, { axis }));
});

/** Split's part sizes: an attribute before opset 13, an input since, else equal parts (or num_outputs). */
function splitSizes(c: NodeContext, length: number): number[] {
  const given = c.opset >= 13 ? (c.has(1) ? c.constant(1).ints('Split sizes') : undefined) : c.ints('split');
  const parts = c.node.outputs.length;
  if (given) {
    if (given.length !== parts || given.reduce((a, b) => a + b, 0) !== length || given.some((s) => s < 1)) {
      c.fail(`split sizes [${given.join(',')}] do not divide an axis of ${length} into ${parts} parts`);
    }
    return given;
  }
  const size = Math.ceil(length / parts);
  return Array.from({ length: parts }, (_, i) => Math.min(size, length - i * size));
}

registerHandler(['Split'], (c) => {
  const x = c.tensor(0);
  const axis = channelAxis(c, c.int('axis', 0), x.shape.length);
  const sizes = splitSizes(c, x.shape[axis]!);
  let start = 0;
  sizes.forEach((size, i) => {
    const name = c.cv.names.forNode(c.node);
    c.output(c.apply('slice', [x], { start, end: start + size, axis }, { name }), i);
    start += size;
  });
});

/** Clamp a Slice bound to [0, length] the way ONNX does (negative counts from the end). */
const clampBound = (v: number, length: number): number =>
  Math.min(Math.max(v < 0 ? v + length : v, 0), length);

registerHandler(['Slice'], (c) => {
  const x = c.tensor(0);
  const list = (i: number, attr: string) =>
    c.opset >= 10 ? (c.has(i) ? c.constant(i).ints(`Slice ${attr}`) : undefined) : c.ints(attr);
  const starts = list(1, 'starts') ?? [];
  const ends = list(2, 'ends') ?? [];
  const axes = list(3, 'axes') ?? starts.map((_, i) => i);
  const steps = list(4, 'steps') ?? starts.map(() => 1);
  // A slice over all of an axis (the batch's, as x[:, a:b] exports) leaves that axis alone.
  const cuts = axes
    .map((axis, i) => {
      const a = axis < 0 ? axis + x.shape.length : axis;
      const length = a === 0 ? BATCH : x.shape[a]!;
      return {
        a,
        start: clampBound(starts[i]!, length),
        end: clampBound(ends[i]!, length),
        step: steps[i]!,
        length,
      };
    })
    .filter((s) => !(s.start === 0 && s.end === s.length && s.step === 1));
  if (cuts.length === 0) return c.output(x);
  if (cuts.length > 1 || cuts[0]!.step !== 1) c.fail('convlab imports a Slice of one axis with step 1');
  const { a, start, end } = cuts[0]!;
  c.output(c.apply('slice', [x], { start, end, axis: channelAxis(c, a, x.shape.length) }));
});
