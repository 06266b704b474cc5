import { join } from 'node:path';
import { channelStats } from '../data/augment.js';
import { checkLabels, type Dataset } from '../data/dataset.js';
import { type DataSource, loadDataset, parseSource } from '../data/sources.js';
import { ConvlabError } from '../ir/errors.js';
import { type Graph, inputShape, withoutAux } from '../ir/graph.js';
import type { WeightData } from '../ir/init.js';
import { resolveGraph } from '../ir/resolve.js';
import { formatShape } from '../ir/shape.js';
import { buildModel, getModel } from '../zoo/index.js';
import { type Checkpoint, readCheckpoint } from './checkpoint.js';
import { DEFAULTS, freshConfig, type TrainConfig, type TrainOverrides } from './config.js';
import { checkCheckpoint, resumedConfig } from './resume.js';
import { FILES, prepareOut } from './run_folder.js';

/**
 * Everything a user can get wrong is checked before the training graph is compiled: the data (read
 * and checked whole), the model against the data, a checkpoint to resume against the model and the
 * options, and the output folder. `prepareRun` does it in that order and hands `train` its inputs.
 */

/**
 * The MODEL of a run: a zoo model is built for the data (its input and classes); a graph read from
 * a file (its `path`, as the user named it) must already fit the data.
 */
export type RunModel =
  | { readonly zoo: string }
  | {
      readonly path: string;
      readonly graph: Graph;
      /** The weights the file holds (an ONNX file): a fresh run starts from them, not from initialisers. */
      readonly weights?: ReadonlyMap<string, WeightData>;
    };

export interface RunRequest {
  readonly model: RunModel;
  /** The --data SOURCE as given, and its kind. */
  readonly source: string;
  readonly kind: DataSource['kind'];
  readonly out: string;
  readonly overrides: TrainOverrides;
  /** The checkpoint to continue (--resume), read from `out`. */
  readonly checkpoint?: Checkpoint;
  /** Replace an earlier run in `out` (--force) instead of refusing to. */
  readonly force?: boolean;
}

export interface PreparedRun {
  readonly graph: Graph;
  readonly data: Dataset;
  readonly config: TrainConfig;
  /** Where a fresh run's weights start: the model file's own (else each initialiser with the seed); absent when resuming. */
  readonly weights?: ReadonlyMap<string, WeightData>;
}

/** The kind of a data source; its message lists the accepted forms on several lines, joined here into one. */
export function dataKind(source: string): DataSource['kind'] {
  try {
    return parseSource(source).kind;
  } catch (e) {
    if (e instanceof ConvlabError)
      throw new ConvlabError(e.message.replace(/:\s*\n\s*/, ': ').replace(/\s*\n\s*/g, '; '));
    throw e;
  }
}

/** The checkpoint of the run in `out`, to resume it. */
export const checkpointIn = (out: string): Checkpoint => readCheckpoint(join(out, FILES.checkpoint));

const argumentOf = (model: RunModel): string => ('zoo' in model ? model.zoo : model.path);

/** The class count of a graph: the last dimension of its main output. */
function classesOf(graph: Graph): number {
  const r = resolveGraph(graph);
  const main = r.outputs.find((o) => o.role === 'main')!;
  const shape = r.byName.get(main.node)!.ctx.output;
  if (shape.length !== 2) {
    throw new ConvlabError(
      `'${graph.name}' outputs ${formatShape(shape)}; training needs a classifier with output [N, classes]`,
    );
  }
  return shape[1]!;
}

/** What the data should look like before it is read: the file's or the zoo model's input. */
function dataHints(model: RunModel): { shape: readonly [number, number, number]; classes?: number } {
  if ('zoo' in model) return { shape: getModel(model.zoo).input };
  return { shape: inputShape(model.graph), classes: classesOf(model.graph) };
}

/** The model for the data: a zoo model is built for it; a file's graph must already fit it. */
function modelFor(model: RunModel, source: string, data: Dataset, aux: boolean): Graph {
  const shape = data.train.shape;
  if ('zoo' in model) return buildModel(model.zoo, { input: shape, classes: data.train.classes, aux });
  const graph = aux ? model.graph : withoutAux(model.graph);
  const input = inputShape(graph);
  if (input.join('x') !== shape.join('x')) {
    throw new ConvlabError(
      `spec '${model.path}' takes ${input.join('x')} inputs but the ${source} images are ${shape.join('x')}; ` +
        `set the spec's "input" to [${shape.join(', ')}]`,
    );
  }
  const classes = classesOf(graph);
  const where = (split: string) => `${split} for spec '${model.path}' (${classes} outputs)`;
  checkLabels(data.train.labels, classes, where(data.train.name));
  checkLabels(data.test.labels, classes, where(data.test.name));
  return graph;
}

/** A fresh run's configuration, once the batch is known to fit the data. */
async function freshRun(r: RunRequest, graph: Graph, data: Dataset): Promise<TrainConfig> {
  const batch = r.overrides.batch ?? DEFAULTS.batch;
  if (batch > data.train.count) {
    throw new ConvlabError(
      `--batch ${batch} is larger than the ${data.train.count} training samples of ${data.train.name}; use a smaller --batch${r.overrides.limit ? ' or a larger --limit' : ''}`,
    );
  }
  return freshConfig(r.overrides, {
    model: argumentOf(r.model),
    graph: graph.name,
    source: r.source,
    kind: r.kind,
    train: data.train,
    normalise: await channelStats(data.train),
  });
}

/** Read the data, build the model, settle the configuration and ready the output folder. */
export async function prepareRun(r: RunRequest): Promise<PreparedRun> {
  const saved = r.checkpoint?.state.config;
  const limit = saved ? (saved.limit ?? undefined) : r.overrides.limit;
  const hints = dataHints(r.model);
  const data = await loadDataset(r.source, {
    shape: hints.shape,
    ...(hints.classes !== undefined && { classes: hints.classes }),
    ...(limit !== undefined && { limit }),
  });
  const graph = modelFor(r.model, r.source, data, saved ? saved.aux : (r.overrides.aux ?? true));
  let config: TrainConfig;
  if (r.checkpoint) {
    config = resumedConfig(r.overrides, r.checkpoint.state, argumentOf(r.model), r.source);
    checkCheckpoint(r.checkpoint, graph, config, join(r.out, FILES.checkpoint));
  } else {
    config = await freshRun(r, graph, data);
  }
  prepareOut(r.out, r.checkpoint !== undefined, r.force === true);
  const weights = !r.checkpoint && 'weights' in r.model ? r.model.weights : undefined;
  return { graph, data, config, ...(weights && { weights }) };
}
