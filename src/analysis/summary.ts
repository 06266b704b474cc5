import type { Graph } from '../ir/graph.js';
import { inputShape } from '../ir/graph.js';
import { type ResolvedGraph, resolveGraph } from '../ir/resolve.js';
import { DTYPE_BYTES, numel, type Shape } from '../ir/shape.js';

export interface LayerRow {
  readonly name: string;
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outShape: Shape;
  readonly params: number;
  readonly macs: number;
  readonly flops: number;
}

export interface Totals {
  /** Every learnable parameter of the model as built (auxiliary heads included when present). */
  readonly params: number;
  readonly trainableParams: number;
  /** Elements of non-learnable state: BatchNorm running statistics and counters. */
  readonly buffers: number;
  /** Conv and linear multiply-accumulates of one inference pass (auxiliary heads never run). */
  readonly macs: number;
  readonly flops: number;
  /** Bytes of every feature map one inference pass produces (views excluded: they own no bytes). */
  readonly activationBytes: number;
}

export interface Summary {
  readonly model: string;
  readonly input: Shape;
  readonly totals: Totals;
  readonly outputs: readonly { name: string; shape: Shape; role: 'main' | 'aux' }[];
  readonly layers: readonly LayerRow[];
}

const FLOAT = DTYPE_BYTES.float32;

/** Per-layer and total counts: one pass over the resolved graph. */
export function summarise(r: ResolvedGraph): Summary {
  let params = 0;
  let buffers = 0;
  let macs = 0;
  let flops = 0;
  let activationBytes = 0;
  const layers: LayerRow[] = [];
  for (const n of r.nodes) {
    let own = 0;
    for (const p of n.params) {
      if (p.role === 'param') own += numel(p.shape);
      else buffers += numel(p.shape);
    }
    params += own;
    if (n.inference) {
      macs += n.macs;
      flops += n.flops;
      if (n.node.op !== 'input' && !n.def.memory.view) activationBytes += numel(n.ctx.output) * FLOAT;
    }
    if (n.node.op === 'input') continue;
    layers.push({
      name: n.node.name,
      op: n.node.op,
      inputs: n.node.inputs,
      outShape: n.ctx.output,
      params: own,
      macs: n.inference ? n.macs : 0,
      flops: n.inference ? n.flops : 0,
    });
  }
  return {
    model: r.graph.name,
    input: [r.batch, ...inputShape(r.graph)],
    totals: { params, trainableParams: params, buffers, macs, flops, activationBytes },
    outputs: r.outputs.map((o) => ({ name: o.node, shape: r.byName.get(o.node)!.ctx.output, role: o.role })),
    layers,
  };
}

export const summariseGraph = (g: Graph, batch = 1): Summary => summarise(resolveGraph(g, { batch }));
