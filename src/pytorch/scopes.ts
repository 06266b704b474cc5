import type { ResolvedGraph, ResolvedNode } from '../ir/resolve.js';

/**
 * The graph as PyTorch modules see it: node names are module paths (`layer1.0.conv1`), so every
 * dotted prefix is a scope (a submodule) and each scope's direct children are its units, either
 * one node or a nested scope. A unit reads values made outside it and hands on the values that
 * are read outside it, which become forward's arguments and return values.
 */
export interface Unit {
  readonly local: string;
  /** The node of a one-node unit; undefined for a nested scope. */
  readonly node: ResolvedNode | undefined;
  readonly scope: Scope | undefined;
  /** Values (node names) read from outside the unit, in order of first use (a node's own inputs as given). */
  readonly inputs: readonly string[];
  /** Values of the unit read outside it or returned by the model, in node order. */
  readonly outputs: readonly string[];
  /** Position of the unit's first node in the graph: units are written in this order where the data allow. */
  readonly first: number;
}

export interface Scope {
  /** Full dotted path; '' for the model itself. */
  readonly path: string;
  /** The block type convlab recorded for this scope (`Bottleneck`), if any. */
  readonly type: string | undefined;
  readonly units: readonly Unit[];
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
}

interface Draft {
  path: string;
  children: Map<string, { node?: ResolvedNode; scope?: Draft; first: number }>;
  nodes: ResolvedNode[];
}

/** The scope tree of a resolved graph, its root being the model (input: the graph's input node). */
export function scopeTree(r: ResolvedGraph): Scope {
  const root: Draft = { path: '', children: new Map(), nodes: [] };
  for (const n of r.nodes.slice(1)) {
    const segments = n.node.name.split('.');
    let at = root;
    at.nodes.push(n);
    for (const [depth, segment] of segments.slice(0, -1).entries()) {
      let child = at.children.get(segment);
      if (!child) {
        const path = segments.slice(0, depth + 1).join('.');
        child = { scope: { path, children: new Map(), nodes: [] }, first: n.index };
        at.children.set(segment, child);
      }
      if (!child.scope) throw new Error(`'${n.node.name}' is inside node '${child.node!.node.name}'`);
      at = child.scope;
      at.nodes.push(n);
    }
    const local = segments[segments.length - 1]!;
    if (at.children.has(local)) throw new Error(`node '${n.node.name}' is also a scope`);
    at.children.set(local, { node: n, first: n.index });
  }
  const types = new Map(r.graph.blocks.map((b) => [b.name, b.type]));
  const graphOutputs = new Set(r.outputs.map((o) => o.node));
  const inputName = r.nodes[0]!.node.name;

  function finish(d: Draft): Scope {
    const inside = new Set(d.nodes.map((n) => n.node.name));
    const inputs = d.path === '' ? [inputName] : externalInputs(d.nodes, inside);
    const outputs =
      d.path === ''
        ? r.outputs.map((o) => o.node)
        : d.nodes
            .filter(
              (n) =>
                graphOutputs.has(n.node.name) || n.consumers.some((c) => !inside.has(r.nodes[c]!.node.name)),
            )
            .map((n) => n.node.name);
    const units = [...d.children].map(([local, c]): Unit => {
      if (c.node) {
        return {
          local,
          node: c.node,
          scope: undefined,
          inputs: c.node.node.inputs,
          outputs: [c.node.node.name],
          first: c.first,
        };
      }
      const scope = finish(c.scope!);
      return { local, node: undefined, scope, inputs: scope.inputs, outputs: scope.outputs, first: c.first };
    });
    return { path: d.path, type: types.get(d.path), units, inputs, outputs };
  }
  return finish(root);
}

function externalInputs(nodes: readonly ResolvedNode[], inside: ReadonlySet<string>): string[] {
  const seen = new Set<string>();
  for (const n of nodes) for (const i of n.node.inputs) if (!inside.has(i)) seen.add(i);
  return [...seen];
}

/**
 * The units in an order that computes every value before it is read, keeping graph order where
 * it can (Kahn's algorithm, earliest first node first, `early` units before others). A unit waits
 * only for values of its siblings.
 */
export function unitOrder(scope: Scope, early: (u: Unit) => boolean = () => false): Unit[] {
  const producer = new Map<string, Unit>();
  for (const u of scope.units) for (const o of u.outputs) producer.set(o, u);
  const waiting = new Map(
    scope.units.map((u) => [u, new Set(u.inputs.map((i) => producer.get(i)).filter((p) => p && p !== u))]),
  );
  const done: Unit[] = [];
  while (waiting.size) {
    const ready = [...waiting].filter(([, deps]) => deps.size === 0).map(([u]) => u);
    if (!ready.length) throw new Error(`scope '${scope.path}': its units depend on each other in a cycle`);
    // Units that run early (auxiliary heads, as torchvision computes them where their input is made) first.
    const pool = ready.some(early) ? ready.filter(early) : ready;
    const next = pool.reduce((a, b) => (a.first <= b.first ? a : b));
    waiting.delete(next);
    for (const deps of waiting.values()) deps.delete(next);
    done.push(next);
  }
  return done;
}
