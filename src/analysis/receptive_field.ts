import type { Graph } from '../ir/graph.js';
import type { SpatialTransfer } from '../ir/op.js';
import { type ResolvedGraph, resolveGraph } from '../ir/resolve.js';
import { isSpatial, type Pair, type Shape } from '../ir/shape.js';
import { adaptiveBins } from '../ops/adaptive.js';

/**
 * Receptive fields as defined by Araujo, Norris and Sim, "Computing Receptive Fields of
 * Convolutional Neural Networks" (Distill, 2019). Along one axis, a node's field is three numbers:
 * its size r, its effective stride S (how far the field moves when the output moves by one) and its
 * effective padding P (how far the first output's field starts before the image). The field of
 * output i spans input positions [i*S - P, i*S - P + r - 1]; H and W are independent.
 */

/** One layer along one axis, as the formulas read it. */
export interface AxisWindow {
  /** Dilated kernel: dilation * (k - 1) + 1. */
  readonly kernel: number;
  readonly stride: number;
  /** Begin (top or left) padding: the end padding only decides how many outputs there are. */
  readonly padding: number;
}

export interface AxisField {
  readonly size: number;
  readonly stride: number;
  readonly padding: number;
  /** Centre of the first output's field in input coordinates (0-based): (size - 1) / 2 - padding. */
  readonly centre: number;
}

export const axisField = (size: number, stride: number, padding: number): AxisField => ({
  size,
  stride,
  padding,
  centre: (size - 1) / 2 - padding,
});

/**
 * Distill's layer-by-layer recursion, run from the path's output back to its input:
 * r_{l-1} = s_l * r_l + (k_l - s_l), S_{l-1} = s_l * S_l, P_{l-1} = s_l * P_l + p_l,
 * starting from one output position (r_L = 1, S_L = 1, P_L = 0).
 */
export function recursion(path: readonly AxisWindow[]): AxisField {
  let size = 1;
  let stride = 1;
  let padding = 0;
  for (let l = path.length - 1; l >= 0; l--) {
    const { kernel: k, stride: s, padding: p } = path[l]!;
    size = s * size + (k - s);
    padding = s * padding + p;
    stride = s * stride;
  }
  return axisField(size, stride, padding);
}

/**
 * Distill's closed form over a path from the input: r = 1 + sum_l (k_l - 1) * prod_{i<l} s_i,
 * S = prod_l s_l, P = sum_l p_l * prod_{i<l} s_i. `before` carries prod_{i<l} s_i along the sum.
 */
export function closedForm(path: readonly AxisWindow[]): AxisField {
  let size = 1;
  let padding = 0;
  let before = 1;
  for (const { kernel, stride, padding: p } of path) {
    size += (kernel - 1) * before;
    padding += p * before;
    before *= stride;
  }
  return axisField(size, before, padding);
}

/** What one op does along one axis: a window (exact or, for unequal adaptive bins, a bound), the whole input, or nothing. */
export type AxisTransfer =
  | { readonly kind: 'identity' }
  | { readonly kind: 'global' }
  | { readonly kind: 'window'; readonly window: AxisWindow; readonly approximate: boolean };

/**
 * Read an op's spatial facet along axis 0 (H) or 1 (W). `inputLength` is the input's extent on that
 * axis, which adaptive pooling needs. ceil_mode is ignored on purpose: it only adds an output at the
 * end (a window that runs into the end padding), which changes neither r, S nor P.
 */
export function axisTransfer(t: SpatialTransfer, axis: 0 | 1, inputLength: number): AxisTransfer {
  if (t.kind === 'identity' || t.kind === 'global') return t;
  if (t.kind === 'window') {
    const kernel = t.dilation[axis] * (t.kernel[axis] - 1) + 1;
    // Padding4 is [top, left, bottom, right]: the begin padding of H is index 0, of W index 1.
    return {
      kind: 'window',
      window: { kernel, stride: t.stride[axis], padding: t.padding[axis] },
      approximate: false,
    };
  }
  const n = t.outputSize[axis];
  if (n === 1) return { kind: 'global' };
  const bins = adaptiveBins(inputLength, n);
  const uniform = inputLength % n === 0;
  // Unequal bins have no single kernel or stride: the largest bin and the largest step bound the field.
  const kernel = Math.max(...bins.map(([a, b]) => b - a));
  const stride = uniform ? inputLength / n : Math.ceil(inputLength / n);
  return { kind: 'window', window: { kernel, stride, padding: 0 }, approximate: !uniform };
}

/** One input of a merge (add, concat, multiply) with the field it brings. */
export interface MergePath {
  readonly from: string;
  readonly size: Pair;
  readonly stride: Pair;
  readonly padding: Pair;
  readonly centre: Pair;
}

/**
 * Where paths meet. They are aligned when their fields share the effective stride and the centre
 * on both axes (Distill); the merged field is then the largest. Otherwise the merged field is the
 * union (hull) of the paths' fields, and the report keeps every path and the range of sizes.
 */
export interface MergeReport {
  readonly node: string;
  readonly aligned: boolean;
  readonly paths: readonly MergePath[];
  readonly sizeMin: Pair;
  readonly sizeMax: Pair;
}

export interface NodeField {
  readonly name: string;
  readonly op: string;
  /** Output [H, W] while the output is a feature map; null after flatten. */
  readonly extent: Pair | null;
  readonly size: Pair;
  readonly stride: Pair;
  readonly padding: Pair;
  readonly centre: Pair;
  /** Every merge this field depends on is aligned. */
  readonly aligned: boolean;
  /**
   * The field is the whole input (global pooling, flatten, linear): size = the input size, stride =
   * size, padding = 0.
   */
  readonly global: boolean;
  /** Some op upstream pools into unequal adaptive bins: size and stride are upper bounds. */
  readonly approximate: boolean;
  /** The field is larger than the input: every output sees at most the image, zero padding fills the rest. */
  readonly clipped: boolean;
  /**
   * A broadcast branch (squeeze-and-excitation's gate) that reaches every output position, so the
   * whole input also influences this node through it; the numbers above are the spatial field.
   */
  readonly context: string | null;
  /** Set on nodes with two or more inputs. */
  readonly merge: MergeReport | null;
  /** Whether an inference pass runs the node (auxiliary heads do not). */
  readonly inference: boolean;
}

export interface ReceptiveFields {
  readonly model: string;
  /** Input [H, W]. */
  readonly input: Pair;
  /** In the graph's topological order, the input node first. */
  readonly nodes: readonly NodeField[];
  readonly byName: ReadonlyMap<string, NodeField>;
}

interface AxisState {
  readonly field: AxisField;
  readonly global: boolean;
  readonly approximate: boolean;
}

const axisLength = (shape: Shape, axis: 0 | 1): number => shape[2 + axis]!;

/**
 * Forward through one layer: the closed form's next term, so every node costs O(1) per input.
 * `image` is the network input's extent on this axis.
 */
function extend(s: AxisState, t: AxisTransfer, image: number): AxisState {
  if (s.global || t.kind === 'identity') return s;
  const { field: f } = s;
  if (t.kind === 'global') {
    // Every position of the map reaches the output, so the field is the whole image, reported as one
    // window over it (S = r, P = 0). (Pixels that a valid convolution's floor leaves unread at the far
    // border, fewer than the map's effective stride, are not tracked.)
    return { field: axisField(image, image, 0), global: true, approximate: s.approximate };
  }
  const w = t.window;
  return {
    field: axisField(
      f.size + (w.kernel - 1) * f.stride,
      f.stride * w.stride,
      f.padding + w.padding * f.stride,
    ),
    global: false,
    approximate: s.approximate || t.approximate,
  };
}

/** The hull of the first output's fields over the merging paths; for aligned paths, the largest. */
function hull(states: readonly AxisState[]): { state: AxisState; aligned: boolean } {
  const global = states.find((s) => s.global);
  if (global) return { state: global, aligned: true };
  const fields = states.map((s) => s.field);
  const [first] = fields as [AxisField];
  const aligned = fields.every((f) => f.stride === first.stride && f.centre === first.centre);
  const padding = Math.max(...fields.map((f) => f.padding));
  const end = Math.max(...fields.map((f) => f.size - 1 - f.padding));
  const stride = Math.max(...fields.map((f) => f.stride));
  return {
    state: {
      field: axisField(end + padding + 1, stride, padding),
      global: false,
      // Paths with different strides have no common field that moves with the output.
      approximate: fields.some((f) => f.stride !== stride) || states.some((s) => s.approximate),
    },
    aligned,
  };
}

type Axes = readonly [AxisState, AxisState];

const pairOf = (axes: Axes, get: (f: AxisField) => number): Pair => [get(axes[0].field), get(axes[1].field)];

function mergeReport(
  node: string,
  paths: readonly { from: string; axes: Axes }[],
  aligned: boolean,
): MergeReport {
  const sizes = (axis: 0 | 1) => paths.map((p) => p.axes[axis].field.size);
  return {
    node,
    aligned,
    paths: paths.map(({ from, axes }) => ({
      from,
      size: pairOf(axes, (f) => f.size),
      stride: pairOf(axes, (f) => f.stride),
      padding: pairOf(axes, (f) => f.padding),
      centre: pairOf(axes, (f) => f.centre),
    })),
    sizeMin: [Math.min(...sizes(0)), Math.min(...sizes(1))],
    sizeMax: [Math.max(...sizes(0)), Math.max(...sizes(1))],
  };
}

const START: AxisState = { field: axisField(1, 1, 0), global: false, approximate: false };

/**
 * Every node's receptive field with respect to the input: one pass in topological order (Distill's
 * algorithm over a DAG), linear in nodes and edges. A merge compares its paths' fields for alignment
 * and keeps their hull.
 */
export function receptiveFields(r: ResolvedGraph): ReceptiveFields {
  const inputShape = r.nodes[0]!.ctx.output;
  const input: Pair = [axisLength(inputShape, 0), axisLength(inputShape, 1)];
  const states: Axes[] = [];
  const nodes: NodeField[] = [];
  const fromImage: boolean[] = [];

  for (const n of r.nodes) {
    const out = n.ctx.output;
    const spatial = isSpatial(out);
    // A 1x1 input spread over a larger map (SE's gate) reaches every position alike: it is context,
    // not a path whose field moves with the output.
    const broadcast = (i: number): boolean => {
      const s = r.nodes[i]!.ctx.output;
      return spatial && isSpatial(s) && s[2] === 1 && s[3] === 1 && (out[2]! > 1 || out[3]! > 1);
    };
    // Constants and parameters (a layer scale) do not depend on the image: no field reaches through them.
    fromImage.push(n.index === 0 || n.inputs.some((i) => fromImage[i]));
    const paths = n.inputs.filter((i) => fromImage[i] && !broadcast(i));
    const gate = n.inputs.find(broadcast);
    const context =
      (gate === undefined ? null : r.nodes[gate]!.node.name) ??
      n.inputs.map((i) => nodes[i]!.context).find((c) => c !== null) ??
      null;
    let aligned = n.inputs.every((i) => nodes[i]!.aligned);
    let merge: MergeReport | null = null;
    let own: Axes = [START, START];

    if (paths.length > 0) {
      const transfer = n.def.spatial(n.ctx as never);
      const inShape = n.ctx.inputs[0]!;
      const merged = ([0, 1] as const).map((axis) =>
        paths.length === 1
          ? { state: states[paths[0]!]![axis], aligned: true }
          : hull(paths.map((i) => states[i]![axis])),
      );
      const through = (axis: 0 | 1): AxisState => {
        const length = isSpatial(inShape) ? axisLength(inShape, axis) : 1;
        return extend(merged[axis]!.state, axisTransfer(transfer, axis, length), input[axis]);
      };
      own = [through(0), through(1)];
      if (paths.length > 1) {
        const mergeAligned = merged.every((m) => m.aligned);
        aligned &&= mergeAligned;
        const from = paths.map((i) => ({ from: r.nodes[i]!.node.name, axes: states[i]! }));
        merge = mergeReport(n.node.name, from, mergeAligned);
      }
    }
    states.push(own);
    const global = own[0].global || own[1].global;
    nodes.push({
      name: n.node.name,
      op: n.node.op,
      extent: spatial ? [axisLength(out, 0), axisLength(out, 1)] : null,
      size: pairOf(own, (f) => f.size),
      stride: pairOf(own, (f) => f.stride),
      padding: pairOf(own, (f) => f.padding),
      centre: pairOf(own, (f) => f.centre),
      aligned,
      global,
      approximate: own[0].approximate || own[1].approximate,
      clipped: !global && (own[0].field.size > input[0] || own[1].field.size > input[1]),
      context,
      merge,
      inference: n.inference,
    });
  }
  return { model: r.graph.name, input, nodes, byName: new Map(nodes.map((f) => [f.name, f])) };
}

export const receptiveFieldsOf = (g: Graph): ReceptiveFields => receptiveFields(resolveGraph(g));

/** A node name, or a block name (`layer3`, `Mixed_6e`) standing for the block's last node. */
export function layerNode(graph: Graph, name: string): string | undefined {
  const prefix = `${name}.`;
  let last: string | undefined;
  for (const n of graph.nodes) {
    if (n.name === name) return name;
    if (n.name.startsWith(prefix)) last = n.name;
  }
  return last;
}

/** The last layer inference runs whose output is still a feature map with its own field. */
export function lastSpatialField(fields: ReceptiveFields): NodeField {
  let last = fields.nodes[0]!;
  for (const f of fields.nodes) if (f.inference && f.extent !== null && !f.global) last = f;
  return last;
}
