import { ConvlabError, GraphError } from './errors.js';
import { type Block, type Graph, type GraphOutput, INPUT_OP, type Node } from './graph.js';
import { limitProblem } from './limits.js';
import type { Init } from './op.js';
import { getOp, hasOp, opKinds } from './registry.js';
import { AttrError, brief, num, oneOf, parseAttrs, quoted, type Schema } from './schema.js';

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
    v.forEach((d: number, i) => {
      const problem = limitProblem('dimension', `'input' ${'CHW'[i]}`, d);
      if (problem) bad(source, problem);
    });
    return [v[0], v[1], v[2]];
  }
  return bad(source, `'input' must be [C, H, W] with positive integers, got ${brief(v)}`);
}

/** A name a message can quote on one line: printable, not too long. */
function isPrintableName(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= 1000 && !/\p{Cc}/u.test(v);
}

/** The fields of each init kind, validated like an op's attributes (src/ir/op.ts, Init). */
const FLOAT32 = { min: -3.4e38, max: 3.4e38 } as const;
const INIT_SCHEMAS: Record<Init['kind'], Schema> = {
  constant: { value: num(FLOAT32) },
  normal: { std: num({ min: 0, max: FLOAT32.max }), mean: num({ ...FLOAT32, default: 0 }) },
  trunc_normal: { std: num({ min: 0, max: FLOAT32.max }), a: num(FLOAT32), b: num(FLOAT32) },
  uniform: { bound: num({ min: 0, max: FLOAT32.max }) },
  kaiming_normal: { mode: oneOf(['fan_in', 'fan_out'] as const) },
  default_weight: {},
  default_bias: {},
  xavier_uniform: {},
  xavier_normal: {},
};

/** A node's `init`: parameter name -> one Init, each checked against its kind's fields. */
function parseInit(raw: unknown): Record<string, Init> {
  const what = (key: string) => `'init' of '${key}'`;
  if (!isRecord(raw))
    throw new AttrError(`'init' must be an object of parameter name -> init, got ${brief(raw)}`);
  const out: Record<string, Init> = {};
  for (const [param, value] of Object.entries(raw)) {
    if (!isRecord(value))
      throw new AttrError(`${what(param)} must be an object with a "kind", got ${brief(value)}`);
    const { kind, ...fields } = value;
    if (typeof kind !== 'string' || !Object.hasOwn(INIT_SCHEMAS, kind)) {
      const kinds = Object.keys(INIT_SCHEMAS).join(', ');
      throw new AttrError(`${what(param)} has unknown kind ${brief(kind)}; known kinds: ${kinds}`);
    }
    const schema = INIT_SCHEMAS[kind as Init['kind']];
    let parsed: Record<string, unknown>;
    try {
      // Optional fields left out stay out, so a spec round-trips to the same init.
      const given = Object.entries(parseAttrs(schema, fields, param));
      parsed = Object.fromEntries(given.filter(([k]) => fields[k] !== undefined || !schema[k]!.optional));
    } catch (e) {
      if (e instanceof AttrError) throw new AttrError(`${what(param)} (${kind}): ${e.message}`);
      throw e;
    }
    if (kind === 'trunc_normal' && !((parsed['a'] as number) < (parsed['b'] as number)))
      throw new AttrError(
        `${what(param)} (trunc_normal) needs a < b, got a ${parsed['a']}, b ${parsed['b']}`,
      );
    Object.defineProperty(out, param, { value: { kind, ...parsed }, enumerable: true, writable: true });
  }
  return out;
}

function parseOutput(v: unknown, source: string): GraphOutput {
  if (typeof v === 'string') return { node: v, role: 'main', lossWeight: 1 };
  if (isRecord(v) && typeof v['node'] === 'string') {
    const role = v['role'] ?? 'main';
    if (role !== 'main' && role !== 'aux')
      bad(source, `output ${brief(v['node'])} has role ${brief(role)}; use 'main' or 'aux'`);
    const lossWeight = v['lossWeight'] ?? (role === 'main' ? 1 : 0.3);
    if (typeof lossWeight !== 'number' || !Number.isFinite(lossWeight) || lossWeight < 0) {
      bad(source, `output ${brief(v['node'])} needs a lossWeight >= 0, got ${brief(lossWeight)}`);
    }
    return { node: v['node'], role: role as GraphOutput['role'], lossWeight: lossWeight as number };
  }
  return bad(source, `an output must be a node name or { "node", "role", "lossWeight" }, got ${brief(v)}`);
}

/** Structural validation of a spec; shapes and attribute rules are checked by resolving the graph. */
export function fromSpec(raw: unknown, source = '<spec>'): Graph {
  if (!isRecord(raw)) return bad(source, 'must be a JSON object with "name", "input" and "nodes"');
  if (raw['convlab'] !== undefined && raw['convlab'] !== SPEC_VERSION) {
    bad(source, `is format version ${brief(raw['convlab'])}; this convlab reads version ${SPEC_VERSION}`);
  }
  const name = raw['name'] ?? 'custom';
  if (!isPrintableName(name))
    bad(source, `'name' must be a non-empty string on one line, got ${brief(name)}`);
  const shape = parseShape(raw['input'], source);
  if (!Array.isArray(raw['nodes']) || raw['nodes'].length === 0)
    bad(source, `'nodes' must be a non-empty list`);
  const tooMany = limitProblem('nodes', `the number of nodes`, (raw['nodes'] as unknown[]).length);
  if (tooMany) bad(source, tooMany);

  const nodes: Node[] = [{ name: 'input', op: INPUT_OP, inputs: [], attrs: { shape } }];
  const seen = new Set(['input']);
  (raw['nodes'] as unknown[]).forEach((item, i) => {
    const node = parseNode(item, i, nodes[nodes.length - 1]!.name, seen, source);
    seen.add(node.name);
    nodes.push(node);
  });

  const rawOutputs = raw['outputs'] ?? [nodes[nodes.length - 1]!.name];
  if (!Array.isArray(rawOutputs) || rawOutputs.length === 0)
    bad(source, `'outputs' must be a non-empty list`);
  const outputs = (rawOutputs as unknown[]).map((o) => parseOutput(o, source));
  for (const o of outputs)
    if (!seen.has(o.node)) bad(source, `output ${brief(o.node)} is not a node of the spec`);
  if (!outputs.some((o) => o.role === 'main')) bad(source, `needs at least one output with role 'main'`);
  const blocks = Array.isArray(raw['blocks'])
    ? (raw['blocks'] as unknown[]).filter(
        (b): b is Block => isRecord(b) && typeof b['name'] === 'string' && typeof b['type'] === 'string',
      )
    : [];
  const family = typeof raw['family'] === 'string' ? raw['family'] : 'custom';
  return { name: name as string, family, nodes, outputs, blocks };
}

/** Node #i+1 of a spec; `previous` is its default input, `seen` the names defined before it. */
function parseNode(
  item: unknown,
  i: number,
  previous: string,
  seen: ReadonlySet<string>,
  source: string,
): Node {
  if (!isRecord(item)) bad(source, `node #${i + 1} must be an object, got ${brief(item)}`);
  const spec = item as Record<string, unknown>;
  const op = spec['op'];
  if (typeof op !== 'string' || !hasOp(op) || op === INPUT_OP) {
    bad(
      source,
      `node #${i + 1} has unknown op ${brief(op)}; known ops: ${opKinds()
        .filter((k) => k !== INPUT_OP)
        .join(', ')}`,
    );
  }
  const nodeName = spec['name'] ?? `${op as string}_${i + 1}`;
  if (!isPrintableName(nodeName))
    bad(source, `node #${i + 1} needs a name on one line (1 to 1000 characters), got ${brief(nodeName)}`);
  if (seen.has(nodeName as string)) bad(source, `node #${i + 1}: the name '${nodeName}' is used twice`);
  const inputs = spec['inputs'] ?? [previous];
  if (!Array.isArray(inputs) || !inputs.every((s) => typeof s === 'string')) {
    bad(source, `node '${nodeName}': 'inputs' must be a list of node names`);
  }
  const tooMany = limitProblem(
    'inputs',
    `node '${nodeName}': the number of 'inputs'`,
    (inputs as string[]).length,
  );
  if (tooMany) bad(source, tooMany);
  for (const input of inputs as string[]) {
    if (!seen.has(input)) {
      throw new GraphError(
        nodeName as string,
        op as string,
        [],
        `reads ${quoted(input)}, which is not a node defined before it`,
      );
    }
  }
  // Own properties only: a key such as "__proto__" stays an (unknown, rejected) attribute.
  const attrs = Object.fromEntries(Object.entries(spec).filter(([k]) => !RESERVED.has(k)));
  let parsed: Record<string, unknown>;
  let init: Record<string, Init> | undefined;
  try {
    parsed = parseAttrs(getOp(op as string).attrs, attrs, nodeName as string);
    init = spec['init'] === undefined ? undefined : parseInit(spec['init']);
  } catch (e) {
    if (e instanceof AttrError) throw new GraphError(nodeName as string, op as string, [], e.message);
    throw e;
  }
  return {
    name: nodeName as string,
    op: op as string,
    inputs: inputs as string[],
    attrs: parsed,
    ...(init ? { init } : {}),
  };
}

/** Parse spec text; JSON syntax errors come back with the source name and position. */
export function parseSpec(text: string, source = '<spec>'): Graph {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConvlabError(`spec ${source} is not valid JSON: ${jsonProblem((e as Error).message, text)}`);
  }
  return fromSpec(raw, source);
}

/** V8's JSON error on one line, with the line and column of its position (its snippet may span lines). */
function jsonProblem(message: string, text: string): string {
  const at = /at position (\d+)/.exec(message);
  const oneLine = message.replace(/\s+/g, ' ').slice(0, 200);
  if (!at) return oneLine;
  const position = Number(at[1]);
  const before = text.slice(0, position);
  const line = before.split('\n').length;
  const column = position - before.lastIndexOf('\n');
  return `${oneLine} (line ${line}, column ${column})`;
}
