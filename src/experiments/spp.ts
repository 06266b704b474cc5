import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { spatialPyramidPool } from '../blocks/spp.js';
import { channelStats } from '../data/augment.js';
import type { Dataset } from '../data/dataset.js';
import { resizeImages } from '../data/resize.js';
import { GraphBuilder, type Tensor } from '../ir/builder.js';
import { ConvlabError } from '../ir/errors.js';
import type { Graph } from '../ir/graph.js';
import { initialWeights, type WeightData } from '../ir/init.js';
import { type ResolvedGraph, resolveGraph } from '../ir/resolve.js';
import { conv2d } from '../ops/conv2d.js';
import { flatten } from '../ops/flatten.js';
import { linear } from '../ops/linear.js';
import { maxpool2d } from '../ops/maxpool2d.js';
import { relu } from '../ops/relu.js';
import { readSafetensorsFile } from '../runtime/safetensors.js';
import { evaluate, evaluationModel, type Normalisation } from '../train/evaluate.js';
import { train } from '../train/loop.js';
import type { EpochRecord } from '../train/metrics.js';
import type { Budget, ExperimentContext, Outcome, Verdict } from './experiment.js';
import { lineChart } from './plot.js';
import { registerExperiment } from './registry.js';
import { markdownTable, percent } from './report.js';
import { SGD, subset } from './training.js';

/** The pyramid of the paper's Fig. 3: 4x4, 2x2 and 1x1 bins (its ImageNet nets use 6x6, 3x3, 2x2, 1x1). */
const LEVELS = [4, 2, 1] as const;
/** Channels of the three conv layers; the first two are followed by 2x2 max-pooling. */
const WIDTHS = [16, 32, 32] as const;
const HIDDEN = 64;

/**
 * Evaluation sizes as multiples of the training size (for 28x28: 16, 20, 24, 28, 32, 40, 48, 56),
 * from a little over half to twice the size the net was trained at.
 */
const SCALES = [4 / 7, 5 / 7, 6 / 7, 1, 8 / 7, 10 / 7, 12 / 7, 2] as const;

const BUDGETS: Record<
  Budget,
  { train: number; test: number; epochs: number; batch: number; scales: readonly number[] }
> = {
  quick: { train: 256, test: 128, epochs: 1, batch: 32, scales: [5 / 7, 1, 10 / 7] },
  full: { train: 20000, test: 2000, epochs: 4, batch: 64, scales: SCALES },
};
const LR = 0.05;

const KAIMING_FAN_IN = { weight: { kind: 'kaiming_normal', mode: 'fan_in' } } as const;

/** Which head reads the last conv map: the spatial pyramid, or a plain flatten (the contrast). */
export type Head = 'spp' | 'flatten';

/**
 * conv3x3-ReLU-maxpool2x2 twice, conv3x3-ReLU, then the head, fc1 (ReLU) and the classifier: a
 * small SPP-net (He et al. 2014 put the pyramid after the last conv layer, before fc6). With the
 * pyramid the graph's parameters are the same at every input size; with a flatten, fc1's input
 * length follows the conv map's area.
 */
export function buildSppNet(
  input: readonly [number, number, number],
  classes: number,
  head: Head = 'spp',
): Graph {
  const b = new GraphBuilder(`${head}_net`, 'sppnet').initialise('conv2d', KAIMING_FAN_IN);
  let x: Tensor = b.input(input);
  WIDTHS.forEach((width, i) => {
    const layer = i + 1;
    x = relu(conv2d(x, { out: width, kernel: 3, padding: 1 }, `conv${layer}`), `relu${layer}`);
    if (layer < WIDTHS.length) x = maxpool2d(x, { kernel: 2, stride: 2 }, `pool${layer}`);
  });
  x = head === 'spp' ? spatialPyramidPool(x, 'spp', LEVELS) : flatten(x, 'flatten');
  x = relu(linear(x, { out: HIDDEN }, 'fc1'), 'relu_fc1');
  b.output(linear(x, { out: classes }, 'fc'));
  return b.build();
}

/** What the resolved graph says about the features at one input size. */
export interface Features {
  /** The last conv map, C x H x W, and its length flattened (what a flatten head would feed fc1). */
  readonly convMap: readonly number[];
  readonly flattened: number;
  /** The head's output length, the input of fc1, and fc1's weight shape. */
  readonly head: number;
  readonly fc1Weight: readonly number[];
}

export function featuresOf(r: ResolvedGraph): Features {
  const node = (name: string) => {
    const n = r.byName.get(name);
    if (!n) throw new ConvlabError(`the SPP experiment's net has no node '${name}'`);
    return n;
  };
  const convMap = node(`relu${WIDTHS.length}`).ctx.output.slice(1);
  const fc1 = node('fc1');
  return {
    convMap,
    flattened: convMap.reduce((a, d) => a * d, 1),
    head: fc1.ctx.inputs[0]![1]!,
    fc1Weight: fc1.params.find((p) => p.name === 'weight')!.shape,
  };
}

/** An evaluation size: `scale` times the training size, rounded. */
const sizeAt = (scale: number, h: number, w: number): [number, number] => [
  Math.round(scale * h),
  Math.round(scale * w),
];

/**
 * One seeded training run through `convlab train`'s loop (as trainRun does) that keeps the trained
 * weights, which trainRun drops with its scratch folder: they are what gets evaluated at every size.
 */
async function trainKeepingWeights(
  ctx: ExperimentContext,
  graph: Graph,
  data: Dataset,
  b: (typeof BUDGETS)[Budget],
  normalise: Normalisation,
): Promise<{ epochs: readonly EpochRecord[]; weights: Map<string, WeightData>; seconds: number }> {
  const out = join(ctx.scratch, 'spp-train');
  mkdirSync(out, { recursive: true });
  let lastLog = 0;
  try {
    const result = await train({
      graph,
      data,
      out,
      config: {
        model: graph.name,
        graph: graph.name,
        data: ctx.source,
        limit: data.train.count,
        epochs: b.epochs,
        batch: b.batch,
        lr: LR,
        optimizer: SGD,
        schedule: 'cosine',
        warmup: 0,
        labelSmoothing: 0,
        auxWeight: null,
        aux: true,
        seed: ctx.seed,
        augment: { pad: 0, flip: false },
        normalise,
      },
      ...(ctx.session && { session: ctx.session }),
      ...(ctx.backend && { backend: ctx.backend }),
      observe(record) {
        if (record.time - lastLog < 10) return;
        lastLog = record.time;
        ctx.log(`  epoch ${record.epoch}/${b.epochs} step ${record.step} loss ${record.loss.toFixed(4)}`);
      },
    });
    for (const e of result.history) {
      ctx.log(
        `  epoch ${e.epoch} train loss ${e.loss.toFixed(4)} acc ${percent(e.accuracy)}, test acc ${percent(e.testAccuracy)}`,
      );
    }
    if (!result.files.weights) throw new ConvlabError('the SPP training run ended without its weights');
    const tensors = readSafetensorsFile(result.files.weights).tensors;
    return {
      epochs: result.history,
      weights: new Map([...tensors].map(([name, t]) => [name, t.data])),
      seconds: result.time,
    };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

export interface SizeResult {
  readonly size: readonly [number, number];
  readonly features: Features;
  readonly accuracy: number;
  readonly loss: number;
  /** The flatten head at this size: its features, and whether the weights of its training-size twin load. */
  readonly flatten: { readonly features: Features; readonly loads: boolean; readonly error?: string };
}

/** Held: one feature length at every size and the net well above chance at each (twice chance or more). */
export function verdictOf(results: readonly SizeResult[], classes: number): Verdict {
  const lengths = new Set(results.map((r) => r.features.head));
  if (lengths.size !== 1 || results.some((r) => !Number.isFinite(r.accuracy))) return 'did not hold';
  return results.every((r) => r.accuracy >= 2 / classes) ? 'held' : 'inconclusive';
}

async function run(ctx: ExperimentContext): Promise<Outcome> {
  const b = BUDGETS[ctx.budget];
  const data = subset(ctx.data, b);
  const [c, h, w] = data.train.shape;
  const classes = data.train.classes;
  const normalise = await channelStats(data.train, ctx.session);
  ctx.log(`training the SPP net at ${h}x${w}`);
  const trained = await trainKeepingWeights(ctx, buildSppNet([c, h, w], classes), data, b, normalise);

  // The flatten twin's weights at the training size: at any other size fc1 needs another shape.
  const flattenWeights = initialWeights(resolveGraph(buildSppNet([c, h, w], classes, 'flatten')), ctx.seed);
  const results: SizeResult[] = [];
  for (const scale of b.scales) {
    const size = sizeAt(scale, h, w);
    const r = resolveGraph(buildSppNet([c, ...size], classes));
    const images = await resizeImages(data.test, size, ctx.session);
    const e = await evaluate(r, trained.weights, images, normalise, b.batch, ctx.session);
    const flat = resolveGraph(buildSppNet([c, ...size], classes, 'flatten'));
    let error: string | undefined;
    try {
      evaluationModel(flat, flattenWeights, images.shape, normalise);
    } catch (err) {
      if (!(err instanceof ConvlabError)) throw err;
      error = err.message;
    }
    const features = featuresOf(r);
    results.push({
      size,
      features,
      accuracy: e.accuracy,
      loss: e.loss,
      flatten: { features: featuresOf(flat), loads: error === undefined, ...(error && { error }) },
    });
    ctx.log(
      `  ${size.join('x')}: conv map ${features.convMap.join('x')}, SPP ${features.head} features, test acc ${percent(e.accuracy)}`,
    );
  }

  const at = (r: SizeResult) => r.size.join('x');
  const home = results.find((r) => r.size[0] === h && r.size[1] === w)!;
  const others = results.filter((r) => r !== home);
  const lengths = [...new Set(results.map((r) => r.features.head))];
  const verdict = verdictOf(results, classes);
  const flattenLengths = results.map((r) => r.features.flattened);
  const refused = others.filter((r) => !r.flatten.loads).length;
  const index = results.indexOf(home);
  const nearest = [results[index - 1], results[index + 1]].filter((r) => r !== undefined);
  const farthest = [results[0]!, results.at(-1)!].filter((r) => r !== home && !nearest.includes(r));
  const best = results.reduce((a, r) => (r.accuracy > a.accuracy ? r : a));
  const points = (r: SizeResult) => {
    const change = 100 * (r.accuracy - home.accuracy);
    return `${percent(r.accuracy, 1)} at ${at(r)} (${change >= 0 ? '+' : ''}${change.toFixed(1)} points)`;
  };
  const finding =
    (lengths.length === 1
      ? `The pyramid gave ${lengths[0]} features at every input size from ${at(results[0]!)} to ${at(results.at(-1)!)}, so the weights trained at ${h}x${w} ran unchanged at all ${results.length} sizes`
      : `The pyramid's output length varied with the input size (${lengths.join(', ')})`) +
    `; the last conv map flattened would give ${Math.min(...flattenLengths)} to ${Math.max(...flattenLengths)} features, ` +
    `and a flatten head's ${h}x${w} weights load at ${others.length - refused} of the ${others.length} other sizes. ` +
    `Test accuracy is ${percent(home.accuracy, 1)} at the training size${best === home ? ', the best of all sizes' : ` (best: ${percent(best.accuracy, 1)} at ${at(best)})`}` +
    `; at the nearest sizes it is ${nearest.map(points).join(' and ')}` +
    `${farthest.length ? `, at the extremes ${farthest.map(points).join(' and ')}` : ''}; chance is ${percent(1 / classes, 0)}.`;

  const sizes = results.map((r) => r.size[0]);
  const figures = [
    {
      name: 'accuracy-by-size',
      caption: `Test accuracy of the one SPP net trained at ${h}x${w}, evaluated on the test images resized (bilinear) to each size.`,
      svg: lineChart({
        title: `SPP net trained at ${h}x${w}: accuracy at other input sizes`,
        x: 'input size (pixels per side)',
        y: 'test accuracy',
        series: [
          {
            label: `SPP net (trained ${h}x${w})`,
            markers: true,
            points: results.map((r) => [r.size[0], r.accuracy] as const),
          },
          {
            label: 'chance',
            dashed: true,
            markers: false,
            points: [
              [Math.min(...sizes), 1 / classes],
              [Math.max(...sizes), 1 / classes],
            ],
          },
        ],
        includeY: [0, 1],
      }),
    },
    {
      name: 'feature-length',
      caption:
        "Length of the vector fed to fc1 at each input size, read from the resolved graph: the pyramid's output (fixed) and the last conv map flattened (what a plain flatten head would feed it).",
      svg: lineChart({
        title: 'Features fed to the first FC layer',
        x: 'input size (pixels per side)',
        y: 'features',
        includeY: [0],
        series: [
          {
            label: `SPP (${LEVELS.map((n) => `${n}x${n}`).join(', ')})`,
            markers: true,
            points: results.map((r) => [r.size[0], r.features.head] as const),
          },
          {
            label: 'flatten (plain head)',
            dashed: true,
            markers: true,
            points: results.map((r) => [r.size[0], r.features.flattened] as const),
          },
        ],
      }),
    },
  ];

  const table = markdownTable(
    [
      'input',
      'last conv map',
      'flattened (a flatten head feeds fc1)',
      'SPP features (fed to fc1)',
      'fc1 weight (SPP)',
      `flatten head with the ${h}x${w} weights`,
      'test accuracy',
      'test loss',
    ],
    results.map((r) => [
      at(r) + (r === home ? ' (trained)' : ''),
      r.features.convMap.join('x'),
      r.features.flattened,
      r.features.head,
      r.features.fc1Weight.join('x'),
      r.flatten.loads
        ? 'loads'
        : `refused: fc1 needs ${r.flatten.features.fc1Weight.join('x')}, has ${home.flatten.features.fc1Weight.join('x')}`,
      percent(r.accuracy),
      r.loss.toFixed(4),
    ]),
  );
  const firstError = others.find((r) => r.flatten.error)?.flatten.error;
  const last = trained.epochs.at(-1)!;
  const setup = [
    `One small SPP-net for ${ctx.data.name}: three 3x3 conv layers (${WIDTHS.join(', ')} channels, padding 1, ReLU), 2x2 max-pooling after the first two, then spatial pyramid pooling (convlab's \`spatialPyramidPool\` block: adaptive max-pooling into ${LEVELS.map((n) => `${n}x${n}`).join(', ')} bins, flattened and concatenated, ${WIDTHS.at(-1)} x ${LEVELS.reduce((s, n) => s + n * n, 0)} = ${WIDTHS.at(-1)! * LEVELS.reduce((s, n) => s + n * n, 0)} features), fc1 (${HIDDEN}, ReLU) and a linear classifier; no batch norm, as in the paper's nets, so nothing in the net depends on statistics of the training size.`,
    `Trained once at ${h}x${w} on the first ${data.train.count} training images: ${b.epochs} epoch${b.epochs === 1 ? '' : 's'}, batch ${b.batch}, SGD with Nesterov momentum 0.9, weight decay 5e-4, lr ${LR} with a cosine decay, Kaiming-normal conv initialisation, no augmentation, one size only (the paper's multi-size training, section 2.3, alternates 180x180 and 224x224 to make the net scale-invariant; here the pyramid is tested alone); final train accuracy ${percent(last.accuracy)}, test ${percent(last.testAccuracy)}.`,
    `Then the same weights are evaluated on the first ${data.test.count} test images resized to each size (bilinear, half-pixel centres, no antialiasing, in onnxruntime; normalised with the training set's mean and std): the graph is built and resolved at that input size, the lengths below are read from the resolved graph, and \`evaluate\` runs the inference graph with the trained weights by name.`,
    `For contrast the same net with a plain flatten instead of the pyramid is built at each size and given its ${h}x${w} weights: fc1's input length follows the conv map's area, so the export refuses them at any other size${firstError ? ` (e.g. "${firstError}")` : ''}.`,
    `Verdict: held when fc1 receives the same length at every size and the net stays at or above twice chance (${percent(2 / classes, 0)}) at each; inconclusive when the length is fixed but some size falls below that; not held when the length changes.`,
  ].join(' ');
  return {
    verdict,
    finding,
    setup,
    results: table,
    figures,
    raw: {
      levels: LEVELS,
      trainingSize: [h, w],
      training: { seconds: trained.seconds, epochs: trained.epochs },
      sizes: results,
    },
  };
}

registerExperiment({
  name: 'spp',
  title: 'Spatial pyramid pooling gives a fixed-length representation at any input size',
  claim:
    'Existing CNNs "require a fixed-size (e.g., 224x224) input image"; with spatial pyramid pooling the network "can generate a fixed-length representation regardless of image size/scale", so it can take inputs of any size (He, Zhang, Ren and Sun, "Spatial Pyramid Pooling in Deep Convolutional Networks for Visual Recognition", ECCV 2014 and TPAMI 2015, abstract and section 2.2).',
  run,
});
