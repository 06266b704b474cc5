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
import type { Budget, Experiment, ReportInput, SeedContext } from './experiment.js';
import { meanWithInterval, seedCurves } from './figures.js';
import type { Effects, Rule } from './judge.js';
import { lineChart } from './plot.js';
import { registerExperiment } from './registry.js';
import { markdownTable, percent, spread } from './report.js';
import { subset, trainRun } from './training.js';

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

interface SppBudget {
  readonly train: number;
  readonly test: number;
  /** Epochs of the full budget; its half trains for half as many. */
  readonly epochs: number;
  readonly batch: number;
  readonly scales: readonly number[];
}

const BUDGETS: Record<Budget, SppBudget> = {
  quick: { train: 256, test: 128, epochs: 2, batch: 32, scales: [5 / 7, 1, 10 / 7] },
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

export interface SizeResult {
  readonly size: readonly [number, number];
  readonly features: Features;
  readonly accuracy: number;
  readonly loss: number;
  /** The flatten head at this size: its features, and whether the weights of its training-size twin load. */
  readonly flatten: { readonly features: Features; readonly loads: boolean; readonly error?: string };
}

export interface SppMeasurement {
  readonly trainingSize: readonly [number, number];
  readonly classes: number;
  readonly epochs: number;
  readonly trainAccuracy: number;
  readonly testAccuracy: number;
  readonly sizes: readonly SizeResult[];
}

/** The SPP net's trained weights at every size; the flatten twin's training-size weights tried at each. */
async function evaluateAtSize(
  ctx: SeedContext,
  data: Dataset,
  scale: number,
  weights: { spp: Map<string, WeightData>; flatten: Map<string, WeightData> },
  normalise: Normalisation,
): Promise<SizeResult> {
  const [c, h, w] = data.train.shape;
  const size = sizeAt(scale, h, w);
  const classes = data.train.classes;
  const r = resolveGraph(buildSppNet([c, ...size], classes));
  const images = await resizeImages(data.test, size, ctx.session);
  const e = await evaluate(r, weights.spp, images, normalise, BUDGETS[ctx.budget].batch, ctx.session);
  const flat = resolveGraph(buildSppNet([c, ...size], classes, 'flatten'));
  let error: string | undefined;
  try {
    evaluationModel(flat, weights.flatten, images.shape, normalise);
  } catch (err) {
    if (!(err instanceof ConvlabError)) throw err;
    error = err.message;
  }
  const features = featuresOf(r);
  ctx.log(
    `  ${size.join('x')}: conv map ${features.convMap.join('x')}, SPP ${features.head} features, test acc ${percent(e.accuracy)}`,
  );
  return {
    size,
    features,
    accuracy: e.accuracy,
    loss: e.loss,
    flatten: { features: featuresOf(flat), loads: error === undefined, ...(error && { error }) },
  };
}

async function measure(ctx: SeedContext): Promise<SppMeasurement> {
  const b = BUDGETS[ctx.budget];
  const data = subset(ctx.data, b);
  const [c, h, w] = data.train.shape;
  const classes = data.train.classes;
  const epochs = ctx.scale === 'half' ? b.epochs / 2 : b.epochs;
  ctx.log(`training the SPP net at ${h}x${w}, seed ${ctx.seed}, ${epochs} epochs`);
  const run = await trainRun(ctx, {
    name: 'spp-net',
    graph: buildSppNet([c, h, w], classes),
    data,
    epochs,
    batch: b.batch,
    lr: LR,
  });
  const trained = new Map([...readSafetensorsFile(run.weights).tensors].map(([name, t]) => [name, t.data]));
  // The flatten twin's weights at the training size: at any other size fc1 needs another shape.
  const flatten = initialWeights(resolveGraph(buildSppNet([c, h, w], classes, 'flatten')), ctx.seed);
  const normalise = await channelStats(data.train, ctx.session);
  const sizes: SizeResult[] = [];
  for (const scale of b.scales) {
    sizes.push(await evaluateAtSize(ctx, data, scale, { spp: trained, flatten }, normalise));
  }
  const last = run.epochs.at(-1)!;
  return {
    trainingSize: [h, w],
    classes,
    epochs,
    trainAccuracy: last.accuracy,
    testAccuracy: last.testAccuracy,
    sizes,
  };
}

export const RULES: readonly Rule[] = [
  {
    key: 'fixed-length',
    claim: 'the pyramid feeds fc1 the same number of features at every input size',
    effect: 'whether the lengths read from the resolved graphs at all sizes are one',
    test: { kind: 'always' },
    format: 'number',
  },
  {
    key: 'above-twice-chance',
    claim: 'the one set of weights classifies at every size at or above twice chance',
    effect: 'the lowest test accuracy over the sizes minus twice chance',
    test: { kind: 'greater', threshold: 0 },
    format: 'points',
  },
  {
    key: 'flatten-refused',
    claim: 'a flatten head (the contrast) cannot take its training-size weights at any other size',
    effect: "whether the flatten twin's weights are refused at every other size",
    test: { kind: 'always' },
    format: 'number',
    secondary: true,
  },
];

const isHome = (m: SppMeasurement, r: SizeResult) =>
  r.size[0] === m.trainingSize[0] && r.size[1] === m.trainingSize[1];

export function effects(m: SppMeasurement): Effects {
  return {
    'fixed-length': new Set(m.sizes.map((r) => r.features.head)).size === 1,
    'above-twice-chance': Math.min(...m.sizes.map((r) => r.accuracy)) - 2 / m.classes,
    'flatten-refused': m.sizes.every((r) => isHome(m, r) || !r.flatten.loads),
  };
}

const accuracies = (input: ReportInput<SppMeasurement>, i: number) =>
  input.full.map((s) => s.measurement.sizes[i]!.accuracy);

function figures(input: ReportInput<SppMeasurement>) {
  const m = input.full[0]!.measurement;
  const [h, w] = m.trainingSize;
  const sizes = m.sizes.map((r) => r.size[0]);
  const chance = 1 / m.classes;
  return [
    {
      name: 'accuracy-by-size',
      caption: `Test accuracy of the SPP net trained at ${h}x${w}, evaluated on the test images resized (bilinear) to each size: every seed (thin) and the mean over seeds with its 95% interval.`,
      svg: lineChart({
        title: `SPP net trained at ${h}x${w}: accuracy at other input sizes`,
        x: 'input size (pixels per side)',
        y: 'test accuracy',
        series: [
          meanWithInterval(
            `mean of ${input.full.length} seeds`,
            0,
            sizes,
            input.full.map((s) => s.measurement.sizes.map((r) => r.accuracy)),
            { markers: true },
          ),
          ...seedCurves(
            'each seed',
            0,
            input.full.map((s) => s.measurement.sizes.map((r) => [r.size[0], r.accuracy] as const)),
          ).map((series) => ({ ...series, legend: false })),
          {
            label: 'chance',
            dashed: true,
            markers: false,
            colour: 1,
            points: [
              [Math.min(...sizes), chance],
              [Math.max(...sizes), chance],
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
            points: m.sizes.map((r) => [r.size[0], r.features.head] as const),
          },
          {
            label: 'flatten (plain head)',
            dashed: true,
            markers: true,
            points: m.sizes.map((r) => [r.size[0], r.features.flattened] as const),
          },
        ],
      }),
    },
  ];
}

function resultsTable(input: ReportInput<SppMeasurement>): string {
  const m = input.full[0]!.measurement;
  const home = m.sizes.find((r) => isHome(m, r))!;
  return markdownTable(
    [
      'input',
      'last conv map',
      'flattened (a flatten head feeds fc1)',
      'SPP features (fed to fc1)',
      'fc1 weight (SPP)',
      `flatten head with the ${m.trainingSize.join('x')} weights`,
      'test accuracy',
    ],
    m.sizes.map((r, i) => [
      r.size.join('x') + (r === home ? ' (trained)' : ''),
      r.features.convMap.join('x'),
      r.features.flattened,
      r.features.head,
      r.features.fc1Weight.join('x'),
      r.flatten.loads
        ? 'loads'
        : `refused: fc1 needs ${r.flatten.features.fc1Weight.join('x')}, has ${home.flatten.features.fc1Weight.join('x')}`,
      spread(accuracies(input, i), (x) => percent(x)),
    ]),
  );
}

function setup(input: ReportInput<SppMeasurement>): string {
  const b = BUDGETS[input.budget];
  const m = input.full[0]!.measurement;
  const [h, w] = m.trainingSize;
  const firstError = m.sizes.find((r) => r.flatten.error)?.flatten.error;
  const bins = LEVELS.reduce((s, n) => s + n * n, 0);
  return [
    `One small SPP-net for ${input.data.name}: three 3x3 conv layers (${WIDTHS.join(', ')} channels, padding 1, ReLU), 2x2 max-pooling after the first two, then spatial pyramid pooling (convlab's \`spatialPyramidPool\` block: adaptive max-pooling into ${LEVELS.map((n) => `${n}x${n}`).join(', ')} bins, flattened and concatenated, ${WIDTHS.at(-1)} x ${bins} = ${WIDTHS.at(-1)! * bins} features), fc1 (${HIDDEN}, ReLU) and a linear classifier; no batch norm, as in the paper's nets, so nothing in the net depends on statistics of the training size.`,
    `Each seed trains it at ${h}x${w} on the first ${b.train} training images: ${b.epochs} epochs, batch ${b.batch}, SGD with Nesterov momentum 0.9, weight decay 5e-4, lr ${LR} with a cosine decay, Kaiming-normal conv initialisation, no augmentation, one size only (the paper's multi-size training, section 2.3, alternates 180x180 and 224x224 to make the net scale-invariant; here the pyramid is tested alone); final train accuracy ${spread(
      input.full.map((s) => s.measurement.trainAccuracy),
      (x) => percent(x),
    )}, test ${spread(
      input.full.map((s) => s.measurement.testAccuracy),
      (x) => percent(x),
    )}.`,
    `Then the same weights are evaluated on the first ${b.test} test images resized to each size (bilinear, half-pixel centres, no antialiasing, in onnxruntime; normalised with the training set's mean and std): the graph is built and resolved at that input size, the lengths below are read from the resolved graph, and \`evaluate\` runs the inference graph with the trained weights by name.`,
    `For contrast the same net with a plain flatten instead of the pyramid is built at each size and given its ${h}x${w} weights: fc1's input length follows the conv map's area, so the export refuses them at any other size${firstError ? ` (e.g. "${firstError}")` : ''}.`,
  ].join(' ');
}

function report(input: ReportInput<SppMeasurement>) {
  const m = input.full[0]!.measurement;
  const lengths = [...new Set(input.full.flatMap((s) => s.measurement.sizes.map((r) => r.features.head)))];
  const homeIndex = m.sizes.findIndex((r) => isHome(m, r));
  const at = (i: number) =>
    `${spread(accuracies(input, i), (x) => percent(x, 1))} at ${m.sizes[i]!.size.join('x')}`;
  const finding =
    (lengths.length === 1
      ? `The pyramid gave ${lengths[0]} features at every input size from ${m.sizes[0]!.size.join('x')} to ${m.sizes.at(-1)!.size.join('x')}, so the weights trained at ${m.trainingSize.join('x')} ran unchanged at all ${m.sizes.length} sizes`
      : `The pyramid's output length varied with the input size (${lengths.join(', ')})`) +
    `. Test accuracy over ${input.full.length} seeds (mean ± sd [95% interval]): ${at(homeIndex)} (the training size), ${at(0)} and ${at(m.sizes.length - 1)} at the extremes; chance is ${percent(1 / m.classes, 0)}.`;
  return {
    finding,
    setup: setup(input),
    results: resultsTable(input),
    figures: figures(input),
    raw: {
      levels: LEVELS,
      budget: BUDGETS[input.budget],
      accuracy: m.sizes.map((r, i) => ({ size: r.size, perSeed: accuracies(input, i) })),
    },
  };
}

export const spp: Experiment<SppMeasurement> = registerExperiment({
  name: 'spp',
  title: 'Spatial pyramid pooling gives a fixed-length representation at any input size',
  claim:
    'Existing CNNs "require a fixed-size (e.g., 224x224) input image"; with spatial pyramid pooling the network "can generate a fixed-length representation regardless of image size/scale", so it can take inputs of any size (He, Zhang, Ren and Sun, "Spatial Pyramid Pooling in Deep Convolutional Networks for Visual Recognition", ECCV 2014 and TPAMI 2015, abstract and section 2.2).',
  budgets: BUDGETS,
  seeds: { quick: 2, full: 5 },
  half: { kind: 'rerun', describe: 'a run of its own, trained for half the epochs' },
  rules: RULES,
  measure,
  effects,
  report,
});
