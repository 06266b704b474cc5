import { type Graph, inputShape, withInputShape } from '../ir/graph.js';
import type { SpatialTransfer } from '../ir/op.js';
import { type ResolvedGraph, resolveGraph } from '../ir/resolve.js';
import { isSpatial, type Pair } from '../ir/shape.js';
import { adaptiveBins } from '../ops/adaptive.js';

/**
 * An independent check of the receptive-field formulas, sharing no code with them: along each axis,
 * lay the input out as a line of positions and push, through every op, the span of input positions
 * each output position reads, using nothing but the op's own window semantics (which taps a window
 * reads, which of them fall in zero padding). Fields are then measured, not computed: the size is
 * the span of one output, the stride how far the span moves from one output to the next, and the
 * padding is read off where the first output's span would start on an unbounded line.
 *
 * Positions are tracked by their span (first and last input position): a dilated window can skip
 * positions, and the span is what Distill's size counts. Only outputs whose whole cone stays clear
 * of zero padding ("clean") are measured, since padding truncates the span at the image border.
 */

/** What the check measured at one node along one axis. */
export type Measured =
  | {
      readonly kind: 'field';
      readonly size: number;
      readonly stride: number;
      readonly padding: number;
      /** How many clean output positions the measurement agrees over. */
      readonly positions: number;
    }
  /** Every output position reads the whole input line (global pooling, flatten, linear). */
  | { readonly kind: 'whole'; readonly span: number }
  | { readonly kind: 'unmeasured'; readonly reason: string };

export interface CheckedNode {
  readonly name: string;
  /** Output length along H and W (1 once the map is gone). */
  readonly length: Pair;
  readonly axes: readonly [Measured, Measured];
  /** A 1x1 input is broadcast over the map (SE's gate): every position reads it alike. */
  readonly context: boolean;
}

export interface FieldCheck {
  /** The graph the check ran: the spatial part of the model at the input size it chose. */
  readonly graph: Graph;
  readonly input: Pair;
  readonly nodes: ReadonlyMap<string, CheckedNode>;
}

/** For each output position, the first and last input position it reads, and whether padding was involved. */
interface Line {
  readonly first: Int32Array;
  readonly last: Int32Array;
  readonly clean: Uint8Array;
  /** Every position reads the whole input line. */
  readonly whole: boolean;
  readonly context: boolean;
}

const SHORT = 'clear of padding';
const NONE_FIRST = 2 ** 31 - 1;
const NONE_LAST = -(2 ** 31);

function emptyLine(length: number, whole: boolean, context: boolean): Line {
  return {
    first: new Int32Array(length).fill(NONE_FIRST),
    last: new Int32Array(length).fill(NONE_LAST),
    clean: new Uint8Array(length).fill(1),
    whole,
    context,
  };
}

/** Output position j reads input position t: take t's span; a tap outside the input reads zero padding. */
function read(out: Line, j: number, from: Line, t: number): void {
  if (t < 0 || t >= from.first.length) {
    out.clean[j] = 0;
    return;
  }
  if (from.first[t]! < out.first[j]!) out.first[j] = from.first[t]!;
  if (from.last[t]! > out.last[j]!) out.last[j] = from.last[t]!;
  if (!from.clean[t]) out.clean[j] = 0;
}

/**
 * The taps of every output: `tapsOf(j)` calls `visit` with each input position output j reads,
 * by the op's own definition of its window.
 */
function tapsOf(
  t: SpatialTransfer,
  axis: 0 | 1,
  inLength: number,
): (j: number, visit: (tap: number) => void) => void {
  if (t.kind === 'window') {
    // Padding4 is [top, left, bottom, right]; the window of output j starts at j*stride - begin padding.
    const [k, s, pad, d] = [t.kernel[axis], t.stride[axis], t.padding[axis], t.dilation[axis]];
    return (j, visit) => {
      for (let m = 0, tap = j * s - pad; m < k; m++, tap += d) visit(tap);
    };
  }
  if (t.kind === 'adaptive') {
    const bins = adaptiveBins(inLength, t.outputSize[axis]);
    return (j, visit) => {
      const [a, b] = bins[j]!;
      for (let tap = a; tap < b; tap++) visit(tap);
    };
  }
  return (_, visit) => {
    for (let tap = 0; tap < inLength; tap++) visit(tap);
  };
}

function propagate(r: ResolvedGraph, axis: 0 | 1): Line[] {
  const lines: Line[] = [];
  const lengthOf = (shape: readonly number[]): number => (isSpatial(shape) ? shape[2 + axis]! : 1);
  for (const n of r.nodes) {
    const length = lengthOf(n.ctx.output);
    if (n.inputs.length === 0) {
      const line = emptyLine(length, false, false);
      for (let i = 0; i < length; i++) {
        line.first[i] = i;
        line.last[i] = i;
      }
      lines.push(line);
      continue;
    }
    const inputs = n.inputs.map((i) => lines[i]!);
    const t = n.def.spatial(n.ctx as never);
    if (inputs.length > 1 || t.kind === 'identity') {
      // Element-wise ops read the same position of each input; a length-1 input is broadcast.
      const spread = inputs.filter((l) => l.first.length === 1 && length > 1);
      const positional = inputs.filter((l) => !spread.includes(l));
      if (positional.some((l) => l.first.length !== length)) {
        throw new Error(
          `node '${n.node.name}': inputs of unequal length ${positional.map((l) => l.first.length)}`,
        );
      }
      const line = emptyLine(
        length,
        positional.some((l) => l.whole),
        spread.length > 0 || inputs.some((l) => l.context),
      );
      for (let j = 0; j < length; j++) for (const from of positional) read(line, j, from, j);
      lines.push(line);
      continue;
    }
    const [from] = inputs as [Line];
    const inLength = from.first.length;
    const line = emptyLine(length, from.whole || t.kind === 'global', from.context);
    const taps = tapsOf(t, axis, inLength);
    for (let j = 0; j < length; j++) taps(j, (tap) => read(line, j, from, tap));
    lines.push(line);
  }
  return lines;
}

function measure(line: Line): Measured {
  if (line.whole) return { kind: 'whole', span: line.last[0]! - line.first[0]! + 1 };
  const clean: number[] = [];
  for (let j = 0; j < line.first.length; j++)
    if (line.clean[j] && line.first[j]! <= line.last[j]!) clean.push(j);
  if (clean.length < 2) {
    return { kind: 'unmeasured', reason: `${clean.length} output position(s) ${SHORT}; need 2` };
  }
  const [j0, j1] = clean as [number, number];
  const size = line.last[j0]! - line.first[j0]! + 1;
  const stride = (line.first[j1]! - line.first[j0]!) / (j1 - j0);
  for (const j of clean) {
    if (
      line.last[j]! - line.first[j]! + 1 !== size ||
      line.first[j]! - line.first[j0]! !== (j - j0) * stride
    ) {
      return { kind: 'unmeasured', reason: `the span does not move by a constant stride (at output ${j})` };
    }
  }
  return { kind: 'field', size, stride, padding: j0 * stride - line.first[j0]!, positions: clean.length };
}

/** The model's feature-map part: what follows flatten is sized for one input and needs no check. */
function spatialPart(graph: Graph): Graph {
  const r = resolveGraph(graph);
  const nodes = graph.nodes.filter((n) => isSpatial(r.byName.get(n.name)!.ctx.output));
  return { ...graph, nodes, outputs: [], blocks: [] };
}

function run(graph: Graph): Map<string, CheckedNode> {
  const r = resolveGraph(graph);
  const [h, w] = [propagate(r, 0), propagate(r, 1)];
  return new Map(
    r.nodes.map((n, i) => [
      n.node.name,
      {
        name: n.node.name,
        length: [h[i]!.first.length, w[i]!.first.length],
        axes: [measure(h[i]!), measure(w[i]!)],
        context: h[i]!.context || w[i]!.context,
      },
    ]),
  );
}

/**
 * Measure every node's field, doubling the input (from the model's own size) until every output
 * that grows with the input has two positions clear of padding, or a side would pass `limit`. An
 * output whose size is fixed (adaptive pooling) never has such positions; it is reported as such.
 */
export function checkReceptiveFields(graph: Graph, options: { limit?: number } = {}): FieldCheck {
  const limit = options.limit ?? 8192;
  const part = spatialPart(graph);
  const [c, h, w] = inputShape(part);
  const grows = (n: CheckedNode, before: ReadonlyMap<string, CheckedNode> | undefined): boolean =>
    !before || n.length.some((l, k) => l > before.get(n.name)!.length[k]!);
  let scale = 1;
  let previous: ReadonlyMap<string, CheckedNode> | undefined;
  for (;;) {
    const sized = withInputShape(part, [c, h * scale, w * scale]);
    const nodes = run(sized);
    const short = [...nodes.values()].filter((n) =>
      n.axes.some((a) => a.kind === 'unmeasured' && a.reason.includes(SHORT)),
    );
    if (short.some((n) => grows(n, previous)) && Math.max(h, w) * scale * 2 <= limit) {
      previous = nodes;
      scale *= 2;
      continue;
    }
    for (const n of short) {
      if (grows(n, previous)) continue;
      const fixed: Measured = {
        kind: 'unmeasured',
        reason: 'fixed-size output (adaptive pooling): its outputs reach the border at any input size',
      };
      const axes = n.axes.map((a) => (a.kind === 'unmeasured' ? fixed : a)) as [Measured, Measured];
      nodes.set(n.name, { ...n, axes });
    }
    return { graph: sized, input: [h * scale, w * scale], nodes };
  }
}
