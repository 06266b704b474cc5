/**
 * Folding a graph by its blocks (graph.blocks: `layer1.0` is a Bottleneck). A collapsed block shows
 * as one box; an expanded one as a frame around its children. Everything here is linear in nodes
 * times name depth, so it runs on every click even for resnet152.
 */
import type { Graph } from '../../../src/ir/graph.js';
import type { ResolvedGraph } from '../../../src/ir/resolve.js';
import { numel, type Shape } from '../../../src/ir/shape.js';

export interface BlockInfo {
  readonly name: string;
  readonly type: string;
  readonly depth: number;
  readonly parent: string | null;
  /** Indices of the nodes inside, in topological order. */
  readonly nodes: readonly number[];
  /** The block's output: its last node, as `convlab rf --layer BLOCK` reads a block. */
  readonly output: number;
}

export interface BlockTree {
  readonly blocks: ReadonlyMap<string, BlockInfo>;
  /** For each node, its enclosing blocks from the outermost in. */
  readonly chain: readonly (readonly string[])[];
}

export function blockTree(graph: Graph): BlockTree {
  const types = new Map(graph.blocks.map((b) => [b.name, b.type]));
  const members = new Map<string, number[]>();
  const chain = graph.nodes.map((n, i) => {
    const scopes: string[] = [];
    for (let dot = n.name.indexOf('.'); dot >= 0; dot = n.name.indexOf('.', dot + 1)) {
      const scope = n.name.slice(0, dot);
      if (!types.has(scope)) continue;
      scopes.push(scope);
      const list = members.get(scope) ?? [];
      members.set(scope, list);
      list.push(i);
    }
    return scopes;
  });
  const blocks = new Map<string, BlockInfo>();
  for (const [name, nodes] of members) {
    const enclosing = chain[nodes[0]!]!;
    const depth = enclosing.indexOf(name);
    blocks.set(name, {
      name,
      type: types.get(name)!,
      depth,
      parent: depth > 0 ? enclosing[depth - 1]! : null,
      nodes,
      output: nodes[nodes.length - 1]!,
    });
  }
  return { blocks, chain };
}

/** How many boxes and edges the view shows with `collapsed` blocks folded. */
export function visibleSize(
  graph: Graph,
  tree: BlockTree,
  collapsed: ReadonlySet<string>,
): { boxes: number; edges: number } {
  const item = tree.chain.map((scopes, i) => scopes.find((s) => collapsed.has(s)) ?? `#${i}`);
  const index = new Map(graph.nodes.map((n, i) => [n.name, i]));
  const edges = new Set<string>();
  graph.nodes.forEach((n, i) => {
    for (const input of n.inputs) {
      const from = item[index.get(input)!]!;
      if (from !== item[i]) edges.add(`${from}>${item[i]}`);
    }
  });
  return { boxes: new Set(item).size, edges: edges.size };
}

/**
 * The default fold: open blocks level by level (all blocks of one depth at once, so the view stays
 * uniform) while the view stays within a budget of boxes and edges. VGG opens fully; resnet152
 * shows its 50 bottlenecks closed; DenseNet's blocks stay closed (their layers are connected all to
 * all, hundreds of edges) until asked.
 */
export function defaultCollapsed(
  graph: Graph,
  tree: BlockTree,
  budget = { boxes: 90, edges: 120 },
): Set<string> {
  let collapsed = new Set(tree.blocks.keys());
  const maxDepth = Math.max(-1, ...[...tree.blocks.values()].map((b) => b.depth));
  for (let depth = 0; depth <= maxDepth; depth++) {
    const next = new Set([...collapsed].filter((name) => tree.blocks.get(name)!.depth !== depth));
    const size = visibleSize(graph, tree, next);
    if (size.boxes > budget.boxes || size.edges > budget.edges) break;
    collapsed = next;
  }
  return collapsed;
}

/** Blocks to open so that `name` (a node or a block) is on screen. */
export function ancestorsOf(tree: BlockTree, graph: Graph, name: string): string[] {
  const block = tree.blocks.get(name);
  if (block) {
    const up: string[] = [];
    for (let p = block.parent; p; p = tree.blocks.get(p)!.parent) up.push(p);
    return up;
  }
  const index = graph.nodes.findIndex((n) => n.name === name);
  return index < 0 ? [] : [...tree.chain[index]!];
}

export interface VisibleItem {
  /** A node name or a collapsed block name. */
  readonly id: string;
  readonly kind: 'node' | 'block';
  /** The node this box stands for (a block: its output node). */
  readonly node: number;
  /** First node index inside, for ordering. */
  readonly order: number;
  /** The expanded block drawn around it, if any. */
  readonly container: string | null;
}

export interface VisibleEdge {
  readonly id: string;
  readonly source: string;
  readonly target: string;
  readonly shape: Shape;
}

export interface Folded {
  readonly items: readonly VisibleItem[];
  /** Expanded blocks that hold something visible, outermost first. */
  readonly containers: readonly {
    readonly name: string;
    readonly parent: string | null;
    readonly order: number;
  }[];
  readonly edges: readonly VisibleEdge[];
  /** The box each node is shown in. */
  readonly itemOf: readonly string[];
}

export function fold(r: ResolvedGraph, tree: BlockTree, collapsed: ReadonlySet<string>): Folded {
  const itemOf: string[] = [];
  const items = new Map<string, VisibleItem>();
  const containers = new Map<string, { name: string; parent: string | null; order: number }>();
  const openContainer = (name: string): void => {
    if (containers.has(name)) return;
    const b = tree.blocks.get(name)!;
    if (b.parent) openContainer(b.parent);
    containers.set(name, { name, parent: b.parent, order: b.nodes[0]! });
  };
  r.nodes.forEach((n, i) => {
    const scopes = tree.chain[i]!;
    const at = scopes.findIndex((s) => collapsed.has(s));
    const id = at >= 0 ? scopes[at]! : n.node.name;
    const container = (at >= 0 ? scopes[at - 1] : scopes[scopes.length - 1]) ?? null;
    itemOf.push(id);
    if (items.has(id)) return;
    if (container) openContainer(container);
    const block = at >= 0 ? tree.blocks.get(id)! : undefined;
    items.set(id, {
      id,
      kind: block ? 'block' : 'node',
      node: block ? block.output : i,
      order: i,
      container,
    });
  });
  const edges = new Map<string, VisibleEdge>();
  r.nodes.forEach((n, i) => {
    for (const j of n.inputs) {
      const source = itemOf[j]!;
      const target = itemOf[i]!;
      if (source === target) continue;
      const id = `${source}->${target}`;
      if (!edges.has(id)) edges.set(id, { id, source, target, shape: r.nodes[j]!.ctx.output });
    }
  });
  return {
    items: [...items.values()],
    containers: [...containers.values()],
    edges: [...edges.values()],
    itemOf,
  };
}

/** Parameters, MACs and FLOPs summed over a block's nodes (inference MACs only, as the summary counts). */
export function blockTotals(
  r: ResolvedGraph,
  block: BlockInfo,
): { params: number; macs: number; flops: number } {
  let params = 0;
  let macs = 0;
  let flops = 0;
  for (const i of block.nodes) {
    const n = r.nodes[i]!;
    for (const p of n.params) if (p.role === 'param') params += numel(p.shape);
    if (n.inference) {
      macs += n.macs;
      flops += n.flops;
    }
  }
  return { params, macs, flops };
}
