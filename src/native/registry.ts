import type { WeightData } from '../ir/init.js';
import type { ResolvedNode } from '../ir/resolve.js';
import type { Shape } from '../ir/shape.js';
import type { Binding, Md, Pd } from './binding.js';
import type { ProgramBuilder, Tensor } from './program.js';

/**
 * The native back-end's per-op table: for each op kind, how a training step runs it on oneDNN
 * (which primitives, in which layouts) forward and backward. One file per op family under ops/,
 * registered like the gradient rules; the executor never switches on op names. An op kind without
 * an entry (or whose entry declines a node) makes the whole model decline, naming the op.
 */

/** What an op entry may use while planning one node. */
export interface NativeContext {
  readonly node: ResolvedNode;
  readonly b: Binding;
  readonly p: ProgramBuilder;
  /** The node's parameter or buffer `local` ('weight'), in the plain layout `md` describes. */
  param(local: string, md?: Md): Tensor;
  /** The live array of the node's parameter or buffer `local` (host steps read and write it). */
  state(local: string): WeightData;
  /** Where the gradient of parameter `local` goes (same plain layout as the parameter). */
  grad(local: string, md?: Md): Tensor;
  /** A zero-filled constant tensor of `md`, never overwritten. */
  zeros(md: Md, shape: Shape): Tensor;
  /** The step being run (1-based) and the run's seed, as dropout's draws read them. */
  readonly clock: { readonly step: number; readonly seed: number };
  /** A label for this node's steps and buffers. */
  label(what: string): string;
}

/** What a node's forward left for its backward: its output and whatever the entry keeps. */
export interface Forward<K = unknown> {
  readonly output: Tensor;
  readonly keep: K;
}

export interface NativeOp<K = unknown> {
  readonly kind: string;
  /** Why this node cannot run natively (one phrase), or undefined when it can. */
  decline?(n: ResolvedNode): string | undefined;
  /** Whether this node absorbs its sole consumer `next` (BatchNorm a following ReLU). */
  absorbs?(n: ResolvedNode, next: ResolvedNode): boolean;
  /** Plan the train-mode forward; `absorbed` is the consumer fused in, whose output this returns. */
  forward(c: NativeContext, inputs: readonly Tensor[], absorbed: ResolvedNode | undefined): Forward<K>;
  /**
   * Plan the backward from `dy` (in the forward output's descriptor): the gradient of each input
   * (undefined where `wanted[i]` is false), and every parameter's gradient written to `c.grad`.
   */
  backward(
    c: NativeContext,
    f: Forward<K> & { readonly inputs: readonly Tensor[] },
    dy: Tensor,
    wanted: readonly boolean[],
  ): readonly (Tensor | undefined)[];
}

const table = new Map<string, NativeOp>();

export function registerNative<K>(op: NativeOp<K>): NativeOp<K> {
  if (table.has(op.kind)) throw new Error(`native op '${op.kind}' is registered twice`);
  table.set(op.kind, op as NativeOp);
  return op;
}

export const nativeOp = (kind: string): NativeOp | undefined => table.get(kind);

/** oneDNN's convolution/pooling geometry from an op's attributes: ONNX pads are [top, left, bottom, right]. */
export function geometry(a: {
  readonly stride: readonly number[];
  readonly padding: readonly number[];
  readonly dilation?: readonly number[];
}): { strides: number[]; dilates: number[]; padL: number[]; padR: number[] } {
  const [top, left, bottom, right] = a.padding as [number, number, number, number];
  return {
    strides: [...a.stride],
    dilates: (a.dilation ?? [1, 1]).map((d) => d - 1),
    padL: [top, left],
    padR: [bottom, right],
  };
}

/** oneDNN's plain (row-major) format tag for a tensor of `rank` dimensions. */
export const plainTag = (rank: number) => (['x', 'nc', 'abc', 'nchw', 'abcde'] as const)[rank - 1] ?? 'abcde';

/**
 * dX of a weighted primitive (convolution, inner product) from its backward-data descriptor: the
 * plain weights and dY reordered into the layouts the primitive chose, then one run into a fresh
 * dX in its diff_src layout (the executor reorders it to wherever the input lives).
 */
export function backwardData(c: NativeContext, pdD: Pd, plainWeights: Md, dyIn: Tensor, src: Tensor): Tensor {
  const { b, p } = c;
  const w = p.reorder(c.param('weight', plainWeights), b.pdMd(pdD, 'weights', 0), c.label('weight-bwd'));
  const dy = p.reorder(dyIn, b.pdMd(pdD, 'diff_dst', 0), c.label('dy-bwd'));
  const dx = p.tensor(b.pdMd(pdD, 'diff_src', 0), src.shape, c.label('dx'));
  p.primitive(
    pdD,
    [
      [b.ARG.DIFF_DST, dy],
      [b.ARG.WEIGHTS, w],
      [b.ARG.DIFF_SRC, dx],
    ],
    c.label('bwd-data'),
  );
  return dx;
}
