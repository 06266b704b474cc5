import type { ResolvedGraph, ResolvedNode } from '../ir/resolve.js';
import type { Gradients } from './gradient.js';

/**
 * How a back-end differentiates one node, over its own tensors `T` (ONNX tensor names in the
 * training graph; a native executor's buffers).
 */
export interface BackwardStep<T> {
  /** The sum of the gradients several consumers sent back to one node's output. */
  sum(n: ResolvedNode, parts: readonly T[]): T;
  /** The node's backward: the gradients of its inputs and parameters from that of its output. */
  backward(n: ResolvedNode, dy: T): Gradients<T>;
}

/** A gradient that starts the sweep: the loss's with respect to the output of node `node`. */
export interface Seed<T> {
  readonly node: number;
  readonly grad: T;
}

/**
 * Reverse-mode autodiff over a resolved graph, as micrograd's `backward()`: resolveGraph's order is
 * topological, so walking it backwards reaches every node after all of its consumers. A node's
 * output gradient is the sum of what its consumers (and the seeds) sent it; its backward step
 * turns that into gradients for its inputs, sent on, and for its parameters, collected by full
 * name (`layer1.0.conv1.weight`). Nodes no gradient reaches are skipped; the graph's input
 * (node 0) is data, so nothing is sent to it.
 */
export function backwardSweep<T>(
  r: ResolvedGraph,
  seeds: readonly Seed<T>[],
  step: BackwardStep<T>,
): Map<string, T> {
  const incoming: T[][] = r.nodes.map(() => []);
  for (const s of seeds) incoming[s.node]!.push(s.grad);
  const paramGrads = new Map<string, T>();
  for (let i = r.nodes.length - 1; i > 0; i--) {
    const n = r.nodes[i]!;
    const parts = incoming[i]!;
    if (parts.length === 0) continue;
    const dy = parts.length === 1 ? parts[0]! : step.sum(n, parts);
    const grads = step.backward(n, dy);
    grads.inputs.forEach((g, j) => {
      const from = n.inputs[j]!;
      if (g !== undefined && from !== 0) incoming[from]!.push(g);
    });
    for (const [local, g] of Object.entries(grads.params ?? {})) paramGrads.set(`${n.node.name}.${local}`, g);
  }
  return paramGrads;
}
