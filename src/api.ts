import { analyseGraphMemory, type MemoryOptions, type MemoryReport } from './analysis/memory.js';
import { type ReceptiveFields, receptiveFieldsOf } from './analysis/receptive_field.js';
import { type Summary, summariseGraph } from './analysis/summary.js';
import { ConvlabError } from './ir/errors.js';
import { type Graph, withInputShape, withoutAux } from './ir/graph.js';
import { fromSpec, type Spec } from './ir/spec.js';
import type { InferOptions, InputBatch } from './runtime/infer.js';
import type { BackendName } from './train/backend.js';
import type { TrainOverrides } from './train/config.js';
import type { TrainResult } from './train/loop.js';
import type { ProgressSink } from './train/progress.js';
import { type BuildOptions, buildModel } from './zoo/index.js';

/**
 * convlab as a library: build a model, analyse it, export it, run it, train it.
 *
 *   import { build, summarize } from 'convlab';
 *   const resnet = build('resnet50');
 *   summarize(resnet).totals.params; // 25557032
 *
 * Everything takes and returns plain typed values; a mistake the caller can fix is a ConvlabError
 * whose message says what to change. `run` and `train` load onnxruntime when first called, so
 * building and analysing never do.
 */

/**
 * A model as a graph: a zoo model by name (`listModels()`), a spec document (parsed JSON), or a
 * graph to adapt. `input` replaces the input [C, H, W]; `classes` sizes a zoo model's classifier;
 * `aux: false` drops GoogLeNet's and Inception v3's auxiliary heads.
 */
export function build(model: string | Spec | Graph, options: Partial<BuildOptions> = {}): Graph {
  if (typeof model === 'string') return buildModel(model, options);
  if (options.classes !== undefined) {
    throw new ConvlabError(`'classes' applies to zoo models; edit the spec's last layer instead`);
  }
  let graph = 'convlab' in model ? fromSpec(model) : model;
  if (options.input) graph = withInputShape(graph, options.input);
  return options.aux === false ? withoutAux(graph) : graph;
}

/** Parameters, buffers, MACs, FLOPs and activation bytes, per layer and in total (`convlab summary`). */
export const summarize = (graph: Graph, options: { readonly batch?: number } = {}): Summary =>
  summariseGraph(graph, options.batch ?? 1);

/** The receptive field of every node (`convlab rf`): size, effective stride and padding, alignment. */
export const receptiveField = (graph: Graph): ReceptiveFields => receptiveFieldsOf(graph);

/** Memory of a forward pass or a training step at a batch (`convlab memory`): resident bytes and the peak. */
export const memory = (
  graph: Graph,
  options: MemoryOptions & { readonly batch?: number } = {},
): MemoryReport => analyseGraphMemory(graph, options.batch ?? 1, options);

/**
 * One batch of normalised images through the model on onnxruntime (`convlab run`): its outputs by
 * name (the logits of a classifier).
 */
export async function run(
  graph: Graph,
  input: InputBatch,
  options: InferOptions = {},
): Promise<Map<string, { data: Float32Array; shape: readonly number[] }>> {
  const { infer } = await import('./runtime/infer.js');
  return infer(graph, input, options);
}

/** A training run as `convlab train` makes it: what is not given comes from its defaults for the data. */
export interface TrainRequest extends TrainOverrides {
  /** A zoo model by name, built for the data; or a graph, which must already fit the data. */
  readonly model: string | Graph;
  /** The data, as `--data` names it: 'fashion-mnist', 'cifar10:DIR', 'folder:DIR', 'synthetic', ... */
  readonly data: string;
  /** The folder for metrics.jsonl, checkpoint.safetensors and the trained model (created if need be). */
  readonly out: string;
  /** Continue the run in `out` from its checkpoint. */
  readonly resume?: boolean;
  /** What computes the steps (default onnxruntime). */
  readonly backend?: BackendName;
  readonly progress?: ProgressSink;
  /** Asked after every step: a reason to stop (a checkpoint is written first), or undefined. */
  readonly stop?: () => string | undefined;
}

/** Train a model (`convlab train`): checks everything first, then trains to the end or until stopped. */
export async function train(request: TrainRequest): Promise<TrainResult> {
  const { trainingBackend } = await import('./train/backends.js');
  const { checkpointIn, dataKind, prepareRun } = await import('./train/prepare.js');
  const loop = await import('./train/loop.js');
  const backend = await trainingBackend(request.backend);
  const kind = dataKind(request.data);
  // The folder is locked for the run's life (exit 2 if another run holds it), released when it ends.
  const release = (await import('./train/run_folder.js')).lockRunFolder(request.out);
  try {
    const checkpoint = request.resume ? checkpointIn(request.out) : undefined;
    const { model } = request;
    const prepared = await prepareRun({
      model: typeof model === 'string' ? { zoo: model } : { path: model.name, graph: model },
      source: request.data,
      kind,
      out: request.out,
      overrides: request,
      ...(checkpoint && { checkpoint }),
    });
    return await loop.train({
      ...prepared,
      out: request.out,
      backend,
      ...(checkpoint && { resume: checkpoint }),
      ...(request.progress && { progress: request.progress }),
      ...(request.stop && { stop: request.stop }),
    });
  } finally {
    release();
  }
}
