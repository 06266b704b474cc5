import type { WeightData } from '../ir/init.js';
import type { OnnxAttr, OnnxTarget, OnnxWriter, TensorSpec } from '../ir/op.js';
import type { ResolvedNode } from '../ir/resolve.js';
import { formatShape, numel, type Shape } from '../ir/shape.js';
import type { NodeProto, TensorProto } from './proto.js';

export interface MutableNode {
  name: string;
  opType: string;
  inputs: string[];
  outputs: string[];
  attributes: Readonly<Record<string, OnnxAttr>>;
  domain?: string;
}

/** Where a writer that embeds weights takes the values of parameter `name` of node `node`. */
export type WeightSource = (name: string, spec: TensorSpec, node: ResolvedNode) => WeightData;

const noWeights: WeightSource = () => {
  throw new Error('this writer embeds no weights');
};

/**
 * The ONNX writer a node's `onnx` facet writes into. Names: a node's output tensor is the convlab
 * node's name (`layer1.0.conv1`); helper tensors and constants live under it (`x.shuffle/Reshape`);
 * parameters are initializers named by their full parameter name (`layer1.0.conv1.weight`).
 */
export class GraphWriter implements OnnxWriter {
  readonly target: OnnxTarget;
  readonly nodes: MutableNode[] = [];
  readonly initializers = new Map<string, TensorProto>();
  private readonly names = new Set<string>();
  /** The node (or, for nodes no convlab node owns, the name) new ONNX nodes are written for. */
  private current: ResolvedNode | string | undefined;
  private firstOfCurrent = 0;
  private readonly saved = new Map<number, Map<string, string>>();
  private readonly updates = new Map<string, { tensor: string; spec: TensorSpec }>();
  /** A training graph's seed and step input (see `drawsFrom`). */
  private random: { seed: number; step: string } | undefined;
  /** The non-default operator sets the nodes use, each imported at version 1. */
  readonly domains = new Set<string>();
  private readonly weightOf: WeightSource;

  /**
   * `params` says where parameters and buffers come from: 'initializers' embeds their values (an
   * exported model); 'inputs' makes each a graph input fed every step (a training step's graph).
   * `target`: the back-end the graph is written for (default `{}`, standard ONNX).
   */
  constructor(
    readonly mode: 'infer' | 'train',
    private readonly params: 'initializers' | 'inputs',
    options: { readonly weightOf?: WeightSource; readonly target?: OnnxTarget } = {},
  ) {
    this.weightOf = options.weightOf ?? noWeights;
    this.target = options.target ?? {};
  }

  /** Lower one convlab node; returns the name of the tensor that carries its output. */
  lower(n: ResolvedNode, inputs: readonly string[]): string {
    this.current = n;
    this.firstOfCurrent = this.nodes.length;
    const result = n.def.onnx(n.ctx, this, inputs);
    const own = this.nodes.slice(this.firstOfCurrent);
    const producer = own.find((p) => p.outputs.includes(result));
    if (!producer) return result; // an identity lowering: the node's output is one of its inputs
    // The tensor carrying the node's output takes the node's own name, as Netron then shows it.
    const name = this.claim(n.node.name);
    for (const p of own) {
      p.inputs = p.inputs.map((i) => (i === result ? name : i));
      p.outputs = p.outputs.map((o) => (o === result ? name : o));
    }
    producer.name = name;
    return name;
  }

  node(
    opType: string,
    inputs: readonly string[],
    attributes: Readonly<Record<string, OnnxAttr>> = {},
    outputs = 1,
    domain?: string,
  ): string[] {
    const base = this.claim(`${this.scope()}/${opType}`);
    const names = Array.from({ length: outputs }, (_, j) => (j === 0 ? base : this.claim(`${base}:${j}`)));
    this.nodes.push({
      name: base,
      opType,
      inputs: [...inputs],
      outputs: names,
      attributes,
      ...(domain && { domain }),
    });
    if (domain) this.domains.add(domain);
    return names;
  }

  constant(values: readonly number[], shape: Shape, dtype: 'float32' | 'int64'): string {
    if (values.length !== numel(shape)) {
      throw new Error(`constant of shape ${formatShape(shape)} given ${values.length} values`);
    }
    const name = this.claim(`${this.scope()}/const`);
    const data =
      dtype === 'float32' ? Float32Array.from(values) : BigInt64Array.from(values, (v) => BigInt(v));
    this.initializers.set(name, { name, dims: shape, data });
    return name;
  }

  param(local: string): string {
    const n = this.owner();
    const spec = n.params.find((p) => p.name === local);
    if (!spec) throw new Error(`node '${n.node.name}' (${n.node.op}) has no parameter '${local}'`);
    const name = `${n.node.name}.${local}`;
    if (!this.names.has(name)) {
      this.names.add(name);
      if (this.params === 'initializers') {
        this.initializers.set(name, { name, dims: spec.shape, data: this.weightOf(name, spec, n) });
      }
    }
    return name;
  }

  save(what: string, tensor: string): void {
    const n = this.owner();
    const own = this.saved.get(n.index) ?? new Map<string, string>();
    own.set(what, tensor);
    this.saved.set(n.index, own);
  }

  update(local: string, tensor: string): void {
    const spec = this.owner().params.find((p) => p.name === local)!;
    this.updates.set(this.param(local), { tensor, spec });
  }

  /** Random draws in the graph derive from `seed` and the step counter `step` (a float32 scalar input). */
  drawsFrom(seed: number, step: string): void {
    this.random = { seed, step };
  }

  randomSource(): { seed: number; step: string; node: string } | undefined {
    return this.random && { ...this.random, node: this.owner().node.name };
  }

  /** What node `n`'s train-mode lowering saved for its backward, by name. */
  savedBy(n: ResolvedNode): ReadonlyMap<string, string> {
    return this.saved.get(n.index) ?? new Map();
  }

  /** The next value of buffer `name` (a full name), if this step updates it. */
  updated(name: string): string | undefined {
    return this.updates.get(name)?.tensor;
  }

  /** Every buffer update of the step, by full buffer name. */
  bufferUpdates(): ReadonlyMap<string, { tensor: string; spec: TensorSpec }> {
    return this.updates;
  }

  /**
   * Emit nodes on behalf of `n` (its backward pass, its loss), so names and params resolve to it;
   * or, given a name, nodes no convlab node owns (an evaluation graph's metrics), named under it.
   */
  within<T>(n: ResolvedNode | string, body: () => T): T {
    const previous = this.current;
    this.current = n;
    try {
      return body();
    } finally {
      this.current = previous;
    }
  }

  /** Give `tensor` the graph-output name `name` through an Identity (numbered if the name is taken). */
  output(tensor: string, name: string): string {
    const claimed = this.claim(name);
    this.nodes.push({
      name: claimed,
      opType: 'Identity',
      inputs: [tensor],
      outputs: [claimed],
      attributes: {},
    });
    return claimed;
  }

  /**
   * The nodes and initializers the given outputs depend on: one backward sweep over the nodes, so
   * work nothing reads (the image's own gradient, say) never reaches onnxruntime.
   */
  pruned(outputs: readonly string[]): { nodes: NodeProto[]; initializers: TensorProto[] } {
    const needed = new Set(outputs);
    const kept: MutableNode[] = [];
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const node = this.nodes[i]!;
      if (!node.outputs.some((o) => needed.has(o))) continue;
      kept.push(node);
      for (const input of node.inputs) needed.add(input);
    }
    return {
      nodes: kept.reverse().map((n): NodeProto => ({ ...n })),
      initializers: [...this.initializers.values()].filter((t) => needed.has(t.name)),
    };
  }

  /** Reserve a tensor name, numbering it if taken. */
  claim(wanted: string): string {
    let name = wanted;
    for (let i = 1; this.names.has(name); i++) name = `${wanted}_${i}`;
    this.names.add(name);
    return name;
  }

  private scope(): string {
    if (this.current === undefined) throw new Error('the ONNX writer is used outside a node lowering');
    return typeof this.current === 'string' ? this.current : this.current.node.name;
  }

  private owner(): ResolvedNode {
    if (typeof this.current !== 'object') {
      throw new Error(
        `the ONNX writer is asked for a node's tensors outside a node lowering (in ${this.scope()})`,
      );
    }
    return this.current;
  }
}
