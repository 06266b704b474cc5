import { GraphBuilder, type Tensor } from '../ir/builder.js';
import { ConvlabError } from '../ir/errors.js';
import type { Graph } from '../ir/graph.js';
import type { WeightData } from '../ir/init.js';
import { formatShape, numel } from '../ir/shape.js';
import '../ops/index.js';
import { Converter, handlerFor, NodeContext, supportedOps, type WeightSource } from './convert.js';
import './ops/activations.js';
import './ops/combine.js';
import './ops/elementwise.js';
import { foldedOps, folderFor } from './ops/fold.js';
import './ops/layers.js';
import './ops/norm.js';
import './ops/pooling.js';
import './ops/reshape.js';
import './ops/spatial.js';
import { decodeModel, type OnnxModel, type OnnxNode, type ValueInfo } from './proto.js';
import { type ByteSource, type ExternalFiles, noExternalFiles } from './source.js';
import { typeName } from './tensor.js';
import { Const, isConst } from './values.js';

/*
 * The ONNX front-end: a ModelProto becomes the same graph IR the zoo builds, so every pass (shapes,
 * parameters, MACs, receptive field, memory, export, inference, training) works on it unchanged.
 * Each ONNX op has an import handler (src/import/ops/); node and initializer names are kept.
 * Browser-safe: file access is the caller's ByteSource (src/import/file.ts on Node).
 */

export const OPSET_RANGE = [11, 21] as const;
/** protobuf's limit: a file larger than this must keep its tensors as external data. */
export const PROTOBUF_LIMIT = 2 ** 31 - 1;

export interface ImportOptions {
  /** [C, H, W] for a file whose input has symbolic (or other) spatial dimensions. */
  readonly input?: readonly [number, number, number];
  /** The model's name (default: the graph's name in the file). */
  readonly name?: string;
  /** Where external-data tensors are read from (default: none available). */
  readonly external?: ExternalFiles;
}

export interface ImportReport {
  readonly producer: string;
  readonly opset: number;
  readonly onnxNodes: number;
  readonly initializers: number;
  /** The exporter folded BatchNorm into the convolutions (torch.onnx.export in eval mode). */
  readonly batchNormFolded: boolean;
  /** Patterns imported as one convlab op, with how often each was found. */
  readonly fusions: Readonly<Record<string, number>>;
}

export interface ImportedModel {
  readonly graph: Graph;
  /** Every parameter and buffer, by the IR's name, read from the file when asked. */
  readonly weights: ReadonlyMap<string, WeightSource>;
  readonly report: ImportReport;
}

/** Read every weight of an imported model (one tensor at a time) as export/run/train take them. */
export function readWeights(model: ImportedModel): Map<string, WeightData> {
  const out = new Map<string, WeightData>();
  for (const [name, w] of model.weights) out.set(name, w.read());
  return out;
}

function defaultOpset(m: OnnxModel): number {
  const own = m.opsets.filter((o) => o.domain === '');
  const version = own.length ? Math.max(...own.map((o) => o.version)) : 0;
  if (version < OPSET_RANGE[0] || version > OPSET_RANGE[1]) {
    throw new ConvlabError(
      `the model uses ONNX opset ${version || '(none declared)'}; convlab imports opsets ${OPSET_RANGE[0]} to ${OPSET_RANGE[1]} (re-export with torch.onnx.export(..., opset_version=17))`,
    );
  }
  return version;
}

/** The one image input [N, C, H, W]: the batch may be symbolic, the rest must be known or given. */
function imageInput(
  m: OnnxModel,
  options: ImportOptions,
): { info: ValueInfo; chw: [number, number, number]; batch?: number } {
  const initialized = new Set(m.graph.initializers.map((t) => t.name));
  const inputs = m.graph.inputs.filter((v) => !initialized.has(v.name));
  if (inputs.length !== 1) {
    throw new ConvlabError(
      `convlab imports models with one input image; this one has ${inputs.length} inputs (${inputs.map((v) => v.name).join(', ')})`,
    );
  }
  const info = inputs[0]!;
  if (info.elemType !== 1)
    throw new ConvlabError(
      `input '${info.name}' is ${typeName(info.elemType)}; convlab imports float32 inputs`,
    );
  const shape = info.shape;
  if (shape?.length !== 4) {
    throw new ConvlabError(
      `input '${info.name}' must be an image batch [N,C,H,W], got ${shape ? `rank ${shape.length}` : 'no shape'}`,
    );
  }
  const batch = typeof shape[0] === 'number' && shape[0] > 0 ? shape[0] : undefined;
  if (options.input) return { info, chw: [...options.input], ...(batch !== undefined && { batch }) };
  const rest = shape.slice(1);
  const unknown = rest.findIndex((d) => typeof d !== 'number' || d < 1);
  if (unknown >= 0) {
    const d = rest[unknown];
    throw new ConvlabError(
      `input '${info.name}' has ${typeof d === 'string' ? `the symbolic dimension '${d}'` : 'an unknown dimension'} for ${['C', 'H', 'W'][unknown]}; give its size with --input CxHxW (only the batch may stay symbolic)`,
    );
  }
  return { info, chw: rest as [number, number, number], ...(batch !== undefined && { batch }) };
}

/** What convlab imports, for the messages that reject an op. */
const supportedList = (): string =>
  `${supportedOps().join(', ')}; and, when their inputs are known at import, ${foldedOps().join(', ')}`;

function unsupported(n: OnnxNode, why?: string): never {
  const where = `node '${n.name}', domain '${n.domain || 'ai.onnx'}'`;
  if (n.domain !== '') {
    throw new ConvlabError(
      `op '${n.opType}' (${where}) is from a custom operator set; convlab imports the standard ONNX domain only: ${supportedList()}`,
    );
  }
  throw new ConvlabError(
    `unsupported ONNX op '${n.opType}' (${where})${why ? `: ${why}` : ''}; convlab imports: ${supportedList()}`,
  );
}

/** Import one node: fold it when all its inputs are known, else its handler adds IR nodes. */
function importNode(cv: Converter, n: OnnxNode): void {
  if (n.domain !== '') unsupported(n);
  const c = new NodeContext(cv, n);
  const folder = folderFor(n.opType);
  const inputs = n.inputs.filter((i) => i !== '').map((i) => cv.values.get(i));
  if (folder && inputs.length > 0 && inputs.every((v) => v !== undefined && isConst(v))) {
    c.output(folder(c, inputs as Const[]));
    return;
  }
  const handler = handlerFor(n.opType);
  if (!handler)
    unsupported(n, folder ? 'convlab folds it only when its inputs are known at import' : undefined);
  handler(c);
}

function batchNormFolded(m: OnnxModel): boolean {
  // torch.onnx.export in eval mode folds each BatchNorm that follows a Conv into it and names the
  // new weight and bias 'onnx::Conv_<n>'; convolutions without BatchNorm keep their module's names,
  // and a BatchNorm before a Conv (DenseNet's pre-activation) stays a BatchNormalization node.
  return m.graph.nodes.some(
    (n) => n.opType === 'Conv' && n.inputs.length > 2 && n.inputs[1]!.startsWith('onnx::Conv'),
  );
}

/** Convert a decoded model into the IR, with its weights' sources. */
export function convertModel(m: OnnxModel, options: ImportOptions = {}): ImportedModel {
  const opset = defaultOpset(m);
  const external = options.external ?? noExternalFiles('the model');
  const input = imageInput(m, options);
  const name = options.name ?? (m.graph.name || 'model');
  const builder = new GraphBuilder(name, 'onnx');
  const cv = new Converter(builder, opset, external, m.graph.nodes);
  cv.fileBatch = input.batch;
  cv.names.reserve(input.info.name);
  cv.values.set(input.info.name, builder.input(input.chw, input.info.name));
  for (const t of m.graph.initializers) {
    if (!cv.values.has(t.name)) cv.values.set(t.name, Const.ofRef(t, external, t.name, true));
  }
  // Constants first: a fusion looks ahead at nodes that read Constants placed after it.
  for (const n of m.graph.nodes) {
    if (n.opType === 'Constant' && n.domain === '') {
      importNode(cv, n);
      cv.consume(n);
    }
  }
  for (const n of m.graph.nodes) if (!cv.isDone(n)) importNode(cv, n);
  if (!m.graph.outputs.length) throw new ConvlabError('the model declares no outputs');
  for (const o of m.graph.outputs) {
    const v = cv.values.get(o.name);
    if (!v) throw new ConvlabError(`output '${o.name}' is not produced by any node`);
    if (isConst(v)) throw new ConvlabError(`output '${o.name}' is a constant, not computed from the input`);
    builder.output(v as Tensor);
  }
  const graph = builder.build();
  checkWeights(graph, builder, cv.weights);
  const report: ImportReport = {
    producer: `${m.producerName} ${m.producerVersion}`.trim(),
    opset,
    onnxNodes: m.graph.nodes.length,
    initializers: m.graph.initializers.length,
    batchNormFolded: batchNormFolded(m),
    fusions: Object.fromEntries(cv.fusions),
  };
  return { graph, weights: cv.weights, report };
}

/**
 * Every parameter and buffer has a source of its exact shape. BatchNorm's num_batches_tracked,
 * which ONNX does not carry, starts at 0 as PyTorch loads it.
 */
function checkWeights(graph: Graph, builder: GraphBuilder, weights: Map<string, WeightSource>): void {
  // The specs the builder inferred as it added each node: resolving the graph again would double the
  // import's shape work (a summary resolves it anyway).
  for (const node of graph.nodes) {
    for (const spec of builder.paramsOf(node.name)) {
      const full = `${node.name}.${spec.name}`;
      const w = weights.get(full);
      if (!w && spec.dtype === 'int64') {
        weights.set(full, {
          dims: spec.shape,
          from: 'zero',
          read: () => new BigInt64Array(numel(spec.shape)),
        });
        continue;
      }
      if (!w)
        throw new ConvlabError(
          `layer '${node.name}' (${node.op}) needs '${spec.name}', which the file does not give`,
        );
      if (numel(w.dims) !== numel(spec.shape)) {
        throw new ConvlabError(
          `initializer '${w.from}' is ${formatShape(w.dims)}; layer '${node.name}' (${node.op}) needs its ${spec.name} to be ${formatShape(spec.shape)}`,
        );
      }
    }
  }
}

/** Import an ONNX model from its bytes' source. */
export function importOnnx(source: ByteSource, options: ImportOptions = {}): ImportedModel {
  if (source.length > PROTOBUF_LIMIT) {
    throw new ConvlabError(
      `${source.label} is ${(source.length / 2 ** 30).toFixed(1)} GiB; a protobuf file is at most 2 GiB, so a model this large must keep its weights as external data (onnx.save_model(..., save_as_external_data=True))`,
    );
  }
  return convertModel(decodeModel(source), options);
}
