import { GraphError, RuleError } from './errors.js';
import { type Graph, type GraphOutput, INPUT_OP, type Node } from './graph.js';
import { limitProblem } from './limits.js';
import type { NodeContext, OpDef, TensorSpec } from './op.js';
import { getOp } from './registry.js';
import { AttrError, type Schema } from './schema.js';
import { formatShape, numel, type Shape } from './shape.js';

/** A node with everything known once the input shape and batch are fixed. */
export interface ResolvedNode {
  readonly index: number;
  readonly node: Node;
  readonly def: OpDef<Schema>;
  readonly inputs: readonly number[];
  readonly ctx: NodeContext<Readonly<Record<string, unknown>>>;
  readonly params: readonly TensorSpec[];
  readonly macs: number;
  readonly flops: number;
  /** Indices of the nodes that read this node's output. */
  readonly consumers: readonly number[];
  /** Whether an inference pass runs this node (false for auxiliary heads). */
  readonly inference: boolean;
}

export interface ResolvedGraph {
  readonly graph: Graph;
  readonly batch: number;
  readonly nodes: readonly ResolvedNode[];
  readonly byName: ReadonlyMap<string, ResolvedNode>;
  readonly outputs: readonly GraphOutput[];
}

/** Run every facet an op can answer from shapes alone, with errors naming the node. */
export function inferNode(
  def: OpDef<Schema>,
  name: string,
  inputs: readonly Shape[],
  attrs: Readonly<Record<string, unknown>>,
): {
  ctx: NodeContext<Readonly<Record<string, unknown>>>;
  params: readonly TensorSpec[];
  macs: number;
  flops: number;
} {
  const fail = (rule: string): never => {
    throw new GraphError(name, def.kind, inputs, rule);
  };
  if (def.arity === 'variadic' ? inputs.length < 1 : inputs.length !== def.arity) {
    fail(`takes ${def.arity === 'variadic' ? 'one or more' : def.arity} input(s), got ${inputs.length}`);
  }
  try {
    const typed = attrs as never;
    const output = def.inferShape(inputs, typed);
    if (output.some((d) => !Number.isInteger(d) || d <= 0)) {
      fail(`output shape [${output.join(',')}] is empty; the input is too small for this op`);
    }
    const tooLarge = limitProblem(
      'tensorElements',
      `the size of output ${formatShape(output)}`,
      numel(output),
    );
    if (tooLarge) fail(`${tooLarge}; give a smaller input, batch or attribute`);
    const ctx = { attrs, inputs, output };
    const params: readonly TensorSpec[] = def.params(ctx as never);
    for (const p of params) {
      const problem = limitProblem(
        'tensorElements',
        `the size of ${p.name} ${formatShape(p.shape)}`,
        numel(p.shape),
      );
      if (problem) fail(`${problem}; give smaller attributes`);
    }
    return { ctx, params, macs: def.macs(ctx as never), flops: def.flops(ctx as never) };
  } catch (e) {
    if (e instanceof RuleError || e instanceof AttrError) return fail(e.message);
    throw e;
  }
}

/** A node's `init` may name only its own parameters and buffers, so a typo is never ignored. */
function checkInit(node: Node, params: readonly TensorSpec[]): void {
  if (!node.init) return;
  const names = new Set(params.map((p) => p.name));
  for (const key of Object.keys(node.init)) {
    if (!names.has(key)) {
      const known = params.length ? `its parameters: ${[...names].join(', ')}` : 'it has no parameters';
      throw new GraphError(
        node.name,
        node.op,
        [],
        `'init' names '${key}', which is not a parameter; ${known}`,
      );
    }
  }
}

/**
 * Shape inference and per-node costs over the whole graph at a given batch: one pass in
 * topological order, linear in nodes and edges.
 */
export function resolveGraph(graph: Graph, options: { batch?: number } = {}): ResolvedGraph {
  const batch = options.batch ?? 1;
  if (!Number.isInteger(batch) || batch < 1)
    throw new GraphError('input', INPUT_OP, [], `batch must be >= 1, got ${batch}`);
  const bigBatch = limitProblem('batch', 'the batch', batch);
  if (bigBatch) throw new GraphError('input', INPUT_OP, [], bigBatch);
  const index = new Map<string, number>();
  const consumers: number[][] = graph.nodes.map(() => []);
  const partial: Omit<ResolvedNode, 'consumers' | 'inference'>[] = [];

  graph.nodes.forEach((node, i) => {
    if (index.has(node.name))
      throw new GraphError(node.name, node.op, [], 'the name is used by an earlier node');
    const def = getOp(node.op);
    const inputs = node.inputs.map((name) => {
      const j = index.get(name);
      if (j === undefined) {
        throw new GraphError(
          node.name,
          node.op,
          [],
          `reads '${name}', which is not a node defined before it`,
        );
      }
      consumers[j]!.push(i);
      return j;
    });
    const inShapes =
      node.op === INPUT_OP
        ? [[batch, ...(node.attrs['shape'] as number[])]]
        : inputs.map((j) => partial[j]!.ctx.output);
    const facts = inferNode(def, node.name, inShapes, node.attrs);
    checkInit(node, facts.params);
    index.set(node.name, i);
    partial.push({ index: i, node, def, inputs, ...facts });
  });

  for (const o of graph.outputs) {
    if (!index.has(o.node))
      throw new GraphError(o.node, 'output', [], 'the graph names it as an output but no node has that name');
  }
  const live = new Set<number>();
  const stack = graph.outputs.filter((o) => o.role === 'main').map((o) => index.get(o.node)!);
  while (stack.length) {
    const i = stack.pop()!;
    if (live.has(i)) continue;
    live.add(i);
    for (const j of partial[i]!.inputs) stack.push(j);
  }
  const nodes = partial.map((p, i) => ({ ...p, consumers: consumers[i]!, inference: live.has(i) }));
  return { graph, batch, nodes, byName: new Map(nodes.map((n) => [n.node.name, n])), outputs: graph.outputs };
}
