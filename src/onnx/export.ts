import { ConvlabError, GraphError } from '../ir/errors.js';
import type { Graph } from '../ir/graph.js';
import type { OnnxAttr, OnnxWriter, TensorSpec } from '../ir/op.js';
import { type ResolvedGraph, type ResolvedNode, resolveGraph } from '../ir/resolve.js';
import { formatShape, numel, type Shape } from '../ir/shape.js';
import { initTensor, Rng, type WeightData } from '../runtime/init.js';
import {
  DataType,
  encodeModel,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from './proto.js';

/*
 * The export pass: each node's op lowers itself (its `onnx` facet); this file only names tensors,
 * gathers initializers and writes the model. Nothing is folded here: BatchNormalization stays its
 * own node, so every initializer keeps its torchvision state_dict name. onnxruntime's full graph
 * optimisation folds it into the Conv before it and fuses the activation after, exactly as it does
 * for torch.onnx.export's already-folded graph; the graph it runs is the same (test/onnx.test.ts
 * checks the fusion, bench/infer.ts the speed).
 */

/** The opset every lowering is written for (onnx 1.12, Debian's python3-onnx, knows up to 17). */
export const OPSET = 17;
/** IR version 8 goes with opset 17. */
export const IR_VERSION = 8;
/** The symbolic batch dimension of the graph's input and outputs. */
export const BATCH_DIM = 'N';

export interface ExportOptions {
  /** 'infer': only what inference runs (auxiliary heads dropped); 'train': the training forward. */
  readonly mode: 'infer' | 'train';
  /** Values by parameter name (torchvision's state_dict keys); anything absent is initialised from `seed`. */
  readonly weights?: ReadonlyMap<string, WeightData>;
  /** Seed of the initialisation of tensors `weights` does not give (default 0). */
  readonly seed?: number;
  readonly opset?: typeof OPSET;
}

interface MutableNode {
  name: string;
  opType: string;
  inputs: string[];
  outputs: string[];
  attributes: Readonly<Record<string, OnnxAttr>>;
  domain?: string;
}

/**
 * The ONNX writer a node's `onnx` facet writes into. Names: a node's output tensor is the convlab
 * node's name (`layer1.0.conv1`); helper tensors and constants live under it (`x.shuffle/Reshape`);
 * parameters are initializers named by their full parameter name (`layer1.0.conv1.weight`).
 */
export class GraphWriter implements OnnxWriter {
  readonly nodes: MutableNode[] = [];
  readonly initializers = new Map<string, TensorProto>();
  private readonly names = new Set<string>();
  private current: ResolvedNode | undefined;
  private firstOfCurrent = 0;
  private readonly saved = new Map<number, Map<string, string>>();
  private readonly updates = new Map<string, { tensor: string; spec: TensorSpec }>();
  /** A training graph's seed and step input (see `drawsFrom`). */
  private random: { seed: number; step: string } | undefined;
  /** The non-default operator sets the nodes use, each imported at version 1. */
  readonly domains = new Set<string>();
  /** See OnnxWriter; a training step's graph sets it from the onnxruntime it will run on. */
  nchwcBlock = 0;

  /**
   * `params` says where parameters and buffers come from: 'initializers' embeds their values (an
   * exported model); 'inputs' makes each a graph input fed every step (a training step's graph).
   */
  constructor(
    readonly mode: 'infer' | 'train',
    private readonly params: 'initializers' | 'inputs',
    private readonly weightOf: (name: string, spec: TensorSpec, node: ResolvedNode) => WeightData = () => {
      throw new Error('this writer embeds no weights');
    },
  ) {}

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
    const base = this.claim(`${this.owner().node.name}/${opType}`);
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
    const name = this.claim(`${this.owner().node.name}/const`);
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

  /** Emit nodes on behalf of `n` (its backward pass, its loss), so names and params resolve to it. */
  within<T>(n: ResolvedNode, body: () => T): T {
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

  private owner(): ResolvedNode {
    if (!this.current) throw new Error('the ONNX writer is used outside a node lowering');
    return this.current;
  }
}

const withSymbolicBatch = (shape: Shape): (number | string)[] => [BATCH_DIM, ...shape.slice(1)];

/**
 * Lower a graph to an ONNX model (as plain data): every node asks its op's `onnx` facet. The batch
 * is the symbolic dimension 'N'; an inference export keeps only the nodes inference runs.
 */
export function onnxModel(source: Graph | ResolvedGraph, options: ExportOptions): ModelProto {
  const opset = options.opset ?? OPSET;
  if (opset !== OPSET) throw new ConvlabError(`convlab exports ONNX opset ${OPSET}, not ${opset}`);
  const r = 'byName' in source ? source : resolveGraph(source);
  const { mode } = options;
  const seed = options.seed ?? 0;

  const weightOf = (name: string, spec: TensorSpec, n: ResolvedNode): WeightData => {
    const given = options.weights?.get(name);
    if (options.weights && !given) {
      throw new ConvlabError(`the weights have no '${name}' ${formatShape(spec.shape)}`);
    }
    if (!given) return initTensor(spec, n.node.init?.[spec.name] ?? spec.init, new Rng(seed, name));
    const wantInt = spec.dtype === 'int64';
    if (given.length !== numel(spec.shape) || given instanceof BigInt64Array !== wantInt) {
      throw new ConvlabError(
        `weight '${name}' holds ${given.length} ${given instanceof BigInt64Array ? 'int64' : 'float32'} values; the model needs ${spec.dtype} ${formatShape(spec.shape)}`,
      );
    }
    return given;
  };

  const w = new GraphWriter(mode, 'initializers', weightOf);
  const tensorOf = new Map<number, string>();
  const first = r.nodes[0]!;
  const input = w.claim(first.node.name);
  for (const n of r.nodes) {
    if (mode === 'infer' && !n.inference) continue;
    const inputs = n === first ? [input] : n.inputs.map((i) => tensorOf.get(i)!);
    try {
      tensorOf.set(n.index, w.lower(n, inputs));
    } catch (e) {
      if (e instanceof ConvlabError) throw e;
      throw new GraphError(
        n.node.name,
        n.node.op,
        n.ctx.inputs,
        `cannot lower to ONNX: ${(e as Error).message}`,
      );
    }
  }

  const outputs: ValueInfoProto[] = [];
  for (const o of r.outputs) {
    if (mode === 'infer' && o.role !== 'main') continue;
    const n = r.byName.get(o.node)!;
    let tensor = tensorOf.get(n.index)!;
    // A graph output must be its own tensor, named after its node, even after an identity lowering.
    if (tensor !== o.node || outputs.some((v) => v.name === tensor)) {
      const name = w.claim(o.node === tensor ? `${o.node}/output` : o.node);
      w.nodes.push({ name, opType: 'Identity', inputs: [tensor], outputs: [name], attributes: {} });
      tensor = name;
    }
    outputs.push({ name: tensor, elemType: DataType.FLOAT, shape: withSymbolicBatch(n.ctx.output) });
  }

  // A training forward also returns the buffers it updates (BatchNorm's running statistics).
  for (const [buffer, next] of w.bufferUpdates()) {
    const elemType = next.spec.dtype === 'int64' ? DataType.INT64 : DataType.FLOAT;
    outputs.push({ name: w.output(next.tensor, `next/${buffer}`), elemType, shape: next.spec.shape });
  }

  const graphInput: ValueInfoProto = {
    name: input,
    elemType: DataType.FLOAT,
    shape: withSymbolicBatch(first.ctx.output),
  };
  return {
    irVersion: IR_VERSION,
    opsetImports: [{ domain: '', version: OPSET }],
    producerName: 'convlab',
    producerVersion: '0.1.0',
    docString: `${r.graph.name} (${r.graph.family}), ${mode === 'infer' ? 'inference' : 'training forward'}`,
    metadata: { model: r.graph.name, family: r.graph.family, mode },
    graph: {
      name: r.graph.name,
      nodes: w.nodes.map((n): NodeProto => ({ ...n })),
      initializers: [...w.initializers.values()],
      inputs: [graphInput],
      outputs,
    },
  };
}

/** Export a graph to the bytes of an `.onnx` file. */
export const exportOnnx = (source: Graph | ResolvedGraph, options: ExportOptions): Uint8Array =>
  encodeModel(onnxModel(source, options));
