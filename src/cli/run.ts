import { IMAGENET_CLASSES, IMAGENET_MEAN, IMAGENET_STD, imagenetTensor } from '../data/imagenet.js';
import { isOnnxPath } from '../import/file.js';
import { ConvlabError } from '../ir/errors.js';
import { inputShape } from '../ir/graph.js';
import { Rng } from '../ir/init.js';
import { resolveGraph } from '../ir/resolve.js';
import { formatShape } from '../ir/shape.js';
import { infer } from '../runtime/infer.js';
import { readBounded } from '../runtime/read_bounded.js';
import { readSafetensorsFile } from '../runtime/safetensors.js';
import { fitAuxHeads, matchWeights } from '../runtime/weights.js';
import type { Command, Values } from './command.js';
import { json, table } from './format.js';
import { loadModel, MODEL_OPTIONS, onnxWeights, positiveInt } from './options.js';

function readImage(path: string): Uint8Array {
  const bytes = readBounded(path, 'imageBytes', 'image');
  if (bytes.length === 0)
    throw new ConvlabError(`image '${path}' is empty (0 bytes): give a PNG, JPEG or WebP file`);
  return bytes;
}

export interface Prediction {
  readonly rank: number;
  readonly index: number;
  /** The ImageNet class name for a 1000-class model; absent otherwise. */
  readonly label?: string;
  readonly probability: number;
  readonly logit: number;
}

/** Softmax over one row of logits, then the k most probable classes (ties: lower index first). */
export function topK(logits: ArrayLike<number>, k: number, labels?: readonly string[]): Prediction[] {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  const order = Array.from({ length: logits.length }, (_, i) => i).sort(
    (a, b) => logits[b]! - logits[a]! || a - b,
  );
  return order.slice(0, k).map((index, rank) => ({
    rank: rank + 1,
    index,
    ...(labels ? { label: labels[index]! } : {}),
    probability: Math.exp(logits[index]! - max) / sum,
    logit: logits[index]!,
  }));
}

/** `--mean 0.5,0.5,0.5`: three numbers, one per RGB channel. */
function perChannel(
  value: string | undefined,
  option: string,
  fallback: readonly number[],
): readonly number[] {
  if (value === undefined) return fallback;
  const parts = value.split(',').map(Number);
  if (
    parts.length !== 3 ||
    !parts.every(Number.isFinite) ||
    (option === 'std' && !parts.every((p) => p > 0))
  ) {
    throw new ConvlabError(
      `--${option} must be three ${option === 'std' ? 'positive ' : ''}numbers R,G,B (e.g. 0.5,0.5,0.5), got '${value}'`,
    );
  }
  return parts;
}

export const run: Command = {
  name: 'run',
  usage:
    'convlab run MODEL --weights FILE.safetensors (--image FILE | --random) [--topk K] [--seed S] [--mean R,G,B] [--std R,G,B] [--input CxHxW] [--classes K] [--no-aux] [--json]',
  // torchvision's own googlenet and inception_v3 checkpoints were trained on (x - 0.5) / 0.5 (their
  // transform_input converts inside the model, which convlab's graphs do not): --mean and --std 0.5,0.5,0.5.
  summary:
    'classify an image (torchvision ImageNet preprocessing; --mean/--std override its normalisation) or a seeded random input',
  options: {
    input: MODEL_OPTIONS.input,
    classes: MODEL_OPTIONS.classes,
    'no-aux': MODEL_OPTIONS['no-aux'],
    json: MODEL_OPTIONS.json,
    weights: { type: 'string' },
    image: { type: 'string' },
    random: { type: 'boolean' },
    topk: { type: 'string' },
    seed: { type: 'string' },
    mean: { type: 'string' },
    std: { type: 'string' },
  },
  positionals: [1, 1],
  async run([model], values, io) {
    const o = runOptions(values, isOnnxPath(model!) ? model : undefined);
    const file = o.weights === model ? undefined : readSafetensorsFile(o.weights);
    const graph = file ? fitAuxHeads(loadModel(model!, values), file.tensors) : loadModel(model!, values);
    const shape = inputShape(graph);
    const r = resolveGraph(graph, { batch: 1 });
    // An ONNX model runs with the weights it holds unless --weights gives others.
    const weights = file
      ? matchWeights(r, file.tensors, `weights '${o.weights}'`)
      : onnxWeights(model!, values);
    let x: Float32Array;
    if (o.image !== undefined) {
      x = await imagenetTensor(readImage(o.image), shape, {
        source: `image '${o.image}'`,
        mean: o.mean,
        std: o.std,
      });
    } else {
      const rng = new Rng(o.seed, 'input');
      x = Float32Array.from({ length: shape[0] * shape[1] * shape[2] }, () => rng.normal());
    }
    const [logits] = (await infer(r, { data: x, dims: [1, ...shape] }, { weights })).values();
    if (logits?.shape.length !== 2) {
      throw new ConvlabError(
        `run needs a classifier whose output is [N, classes]; '${graph.name}' outputs ${logits ? formatShape(logits.shape) : 'nothing'}`,
      );
    }
    if (!logits.data.every(Number.isFinite)) {
      throw new ConvlabError(
        `'${graph.name}' computed non-finite logits (NaN or infinity); check the weights`,
        1,
      );
    }
    const classes = logits.shape[1]!;
    const labels = classes === IMAGENET_CLASSES.length ? IMAGENET_CLASSES : undefined;
    const top = topK(logits.data, Math.min(o.k, classes), labels);
    const report = {
      model: graph.name,
      weights: o.weights,
      input: [1, ...shape],
      ...(o.image !== undefined
        ? { image: o.image, normalise: { mean: o.mean, std: o.std } }
        : { random: { seed: o.seed } }),
      classes,
      top,
    };
    if (values['json']) {
      io.stdout(json(report));
      return 0;
    }
    io.stdout(
      [
        `${graph.name} on ${o.image ?? `a random input (seed ${o.seed})`}, weights ${o.weights}, input ${formatShape(report.input)}`,
        '',
        predictionTable(top, labels),
      ].join('\n'),
    );
    return 0;
  },
};

/** The top classes as a table: rank, class index, its name where known, probability. */
function predictionTable(top: readonly Prediction[], labels: readonly string[] | undefined): string {
  return table(
    ['rank', 'class', ...(labels ? ['name'] : []), 'probability'],
    top.map((p) => [
      String(p.rank),
      String(p.index),
      ...(labels ? [p.label!] : []),
      `${(100 * p.probability).toFixed(2)}%`,
    ]),
    ['right', 'right', ...(labels ? ['left' as const] : []), 'right'],
  );
}

/** The options of `run`, checked: weights, the input (an image or a seed), top-k and the normalisation. */
function runOptions(values: Values, onnxModel?: string) {
  const weights = (values['weights'] as string | undefined) ?? onnxModel;
  const image = values['image'] as string | undefined;
  if (!weights) {
    throw new ConvlabError(
      '--weights FILE.safetensors is required (tools/torch_to_safetensors.py converts a torchvision checkpoint)',
    );
  }
  if ((image === undefined) === (values['random'] !== true)) {
    throw new ConvlabError('give exactly one of --image FILE and --random');
  }
  const k = positiveInt(values['topk'] as string | undefined, 'topk', 5);
  const seedText = (values['seed'] as string | undefined) ?? '0';
  if (!/^\d{1,15}$/.test(seedText))
    throw new ConvlabError(`--seed must be an integer >= 0, got '${seedText}'`);
  return {
    weights,
    image,
    k,
    seed: Number(seedText),
    mean: perChannel(values['mean'] as string | undefined, 'mean', IMAGENET_MEAN),
    std: perChannel(values['std'] as string | undefined, 'std', IMAGENET_STD),
  };
}
