import { GraphBuilder, type Tensor } from '../ir/builder.js';
import { ConvlabError, GraphError } from '../ir/errors.js';
import type { WeightData } from '../ir/init.js';
import { getOp, hasOp } from '../ir/registry.js';
import { Names } from './names.js';
import type { Attribute, OnnxNode } from './proto.js';
import type { ExternalFiles } from './source.js';
import { Const, isConst, type Value } from './values.js';

/** A parameter's values as the file gives them, read when a back-end asks (export, run, train). */
export interface WeightSource {
  readonly dims: readonly number[];
  read(): WeightData;
  /** The initializer it comes from, for messages. */
  readonly from: string;
}

export const constWeight = (c: Const): WeightSource => ({
  dims: c.dims,
  read: () => c.float32(),
  from: c.name ?? 'a folded constant',
});

/** How one ONNX op type becomes IR nodes (or a folded Const). Registered in src/import/ops/*.ts. */
export type Handler = (c: NodeContext) => void;

const handlers = new Map<string, Handler>();

export function registerHandler(opTypes: readonly string[], h: Handler): void {
  for (const t of opTypes) {
    if (handlers.has(t)) throw new Error(`ONNX op '${t}' has two import handlers`);
    handlers.set(t, h);
  }
}

export const handlerFor = (opType: string): Handler | undefined => handlers.get(opType);
export const supportedOps = (): string[] => [...handlers.keys()].sort();

/** What an import pass shares across nodes: values by tensor name, consumers, names, weights. */
export class Converter {
  readonly values = new Map<string, Value>();
  readonly weights = new Map<string, WeightSource>();
  readonly names = new Names();
  /** Fusions made, by pattern ('silu', 'channel_shuffle', ...), for the import report. */
  readonly fusions = new Map<string, number>();
  /** The batch size the file fixes on its input, if it fixes one (a Reshape may then name it). */
  fileBatch: number | undefined;
  private readonly consumersOf = new Map<string, OnnxNode[]>();
  private readonly done = new Set<OnnxNode>();

  constructor(
    readonly builder: GraphBuilder,
    readonly opset: number,
    readonly external: ExternalFiles,
    nodes: readonly OnnxNode[],
  ) {
    for (const n of nodes) {
      for (const i of n.inputs) {
        if (!i) continue;
        const list = this.consumersOf.get(i);
        if (list) list.push(n);
        else this.consumersOf.set(i, [n]);
      }
    }
  }

  consumers(tensor: string): readonly OnnxNode[] {
    return this.consumersOf.get(tensor) ?? [];
  }

  /** Mark a node as handled by a fusion that started at an earlier node. */
  consume(n: OnnxNode): void {
    this.done.add(n);
  }

  isDone(n: OnnxNode): boolean {
    return this.done.has(n);
  }

  fused(pattern: string): void {
    this.fusions.set(pattern, (this.fusions.get(pattern) ?? 0) + 1);
  }

  value(name: string, node: OnnxNode): Value {
    const v = this.values.get(name);
    if (!v) {
      throw new ConvlabError(
        `ONNX node '${node.name}' (${node.opType}) reads '${name}', which no earlier node or initializer produces`,
      );
    }
    return v;
  }
}

/** One ONNX node being imported: its inputs, attributes and outputs, and the IR it turns into. */
export class NodeContext {
  constructor(
    readonly cv: Converter,
    readonly node: OnnxNode,
  ) {}

  get opset(): number {
    return this.cv.opset;
  }

  fail(what: string): never {
    throw new ConvlabError(`ONNX node '${this.node.name}' (${this.node.opType}): ${what}`);
  }

  /** Whether input `i` is given (ONNX marks an omitted optional input with an empty name). */
  has(i: number): boolean {
    return (this.node.inputs[i] ?? '') !== '';
  }

  input(i: number): Value {
    if (!this.has(i)) this.fail(`input ${i} is missing`);
    return this.cv.value(this.node.inputs[i]!, this.node);
  }

  tensor(i: number): Tensor {
    const v = this.input(i);
    if (isConst(v))
      this.fail(`input ${i} ('${this.node.inputs[i]}') is a constant where convlab needs a computed tensor`);
    return v;
  }

  constant(i: number): Const {
    const v = this.input(i);
    if (!isConst(v))
      this.fail(
        `input ${i} ('${this.node.inputs[i]}') must be known at import (an initializer or a constant)`,
      );
    return v;
  }

  attr(name: string): Attribute | undefined {
    return this.node.attributes.get(name);
  }

  int(name: string, fallback: number): number {
    const a = this.attr(name);
    if (!a) return fallback;
    if (a.kind !== 'int') this.fail(`attribute '${name}' must be an int`);
    return a.value;
  }

  float(name: string, fallback: number): number {
    const a = this.attr(name);
    if (!a) return fallback;
    if (a.kind !== 'float') this.fail(`attribute '${name}' must be a float`);
    return a.value;
  }

  ints(name: string): number[] | undefined {
    const a = this.attr(name);
    if (!a) return undefined;
    if (a.kind !== 'ints') this.fail(`attribute '${name}' must be a list of ints`);
    return [...a.value];
  }

  string(name: string, fallback: string): string {
    const a = this.attr(name);
    if (!a) return fallback;
    if (a.kind !== 'string') this.fail(`attribute '${name}' must be a string`);
    return a.value;
  }

  /** Bind output `i` of this node. */
  output(v: Value, i = 0): void {
    const name = this.node.outputs[i];
    if (name) this.cv.values.set(name, v);
  }

  /** The one node that reads output `i`, if it is of `opType` and nothing else reads the output. */
  soleConsumer(tensor: string, opType: string): OnnxNode | undefined {
    const cs = this.cv.consumers(tensor);
    return cs.length === 1 && cs[0]!.opType === opType && !this.cv.isDone(cs[0]!) ? cs[0] : undefined;
  }

  /**
   * Add IR node `kind` named after this ONNX node (or `name`), with its parameters' values taken
   * from `params` (local name -> source).
   */
  apply(
    kind: string,
    inputs: readonly Tensor[],
    attrs: Record<string, unknown>,
    options: { params?: Readonly<Record<string, WeightSource>>; name?: string; weightName?: string } = {},
  ): Tensor {
    if (!hasOp(kind)) {
      this.fail(`convlab has no '${kind}' op to import it into yet`);
    }
    const name = options.name ?? this.cv.names.forNode(this.node, options.weightName);
    let t: Tensor;
    try {
      t = this.cv.builder.apply(getOp(kind), inputs, attrs as never, { name });
    } catch (e) {
      if (e instanceof GraphError) this.fail(e.message);
      throw e;
    }
    for (const [local, source] of Object.entries(options.params ?? {})) {
      this.cv.weights.set(`${name}.${local}`, source);
    }
    return t;
  }
}

export { Const, GraphBuilder };
