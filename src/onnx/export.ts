import { ConvlabError, GraphError } from '../ir/errors.js';
import type { Graph } from '../ir/graph.js';
import { initTensor, Rng, type WeightData } from '../ir/init.js';
import type { OnnxTarget } from '../ir/op.js';
import { type ResolvedGraph, resolveGraph } from '../ir/resolve.js';
import { formatShape, numel, type Shape } from '../ir/shape.js';
import { BATCH_DIM, modelProto, OPSET } from './emit.js';
import { DataType, encodeModel, type ModelProto, type NodeProto, type ValueInfoProto } from './proto.js';
import { GraphWriter, type WeightSource } from './writer.js';

/*
 * The export pass: each node's op lowers itself (its `onnx` facet); this file only names tensors,
 * gathers initializers and writes the model. Nothing is folded here: BatchNormalization stays its
 * own node, so every initializer keeps its torchvision state_dict name. onnxruntime's full graph
 * optimisation folds it into the Conv before it and fuses the activation after, exactly as it does
 * for torch.onnx.export's already-folded graph; the graph it runs is the same (test/onnx/export.test.ts
 * checks the fusion, bench/infer.ts the speed).
 */

export interface ExportOptions {
  /** 'infer': only what inference runs (auxiliary heads dropped); 'train': the training forward. */
  readonly mode: 'infer' | 'train';
  /** Values by parameter name (torchvision's state_dict keys); anything absent is initialised from `seed`. */
  readonly weights?: ReadonlyMap<string, WeightData>;
  /** Seed of the initialisation of tensors `weights` does not give (default 0). */
  readonly seed?: number;
  readonly opset?: typeof OPSET;
  /** The back-end the model is written for; default `{}`, standard ONNX that any runtime loads. */
  readonly target?: OnnxTarget;
}

const withSymbolicBatch = (shape: Shape): (number | string)[] => [BATCH_DIM, ...shape.slice(1)];

/**
 * Where an export takes each parameter's values: `weights`, which must then hold every one the
 * export embeds, with its size and type; else the parameter's initialiser, seeded by `seed`.
 */
function embeddedWeights(options: ExportOptions): WeightSource {
  const seed = options.seed ?? 0;
  return (name, spec, n) => {
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
}

/**
 * Lower a graph to an ONNX model (as plain data): every node asks its op's `onnx` facet. The batch
 * is the symbolic dimension 'N'; an inference export keeps only the nodes inference runs.
 */
export function onnxModel(source: Graph | ResolvedGraph, options: ExportOptions): ModelProto {
  const opset = options.opset ?? OPSET;
  if (opset !== OPSET) throw new ConvlabError(`convlab exports ONNX opset ${OPSET}, not ${opset}`);
  const r = 'byName' in source ? source : resolveGraph(source);
  const { mode } = options;
  const w = new GraphWriter(mode, 'initializers', {
    weightOf: embeddedWeights(options),
    ...(options.target && { target: options.target }),
  });
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
  const graph = {
    name: r.graph.name,
    nodes: w.nodes.map((n): NodeProto => ({ ...n })),
    initializers: [...w.initializers.values()],
    inputs: [graphInput],
    outputs,
  };
  return modelProto(graph, {
    docString: `${r.graph.name} (${r.graph.family}), ${mode === 'infer' ? 'inference' : 'training forward'}`,
    metadata: { model: r.graph.name, family: r.graph.family, mode },
    domains: w.domains,
  });
}

/** Export a graph to the bytes of an `.onnx` file. */
export const exportOnnx = (source: Graph | ResolvedGraph, options: ExportOptions): Uint8Array =>
  encodeModel(onnxModel(source, options));
