import type { Init } from './op.js';

/** One op application. Its output tensor shares its name (single-output nodes keep the IR plain). */
export interface Node {
  readonly name: string;
  readonly op: string;
  readonly inputs: readonly string[];
  /** Normalised attributes, as the op's schema stores them. */
  readonly attrs: Readonly<Record<string, unknown>>;
  /** Per-parameter initialiser overriding the op's default (torchvision's init loops, the paper's). */
  readonly init?: Readonly<Record<string, Init>>;
}

/**
 * A graph output. Auxiliary heads (GoogLeNet, Inception v3) are outputs with role 'aux': their loss
 * is added with `lossWeight` in training, and they are discarded at inference.
 */
export interface GraphOutput {
  readonly node: string;
  readonly role: 'main' | 'aux';
  readonly lossWeight: number;
}

/** A named scope of nodes that forms a block (`layer1.0` is a Bottleneck); used to fold and explain. */
export interface Block {
  readonly name: string;
  readonly type: string;
}

export interface Graph {
  readonly name: string;
  readonly family: string;
  /** Topologically ordered; the first node is the single `input` node. */
  readonly nodes: readonly Node[];
  readonly outputs: readonly GraphOutput[];
  readonly blocks: readonly Block[];
}

export const INPUT_OP = 'input';

export const inputNode = (graph: Graph): Node => {
  const first = graph.nodes[0];
  if (!first || first.op !== INPUT_OP)
    throw new Error(`graph '${graph.name}' must start with its input node`);
  return first;
};

/** The graph's input shape without batch, [C, H, W]. */
export const inputShape = (graph: Graph): [number, number, number] =>
  inputNode(graph).attrs['shape'] as [number, number, number];

/** Nodes that some output in `keep` depends on. Linear in nodes and edges. */
export function ancestors(graph: Graph, keep: readonly string[]): Set<string> {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const seen = new Set<string>();
  const stack = [...keep];
  while (stack.length) {
    const name = stack.pop()!;
    if (seen.has(name)) continue;
    seen.add(name);
    for (const i of byName.get(name)?.inputs ?? []) stack.push(i);
  }
  return seen;
}

/** The graph without its auxiliary heads (what `--no-aux` builds, and what inference runs). */
export function withoutAux(graph: Graph): Graph {
  const outputs = graph.outputs.filter((o) => o.role === 'main');
  if (outputs.length === graph.outputs.length) return graph;
  const live = ancestors(
    graph,
    outputs.map((o) => o.node),
  );
  const nodes = graph.nodes.filter((n) => live.has(n.name));
  return { ...graph, nodes, outputs, blocks: blocksWithNodes(graph.blocks, nodes) };
}

/** A copy of the graph with another input shape [C, H, W] (the `--input` option). */
export function withInputShape(graph: Graph, shape: readonly [number, number, number]): Graph {
  const [first, ...rest] = graph.nodes;
  if (!first || first.op !== INPUT_OP)
    throw new Error(`graph '${graph.name}' must start with its input node`);
  return { ...graph, nodes: [{ ...first, attrs: { ...first.attrs, shape: [...shape] } }, ...rest] };
}

/** The blocks that still hold at least one node; linear in nodes times name depth. */
export function blocksWithNodes(blocks: readonly Block[], nodes: readonly Node[]): Block[] {
  const scopes = new Set<string>();
  for (const n of nodes) {
    for (let i = n.name.indexOf('.'); i >= 0; i = n.name.indexOf('.', i + 1)) scopes.add(n.name.slice(0, i));
  }
  return blocks.filter((b) => scopes.has(b.name));
}
