import { ConvlabError, GraphError } from './errors.js';
import { type Block, type Graph, type GraphOutput, INPUT_OP, type Node } from './graph.js';
import type { Init } from './op.js';
import { getOp, hasOp, opKinds } from './registry.js';
import { AttrError, parseAttrs } from './schema.js';

/**
 * The JSON spec: a graph as data. A node is `{ "name", "op", "inputs", ...attributes }` with its
 * attributes inline, so a hand-written spec reads like the layer it describes. `inputs` defaults to
 * the previous node, which makes a plain chain a list of layers. The serialiser writes every
 * attribute explicitly, so any graph round-trips to an identical graph.
 */
export const SPEC_VERSION = 1;

export interface SpecNode {
  name?: string;
  op: string;
  inputs?: string[];
  init?: Record<string, Init>;
  [attribute: string]: unknown;
}

export interface Spec {
  convlab: number;
  name: string;
  family?: string;
  input: [number, number, number];
  nodes: SpecNode[];
  outputs?: (string | GraphOutput)[];
  blocks?: Block[];
}

const RESERVED = new Set(['name', 'op', 'inputs', 'init']);

export function toSpec(graph: Graph): Spec {
  const [input, ...rest] = graph.nodes;
  if (!input || input.op !== INPUT_OP)
    throw new Error(`graph '${graph.name}' must start with its input node`);
  return {
    convlab: SPEC_VERSION,
    name: graph.name,
    family: graph.family,
    input: input.attrs['shape'] as [number, number, number],
    nodes: rest.map((n) => ({
      name: n.name,
      op: n.op,
      inputs: [...n.inputs],
      ...structuredClone(n.attrs),
      ...(n.init ? { init: structuredClone(n.init) as Record<string, Init> } : {}),
    })),
    outputs: graph.outputs.map((o) => ({ ...o })),
    blocks: graph.blocks.map((b) => ({ ...b })),
  };
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

const bad = (source: string, what: string): never => {
  throw new ConvlabError(`spec ${source}: ${what}`);
};

function parseShape(v: unknown, source: string): [number, number, number] {
  if (Array.isArray(v) && v.length === 3 && v.every((d) => Number.isInteger(d) && d >= 1)) {
    return [v[0], v[1], v[2]];
  }
  return bad(source, `'input' must be [C, H, W] with positive integers, got ${JSON.stringify(v)}`);
}

function parseOutput(v: unknown, source: string): GraphOutput {
  if (typeof v === 'string') return { node: v, role: 'main', lossWeight: 1 };
  if (isRecord(v) && typeof v['node'] === 'string') {
    const role = v['role'] ?? 'main';
    if (role !== 'main' && role !== 'aux')
      bad(source, `output '${v['node']}' has role ${JSON.stringify(role)}; use 'main' or 'aux'`);
    const lossWeight = v['lossWeight'] ?? (role === 'main' ? 1 : 0.3);
    if (typeof lossWeight !== 'number' || !Number.isFinite(lossWeight) || lossWeight < 0) {
      bad(source, `output '${v['node']}' needs a lossWeight >= 0, got ${JSON.stringify(lossWeight)}`);
    }
    return { node: v['node'], role: role as GraphOutput['role'], lossWeight: lossWeight as number };
  }
  return bad(
    source,
    `an output must be a node name or { "node", "role", "lossWeight" }, got ${JSON.stringify(v)}`,
  );
}

/** Structural validation of a spec; shapes and attribute rules are checked by resolving the graph. */
export function fromSpec(raw: unknown, source = '<spec>'): Graph {
  if (!isRecord(raw)) return bad(source, 'must be a JSON object with "name", "input" and "nodes"');
  if (raw['convlab'] !== undefined && raw['convlab'] !== SPEC_VERSION) {
    bad(
      source,
      `is format version ${JSON.stringify(raw['convlab'])}; this convlab reads version ${SPEC_VERSION}`,
    );
  }
  const name = raw['name'] ?? 'custom';
  if (typeof name !== 'string' || !name) bad(source, `'name' must be a non-empty string`);
  const shape = parseShape(raw['input'], source);
  if (!Array.isArray(raw['nodes']) || raw['nodes'].length === 0)
    bad(source, `'nodes' must be a non-empty list`);

  const nodes: Node[] = [{ name: 'input', op: INPUT_OP, inputs: [], attrs: { shape } }];
  const seen = new Set(['input']);
  (raw['nodes'] as unknown[]).forEach((item, i) => {
    if (!isRecord(item)) bad(source, `node #${i + 1} must be an object, got ${JSON.stringify(item)}`);
    const spec = item as Record<string, unknown>;
    const op = spec['op'];
    if (typeof op !== 'string' || !hasOp(op) || op === INPUT_OP) {
      bad(
        source,
        `node #${i + 1} has unknown op ${JSON.stringify(op)}; known ops: ${opKinds()
          .filter((k) => k !== INPUT_OP)
          .join(', ')}`,
      );
    }
    const nodeName = spec['name'] ?? `${op as string}_${i + 1}`;
    if (typeof nodeName !== 'string' || !nodeName)
      bad(source, `node #${i + 1} has an invalid name ${JSON.stringify(nodeName)}`);
    if (seen.has(nodeName as string)) bad(source, `node #${i + 1}: the name '${nodeName}' is used twice`);
    const inputs = spec['inputs'] ?? [nodes[nodes.length - 1]!.name];
    if (!Array.isArray(inputs) || !inputs.every((s) => typeof s === 'string')) {
      bad(source, `node '${nodeName}': 'inputs' must be a list of node names`);
    }
    for (const input of inputs as string[]) {
      if (!seen.has(input)) {
        throw new GraphError(
          nodeName as string,
          op as string,
          [],
          `reads '${input}', which is not a node defined before it`,
        );
      }
    }
    const attrs: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(spec)) if (!RESERVED.has(k)) attrs[k] = v;
    let parsed: Record<string, unknown>;
    try {
      parsed = parseAttrs(getOp(op as string).attrs, attrs, nodeName as string);
    } catch (e) {
      if (e instanceof AttrError) throw new GraphError(nodeName as string, op as string, [], e.message);
      throw e;
    }
    const init = spec['init'];
    if (init !== undefined && !isRecord(init)) bad(source, `node '${nodeName}': 'init' must be an object`);
    seen.add(nodeName as string);
    nodes.push({
      name: nodeName as string,
      op: op as string,
      inputs: inputs as string[],
      attrs: parsed,
      ...(init ? { init: init as Record<string, Init> } : {}),
    });
  });

  const rawOutputs = raw['outputs'] ?? [nodes[nodes.length - 1]!.name];
  if (!Array.isArray(rawOutputs) || rawOutputs.length === 0)
    bad(source, `'outputs' must be a non-empty list`);
  const outputs = (rawOutputs as unknown[]).map((o) => parseOutput(o, source));
  for (const o of outputs) if (!seen.has(o.node)) bad(source, `output '${o.node}' is not a node of the spec`);
  if (!outputs.some((o) => o.role === 'main')) bad(source, `needs at least one output with role 'main'`);
  const blocks = Array.isArray(raw['blocks'])
    ? (raw['blocks'] as unknown[]).filter(
        (b): b is Block => isRecord(b) && typeof b['name'] === 'string' && typeof b['type'] === 'string',
      )
    : [];
  const family = typeof raw['family'] === 'string' ? raw['family'] : 'custom';
  return { name: name as string, family, nodes, outputs, blocks };
}

/** Parse spec text; JSON syntax errors come back with the source name and position. */
export function parseSpec(text: string, source = '<spec>'): Graph {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConvlabError(`spec ${source} is not valid JSON: ${(e as Error).message}`);
  }
  return fromSpec(raw, source);
}
