import { channelStats } from '../data/augment.js';
import { loadDataset } from '../data/sources.js';
import { ConvlabError } from '../ir/errors.js';
import { inputShape } from '../ir/graph.js';
import { resolveGraph } from '../ir/resolve.js';
import { readSafetensorsFile } from '../runtime/safetensors.js';
import { fitAuxHeads, matchWeights } from '../runtime/weights.js';
import { evaluate as evaluateSet, type Normalisation } from '../train/evaluate.js';
import { getModel } from '../zoo/index.js';
import type { Command, Values } from './command.js';
import { json } from './format.js';
import { loadModel, MODEL_OPTIONS, parseInputShape, positiveInt } from './options.js';

/**
 * The normalisation the weights were trained with: their file's `mean` and `std` metadata (what
 * an exported train.py writes), else the training split's own statistics (what convlab train uses).
 */
function normalisationOf(
  metadata: Readonly<Record<string, string>>,
  path: string,
): Normalisation | undefined {
  if (metadata['mean'] === undefined && metadata['std'] === undefined) return undefined;
  try {
    const mean = JSON.parse(metadata['mean'] ?? '') as unknown;
    const std = JSON.parse(metadata['std'] ?? '') as unknown;
    const numbers = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => typeof x === 'number');
    if (numbers(mean) && numbers(std) && mean.length === std.length && std.every((s) => s > 0))
      return { mean, std };
  } catch {
    // reported below
  }
  throw new ConvlabError(
    `weights '${path}': metadata mean/std must be JSON lists of numbers (std > 0) of one length`,
  );
}

/** A zoo model takes the data's image size and classes unless --input/--classes say otherwise. */
function modelValues(model: string, values: Values, shape: readonly number[], classes: number): Values {
  if (model.toLowerCase().endsWith('.json')) return values;
  return {
    ...values,
    input: (values['input'] as string | undefined) ?? shape.join('x'),
    classes: (values['classes'] as string | undefined) ?? String(classes),
  };
}

export const evaluateCommand: Command = {
  name: 'evaluate',
  usage:
    'convlab evaluate MODEL --weights FILE.safetensors --data SOURCE [--batch N] [--input CxHxW] [--classes K] [--json]',
  summary:
    "score weights (convlab train's or an exported train.py's) on SOURCE's test split: loss and accuracy",
  options: {
    input: MODEL_OPTIONS.input,
    classes: MODEL_OPTIONS.classes,
    json: MODEL_OPTIONS.json,
    batch: MODEL_OPTIONS.batch,
    weights: { type: 'string' },
    data: { type: 'string' },
  },
  positionals: [1, 1],
  async run([model], values, io) {
    const weightsPath = values['weights'] as string | undefined;
    const source = values['data'] as string | undefined;
    if (!weightsPath) throw new ConvlabError('--weights FILE.safetensors is required: the weights to score');
    if (!source)
      throw new ConvlabError('--data SOURCE is required: whose test split to score on (e.g. fashion-mnist)');
    const batch = positiveInt(values['batch'] as string | undefined, 'batch', 256);
    const file = readSafetensorsFile(weightsPath);
    const isSpec = model!.toLowerCase().endsWith('.json');
    const hint =
      typeof values['input'] === 'string'
        ? parseInputShape(values['input'])
        : isSpec
          ? inputShape(loadModel(model!, values))
          : getModel(model!).input;
    const data = await loadDataset(source, { shape: hint });
    const graph = fitAuxHeads(
      loadModel(model!, modelValues(model!, values, data.test.shape, data.train.classes)),
      file.tensors,
    );
    const r = resolveGraph(graph);
    const weights = matchWeights(r, file.tensors, `weights '${weightsPath}'`);
    const stored = normalisationOf(file.metadata, weightsPath);
    const normalise = stored ?? (await channelStats(data.train));
    const result = await evaluateSet(r, weights, data.test, normalise, batch);
    const report = {
      model: graph.name,
      weights: weightsPath,
      data: source,
      split: data.test.name,
      normalise: { ...normalise, from: stored ? 'weights metadata' : 'training split' },
      ...result,
      correct: Math.round(result.accuracy * result.count),
    };
    if (values['json']) {
      io.stdout(json(report));
      return 0;
    }
    io.stdout(
      `${graph.name} with ${weightsPath} on ${data.test.name} (${result.count} images): accuracy ${(100 * result.accuracy).toFixed(2)}% (${report.correct}/${result.count}), loss ${result.loss.toFixed(4)}`,
    );
    return 0;
  },
};
