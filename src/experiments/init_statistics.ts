import type * as ort from 'onnxruntime-node';
import { Augmenter, channelStats } from '../data/augment.js';
import { type ImageSet, sampleSize } from '../data/dataset.js';
import { GraphBuilder, type Tensor } from '../ir/builder.js';
import { ConvlabError } from '../ir/errors.js';
import type { Graph } from '../ir/graph.js';
import type { Init } from '../ir/op.js';
import { adaptiveAvgpool2d } from '../ops/adaptive_avgpool2d.js';
import { add } from '../ops/add.js';
import { conv2d } from '../ops/conv2d.js';
import { flatten } from '../ops/flatten.js';
import { linear } from '../ops/linear.js';
import { maxpool2d } from '../ops/maxpool2d.js';
import { padChannels } from '../ops/pad_channels.js';
import { relu } from '../ops/relu.js';
import { TrainingSession } from '../train/step.js';
import type { Budget, Experiment, Figure, ReportInput, SeedContext } from './experiment.js';
import { meanWithInterval } from './figures.js';
import type { Effects, Rule } from './judge.js';
import { lineChart, type Series } from './plot.js';
import { registerExperiment } from './registry.js';
import { factorSpread, markdownTable, percent, spread } from './report.js';
import { summarise } from './stats.js';
import { Stopped } from './training.js';
import {
  type ConvLayer,
  effectiveFans,
  geometricMean,
  MEASURABLE,
  measuredRatio,
  predictedProfile,
  predictedRatios,
} from './variance_analysis.js';

/**
 * How the normal distribution the weights are drawn from shapes the signal through depth: the
 * standard deviation of every conv layer's output (forward) and of the loss gradient with respect
 * to it (backward), measured at initialisation on real images, for a deep plain ReLU net without
 * batch norm and its residual twin, under three initialisations; the plain nets' per-layer ratios
 * are set against the variance analysis of He et al. 2015, section 2.2 (variance_analysis.ts).
 */

/** The three initialisations, for every conv weight (the convs have no bias). */
const INITS = [
  { key: 'normal', label: 'N(0, 0.01)', short: 'N(0, 0.01)', init: { kind: 'normal', std: 0.01, mean: 0 } },
  { key: 'xavier', label: 'Xavier normal', short: 'Xavier', init: { kind: 'xavier_normal' } },
  {
    key: 'kaiming',
    label: 'Kaiming normal',
    short: 'Kaiming',
    init: { kind: 'kaiming_normal', mode: 'fan_in' },
  },
] as const satisfies readonly { key: string; label: string; short: string; init: Init }[];

type InitKey = (typeof INITS)[number]['key'];
type NetKind = 'plain' | 'residual';
const NETS: readonly NetKind[] = ['plain', 'residual'];
const initOf = (key: InitKey) => INITS.find((i) => i.key === key)!;

interface Sizes {
  /** Blocks (two 3x3 convs each) per stage; the stages have 16 and 32 channels. */
  readonly blocks: readonly [number, number];
  readonly batch: number;
  /** Batches of training images the statistics are averaged over; the half budget takes the first half. */
  readonly batches: number;
}

const BUDGETS: Record<Budget, Sizes> = {
  quick: { blocks: [2, 2], batch: 16, batches: 2 },
  full: { blocks: [7, 8], batch: 64, batches: 8 },
};

const STAGE_CHANNELS = [16, 32] as const;

interface Net {
  readonly graph: Graph;
  /** Every conv in forward order: the stem, then each block's conv1 and conv2. */
  readonly convs: readonly ConvLayer[];
}

/**
 * A 3x3 conv stem to 16 channels and ReLU, then two stages of blocks (16 channels on the input's
 * size, 32 channels at half the size, the second stage opening with stride 2), each block
 * conv3x3-ReLU-conv3x3-ReLU; global average pool, FC. No batch norm: it would normalise away what
 * the initialisation does. The residual twin adds each block's input before its last ReLU, through
 * the ResNet paper's parameter-free option-A shortcut where the shape changes (subsample, zero
 * channels), so both nets have the same parameters under the same names, hence the same weights
 * from the same seed. The FC keeps PyTorch's default initialisation.
 */
export function buildNet(
  kind: NetKind,
  init: Init,
  blocks: readonly [number, number],
  input: readonly [number, number, number],
  classes: number,
): Net {
  const depth = 2 + 2 * (blocks[0] + blocks[1]);
  const b = new GraphBuilder(`${kind}${depth}`, `init_statistics_${kind}`).initialise('conv2d', {
    weight: init,
  });
  const convs: ConvLayer[] = [];
  const conv = (x: Tensor, out: number, stride: number, name: string): Tensor => {
    const y = conv2d(x, { out, kernel: 3, stride, padding: 1, bias: false }, name);
    convs.push({
      name: y.name,
      inChannels: x.channels,
      outChannels: out,
      kernel: 3,
      stride,
      padding: 1,
      inSize: [x.height, x.width],
      outSize: [y.height, y.width],
    });
    return y;
  };
  let x = b.input(input);
  x = relu(conv(x, STAGE_CHANNELS[0], 1, 'conv1'), 'relu');
  STAGE_CHANNELS.forEach((planes, stage) => {
    x = b.scope(`layer${stage + 1}`, kind === 'plain' ? 'PlainLayer' : 'ResLayer', () => {
      for (let i = 0; i < blocks[stage]!; i++) {
        const stride = i === 0 && stage > 0 ? 2 : 1;
        x = b.scope(String(i), kind === 'plain' ? 'PlainBlock' : 'BasicBlock', () => {
          let y = relu(conv(x, planes, stride, 'conv1'), 'relu1');
          y = conv(y, planes, 1, 'conv2');
          return relu(kind === 'residual' ? add(y, shortcut(x, planes, stride), 'add') : y, 'relu2');
        });
      }
      return x;
    });
  });
  x = flatten(adaptiveAvgpool2d(x, { output: 1 }, 'avgpool'), 'flatten');
  b.output(linear(x, { out: classes }, 'fc'));
  return { graph: b.build(), convs };
}

/** Identity, or (where the block strides and widens) subsample and zero-pad the new channels. */
function shortcut(x: Tensor, planes: number, stride: number): Tensor {
  if (stride === 1 && x.channels === planes) return x;
  const sub = stride === 1 ? x : maxpool2d(x, { kernel: 1, stride }, 'shortcut.subsample');
  const extra = planes - x.channels;
  return padChannels(
    sub,
    { before: Math.floor(extra / 2), after: extra - Math.floor(extra / 2) },
    'shortcut.pad',
  );
}

/** One net under one initialisation, for one seed: each conv layer's stds on each batch. */
export interface ProfileRun {
  readonly net: NetKind;
  readonly init: InitKey;
  /** Per batch, per conv layer: the std of its output and of the loss gradient with respect to it. */
  readonly actStd: readonly (readonly number[])[];
  readonly gradStd: readonly (readonly number[])[];
  /** Per batch, the cross-entropy at initialisation. */
  readonly loss: readonly number[];
}

export interface InitMeasurement {
  readonly batch: number;
  /** Every conv of the nets in forward order (the plain net's and the residual twin's are alike). */
  readonly convs: readonly ConvLayer[];
  readonly runs: readonly ProfileRun[];
}

interface NormalisedBatch {
  readonly images: ort.TypedTensor<'float32'>;
  readonly labels: Int32Array;
}

/**
 * `count` batches of `batch` images from `from` on, normalised once with their own channel
 * statistics, shared by every net of the seed.
 */
async function normalisedBatches(
  ctx: SeedContext,
  set: ImageSet,
  from: number,
  sizes: Sizes,
): Promise<NormalisedBatch[]> {
  const { batch, batches } = sizes;
  const size = sampleSize(set);
  const images = set.images.subarray(from * size, (from + batch * batches) * size);
  const labels = set.labels.subarray(from, from + batch * batches);
  const slice = { ...set, images, labels, count: batch * batches };
  const augmenter = await Augmenter.create(
    { shape: set.shape, ...(await channelStats(slice, ctx.session)) },
    'eval',
    ctx.session,
  );
  try {
    const out: NormalisedBatch[] = [];
    for (let i = 0; i < batches; i++) {
      out.push({
        images: await augmenter.run(images.subarray(i * batch * size, (i + 1) * batch * size), batch),
        labels: labels.slice(i * batch, (i + 1) * batch),
      });
    }
    return out;
  } finally {
    await augmenter.release();
  }
}

/** Plain SGD: with no momentum or weight decay, a step at learning rate 0 changes nothing at all. */
const NO_OP_SGD = { kind: 'sgd', momentum: 0, nesterov: false, weightDecay: 0 } as const;

/**
 * One training step per batch at learning rate 0, so the weights stay at their initial values;
 * the step's probes give each conv's output std and its loss gradient's std.
 */
async function profile(
  ctx: SeedContext,
  net: Net,
  batches: readonly NormalisedBatch[],
): Promise<Omit<ProfileRun, 'net' | 'init'>> {
  const layers = net.convs.map((c) => c.name);
  const session = await TrainingSession.create(
    net.graph,
    { batch: BUDGETS[ctx.budget].batch, optimizer: NO_OP_SGD, probes: { activations: layers } },
    { seed: ctx.seed },
    ctx.session,
  );
  try {
    const run = { actStd: [] as number[][], gradStd: [] as number[][], loss: [] as number[] };
    for (const [i, b] of batches.entries()) {
      const r = await session.step(b.images, b.labels, 0, i + 1);
      run.loss.push(r.loss);
      run.actStd.push(layers.map((name) => r.probes.get(`act_std/${name}`)!));
      run.gradStd.push(layers.map((name) => r.probes.get(`grad_std/${name}`)!));
    }
    return run;
  } finally {
    await session.release();
  }
}

async function measure(ctx: SeedContext): Promise<InitMeasurement> {
  const sizes = BUDGETS[ctx.budget];
  const set = ctx.data.train;
  const needed = sizes.batches * sizes.batch;
  // Each seed its own images: seed s reads the s-th run of `needed` training images.
  const from = (ctx.seed * needed) % Math.max(1, set.count - needed + 1);
  if (set.count < needed) {
    throw new ConvlabError(
      `init-statistics needs ${needed} training images and ${set.name} has ${set.count}; use a larger dataset`,
    );
  }
  const batches = await normalisedBatches(ctx, set, from, sizes);
  const runs: ProfileRun[] = [];
  let convs: readonly ConvLayer[] = [];
  for (const net of NETS) {
    for (const init of INITS) {
      if (ctx.stop()) throw new Stopped(ctx.stop()!);
      const built = buildNet(net, init.init, sizes.blocks, set.shape, set.classes);
      convs = built.convs;
      const measured = await profile(ctx, built, batches);
      ctx.log(`  ${built.graph.name} ${init.label}, seed ${ctx.seed}: loss ${measured.loss[0]!.toFixed(3)}`);
      runs.push({ net, init: init.key, ...measured });
    }
  }
  return { batch: sizes.batch, convs, runs };
}

/** The first half of the batches: exactly what half the budget measures. */
function firstHalf(m: InitMeasurement): InitMeasurement {
  const half = <T>(xs: readonly T[]) => xs.slice(0, Math.max(1, Math.floor(xs.length / 2)));
  return {
    ...m,
    runs: m.runs.map((r) => ({ ...r, actStd: half(r.actStd), gradStd: half(r.gradStd), loss: half(r.loss) })),
  };
}

/** Per-layer means over the batches (summed in batch order), and the mean loss. */
export function meanProfile(r: ProfileRun): { actStd: number[]; gradStd: number[]; loss: number } {
  const n = r.loss.length;
  const over = (rows: readonly (readonly number[])[]) =>
    rows[0]!.map((_, j) => rows.reduce((s, row) => s + row[j]! / n, 0));
  return { actStd: over(r.actStd), gradStd: over(r.gradStd), loss: r.loss.reduce((s, x) => s + x / n, 0) };
}

const runOf = (m: InitMeasurement, net: NetKind, init: InitKey) =>
  m.runs.find((r) => r.net === net && r.init === init)!;

/**
 * The ratios are taken over conv layers 2..L-1: each block's first conv, which reads the trunk
 * (the ReLU of the stem or of a block's output) in the plain and the residual net alike. The last
 * conv is left out so that the span ends on a block's first conv in both nets.
 */
const span = (m: InitMeasurement) => [1, m.convs.length - 2] as const;

export interface Factors {
  readonly forward?: { readonly ratio: number; readonly from: number; readonly to: number };
  readonly backward?: { readonly ratio: number; readonly from: number; readonly to: number };
  /** He's factors over the same layers (plain net only: the analysis is of a plain chain). */
  readonly predictedForward?: number;
  readonly predictedBackward?: number;
}

export function factorsOf(m: InitMeasurement, net: NetKind, init: InitKey): Factors {
  const p = meanProfile(runOf(m, net, init));
  const [from, to] = span(m);
  const forward = measuredRatio(p.actStd, from, to, 'forward');
  const backward = measuredRatio(p.gradStd, from, to, 'backward');
  const predict = (s: { from: number; to: number } | undefined, direction: 'forward' | 'backward') =>
    net === 'plain' && s
      ? geometricMean(
          m.convs.slice(s.from + 1, s.to + 1).map((l) => predictedRatios(initOf(init).init, l)[direction]),
        )
      : undefined;
  const [pf, pb] = [predict(forward, 'forward'), predict(backward, 'backward')];
  return {
    ...(forward && { forward }),
    ...(backward && { backward }),
    ...(pf !== undefined && { predictedForward: pf }),
    ...(pb !== undefined && { predictedBackward: pb }),
  };
}

/** A measured per-layer factor within this fraction of the prediction agrees with it. */
const TOLERANCE = 0.1;
/** Vanished: fallen by at least this many decades (a millionth), or out of float32's reach. */
const VANISHED_DECADES = 6;
/** The residual trunk keeps its signal when it changes by less than this factor down (a tenth). */
const KEPT = 0.1;

const within = (key: string, claim: string, effect: string): Rule => ({
  key,
  claim,
  effect,
  test: { kind: 'within', threshold: Math.log(1 + TOLERANCE) },
  format: 'ratio',
});

const heRules = INITS.flatMap((init) =>
  (['forward', 'backward'] as const).map((direction) =>
    within(
      `he-${direction}-${init.key}`,
      `Under ${init.label} the plain net's per-layer std factor (${direction}) agrees with He et al.'s prediction within ${percent(TOLERANCE, 0)}`,
      `measured per-layer factor over the predicted one (as a log ratio)`,
    ),
  ),
);

export const RULES: readonly Rule[] = [
  ...heRules,
  ...(['forward', 'backward'] as const).map((direction) =>
    within(
      `kaiming-constant-${direction}`,
      `Kaiming init keeps the plain net's ${direction === 'forward' ? 'activation' : 'gradient'} std constant (per-layer factor within ${percent(TOLERANCE, 0)} of 1)`,
      'the per-layer factor (as a log)',
    ),
  ),
  ...(['forward', 'backward'] as const).map(
    (direction): Rule => ({
      key: `small-vanishes-${direction}`,
      claim: `N(0, 0.01) makes the plain net's ${direction === 'forward' ? 'activations' : 'gradients'} vanish: from the ${direction === 'forward' ? 'first layer to the last' : 'last layer to the first'} they fall by ${VANISHED_DECADES} decades or more`,
      effect: `decades fallen (an end below ${MEASURABLE.toExponential(0)} counts as ${MEASURABLE.toExponential(0)}: a lower bound)`,
      test: { kind: 'greater', threshold: VANISHED_DECADES, baseline: VANISHED_DECADES },
      format: 'decades',
    }),
  ),
  ...(['forward', 'backward'] as const).map(
    (direction): Rule => ({
      key: `residual-keeps-${direction}`,
      claim: `With identity shortcuts the N(0, 0.01) net's trunk ${direction === 'forward' ? 'activations' : 'gradients'} do not vanish (change by more than ${KEPT}x from the first block to the last)`,
      effect: 'the std at the last block over that at the first (as a log ratio)',
      test: { kind: 'greater', threshold: Math.log(KEPT), baseline: Math.log(KEPT) },
      format: 'ratio',
    }),
  ),
  {
    key: 'residual-grows',
    claim: 'With identity shortcuts and Kaiming init, the std grows with depth',
    effect: 'the residual net per-layer activation factor (as a log)',
    test: { kind: 'greater', threshold: 0 },
    format: 'ratio',
  },
];

const logOr = (x: number | undefined) => (x === undefined ? Number.NaN : Math.log(x));

/** Decades between `start` and `end`, an unmeasurable end counted at MEASURABLE. */
const decadesFallen = (start: number, end: number) => Math.log10(start / Math.max(end, MEASURABLE));

export function effects(m: InitMeasurement): Effects {
  const out: Record<string, number> = {};
  for (const init of INITS) {
    const f = factorsOf(m, 'plain', init.key);
    out[`he-forward-${init.key}`] = logOr(f.forward && f.forward.ratio / f.predictedForward!);
    out[`he-backward-${init.key}`] = logOr(f.backward && f.backward.ratio / f.predictedBackward!);
  }
  const kaiming = factorsOf(m, 'plain', 'kaiming');
  out['kaiming-constant-forward'] = logOr(kaiming.forward?.ratio);
  out['kaiming-constant-backward'] = logOr(kaiming.backward?.ratio);
  const small = meanProfile(runOf(m, 'plain', 'normal'));
  const last = m.convs.length - 1;
  out['small-vanishes-forward'] = decadesFallen(small.actStd[0]!, small.actStd[last]!);
  out['small-vanishes-backward'] = decadesFallen(small.gradStd[last]!, small.gradStd[0]!);
  const residual = meanProfile(runOf(m, 'residual', 'normal'));
  const [from, to] = span(m);
  out['residual-keeps-forward'] = Math.log(residual.actStd[to]! / residual.actStd[from]!);
  out['residual-keeps-backward'] = Math.log(residual.gradStd[from]! / residual.gradStd[to]!);
  out['residual-grows'] = logOr(factorsOf(m, 'residual', 'kaiming').forward?.ratio);
  return out;
}

const sci = (x: number) => (x > MEASURABLE ? x.toExponential(2) : `< ${MEASURABLE.toExponential(0)}`);

/** Stds over seeds: their geometric mean and its 95% interval, or "< 1e-36" where a seed's is unmeasurable. */
function stdSpread(values: readonly number[]): string {
  if (values.some((v) => !(v > MEASURABLE))) return `< ${MEASURABLE.toExponential(0)} (some seeds)`;
  const s = summarise(values.map(Math.log));
  return s.n < 2
    ? sci(Math.exp(s.mean))
    : `${sci(Math.exp(s.mean))} [${sci(Math.exp(s.lo))}, ${sci(Math.exp(s.hi))}]`;
}

const PAIRS = NETS.flatMap((net) => INITS.map((init) => ({ net, init })));
const labelOf = (net: NetKind, init: InitKey) => `${net} ${initOf(init).label}`;
const seedsOf = (input: ReportInput<InitMeasurement>) => input.full.map((s) => s.measurement);

function stdTable(input: ReportInput<InitMeasurement>): string {
  const seeds = seedsOf(input);
  const depth = seeds[0]!.convs.length;
  const mid = Math.floor(depth / 2);
  const layers = [0, mid, depth - 1];
  const of = (net: NetKind, init: InitKey, pick: 'actStd' | 'gradStd', layer: number) =>
    stdSpread(seeds.map((m) => meanProfile(runOf(m, net, init))[pick][layer]!));
  return markdownTable(
    [
      'net',
      'init',
      'loss at init',
      ...layers.map((l) => `act std, layer ${l + 1}`),
      ...layers.map((l) => `grad std, layer ${l + 1}`),
    ],
    PAIRS.map(({ net, init }) => [
      net,
      init.label,
      spread(
        seeds.map((m) => meanProfile(runOf(m, net, init.key)).loss),
        (x) => x.toFixed(3),
      ),
      ...layers.map((l) => of(net, init.key, 'actStd', l)),
      ...layers.map((l) => of(net, init.key, 'gradStd', l)),
    ]),
  );
}

function factorTable(input: ReportInput<InitMeasurement>): string {
  const seeds = seedsOf(input);
  const cell = (values: (number | undefined)[]) =>
    values.every((v) => v === undefined) ? 'n/a' : factorSpread(values.map((v) => v ?? Number.NaN));
  const spans = (xs: ({ from: number; to: number } | undefined)[]) =>
    [...new Set(xs.map((s) => (s ? `${s.from + 1}-${s.to + 1}` : 'n/a')))].join(', ');
  return markdownTable(
    [
      'net',
      'init',
      'forward measured',
      'forward predicted',
      'layers',
      'backward measured',
      'backward predicted',
      'layers',
    ],
    PAIRS.map(({ net, init }) => {
      const f = seeds.map((m) => factorsOf(m, net, init.key));
      return [
        net,
        init.label,
        cell(f.map((x) => x.forward?.ratio)),
        cell(f.map((x) => x.predictedForward)),
        spans(f.map((x) => x.forward)),
        cell(f.map((x) => x.backward?.ratio)),
        cell(f.map((x) => x.predictedBackward)),
        spans(f.map((x) => x.backward)),
      ];
    }),
  );
}

/** Per layer, the geometric mean over seeds of a std profile, with its interval (measurable values only). */
function profileSeries(input: ReportInput<InitMeasurement>, pick: 'actStd' | 'gradStd'): Series[] {
  const seeds = seedsOf(input);
  const depth = seeds[0]!.convs.length;
  const layers = Array.from({ length: depth }, (_, i) => i + 1);
  return PAIRS.map(({ net, init }, k) => {
    const values = seeds.map((m) =>
      meanProfile(runOf(m, net, init.key))[pick].map((v) => (v > MEASURABLE ? v : Number.NaN)),
    );
    return {
      ...meanWithInterval(labelOf(net, init.key), k % 3, layers, values, { log: true }),
      dashed: net === 'residual',
    };
  });
}

/** The plain net's mean profile against He's prediction chained from it, per init. */
function againstPrediction(input: ReportInput<InitMeasurement>, pick: 'actStd' | 'gradStd'): Series[] {
  const seeds = seedsOf(input);
  const convs = seeds[0]!.convs;
  const depth = convs.length;
  return INITS.flatMap((init, k) => {
    const mean = meanWithInterval(
      `${init.short}, measured`,
      k,
      convs.map((_, i) => i + 1),
      seeds.map((m) =>
        meanProfile(runOf(m, 'plain', init.key))[pick].map((v) => (v > MEASURABLE ? v : Number.NaN)),
      ),
      { log: true, markers: true },
    );
    const start = (i: number) => mean.points[i]![1];
    const predicted = predictedProfile(init.init, convs, start(0), start(depth - 1))[pick];
    return [
      mean,
      {
        label: `${init.short}, predicted`,
        colour: k,
        dashed: true,
        markers: false,
        points: predicted.flatMap((v, i) => (v > MEASURABLE ? [[i + 1, v] as const] : [])),
      },
    ];
  });
}

function figures(input: ReportInput<InitMeasurement>): Figure[] {
  const unmeasured = `Values below ${MEASURABLE.toExponential(0)} are not drawn.`;
  const chart = (name: string, title: string, y: string, caption: string, series: readonly Series[]) => ({
    name,
    caption,
    svg: lineChart({ title, x: 'conv layer', y, series, logY: true }),
  });
  return [
    chart(
      'activation-std',
      'Activation std through depth at initialisation',
      'std of the conv output',
      `Std of each conv layer's output at initialisation (log scale; layer 1 is the stem), geometric mean over seeds with its 95% interval. Solid: plain net; dashed: its residual twin, whose even layers (each block's first conv) read the trunk and whose odd layers from 3 (each block's second conv) lie inside a block. ${unmeasured}`,
      profileSeries(input, 'actStd'),
    ),
    chart(
      'gradient-std',
      'Gradient std through depth at initialisation',
      'std of d(loss)/d(conv output)',
      `Std of d(loss)/d(conv output) at initialisation (log scale), geometric mean over seeds with its 95% interval. Solid: plain net; dashed: residual twin. ${unmeasured}`,
      profileSeries(input, 'gradStd'),
    ),
    chart(
      'plain-forward-vs-prediction',
      'Plain net, activations: measured vs predicted',
      'std of the conv output',
      "Plain net: measured activation std (markers, geometric mean over seeds) against He et al.'s prediction (dashed), chained from layer 1's measured std by each layer's factor sqrt(1/2 n Var(w)).",
      againstPrediction(input, 'actStd'),
    ),
    chart(
      'plain-backward-vs-prediction',
      'Plain net, gradients: measured vs predicted',
      'std of d(loss)/d(conv output)',
      "Plain net: measured gradient std (markers, geometric mean over seeds) against He et al.'s prediction (dashed), chained back from the last layer's measured std.",
      againstPrediction(input, 'gradStd'),
    ),
  ];
}

function setup(input: ReportInput<InitMeasurement>): string {
  const sizes = BUDGETS[input.budget];
  const m = seedsOf(input)[0]!;
  const depth = m.convs.length;
  const set = input.data.train;
  const [h, w] = [set.shape[1], set.shape[2]];
  const last = m.convs[depth - 1]!;
  const borderLoss = 1 - Math.sqrt(effectiveFans(last).fanIn / (last.inChannels * last.kernel * last.kernel));
  return [
    `A plain ReLU net of ${depth} 3x3 conv layers and an FC (${depth + 1} weighted layers), without batch norm (it would normalise away what the initialisation does) and without conv biases:`,
    `a stem conv to 16 channels and ReLU; ${sizes.blocks[0]} blocks at 16 channels on ${h}x${w} and ${sizes.blocks[1]} blocks at 32 channels on ${Math.ceil(h / 2)}x${Math.ceil(w / 2)} (the first with stride 2), each block conv-ReLU-conv-ReLU; global average pooling; FC to ${set.classes} classes.`,
    "Its residual twin has the same layers and adds each block's input before the block's second ReLU: the identity, or at the stride-2 block the ResNet paper's parameter-free option-A shortcut (subsample, zero channels).",
    'Both nets name their parameters alike, so under one seed they start from the same weights.',
    "Initialisations of every conv weight: N(0, 0.01); Xavier normal, std sqrt(2 / (fan_in + fan_out)); Kaiming normal over fan_in, std sqrt(2 / fan_in). The FC keeps PyTorch's default.",
    `Data: seed s reads the s-th run of ${sizes.batches * sizes.batch} ${input.data.name} training images (seed 0 the first), normalised by their own per-channel mean and std, in ${sizes.batches} batches of ${sizes.batch}; the seed also draws the weights.`,
    "Measurement: one training step per batch at learning rate 0 (plain SGD, so nothing changes); the training graph's probes give the std of each conv's output and of the gradient of the batch-mean cross-entropy with respect to it, averaged over the batches.",
    `Stds below ${MEASURABLE.toExponential(0)} are reported as unmeasurable: float32's normal range ends at 1.2e-38.`,
    "Prediction (He et al. 2015, section 2.2): through a conv that reads the ReLU of the previous conv's output, the std changes by sqrt(1/2 n Var(w)) per layer, n the fan-in forward and the fan-out backward:",
    'Kaiming gives 1; Xavier 1/sqrt(2) = 0.707 where fan-in equals fan-out; N(0, 0.01) gives 0.01 sqrt(n / 2), 0.085 at 16 channels and 0.12 at 32.',
    `The fans are effective ones: taps that fall on the zero padding are not counted (on the ${last.inSize.join('x')} maps that lowers the predicted std by ${percent(borderLoss, 1)} per layer), and a stride-2 conv reaches each input position with k^2 / 4 taps per output channel.`,
    `The per-layer factors are the geometric mean over layers ${span(m)[0] + 1}-${span(m)[1] + 1} (each block's first conv, which reads the trunk in both nets), shortened to the layers whose std was measurable. The nets are not trained: this experiment is about the starting point only.`,
  ].join(' ');
}

function report(input: ReportInput<InitMeasurement>) {
  const seeds = seedsOf(input);
  const depth = seeds[0]!.convs.length;
  const factor = (net: NetKind, init: InitKey, d: 'forward' | 'backward') =>
    factorSpread(seeds.map((m) => factorsOf(m, net, init)[d]?.ratio ?? Number.NaN));
  const predicted = (init: InitKey) =>
    seeds[0]!.convs.length && factorsOf(seeds[0]!, 'plain', init).predictedForward;
  const finding =
    `Over ${seeds.length} seeds, the plain net's (${depth} conv layers) per-layer activation std factor was ${INITS.map((i) => `${factor('plain', i.key, 'forward')} under ${i.label} (predicted ${(predicted(i.key) ?? Number.NaN).toFixed(3)})`).join(', ')}; ` +
    `its gradient factor ${INITS.map((i) => `${factor('plain', i.key, 'backward')} under ${i.short}`).join(', ')}. ` +
    `The residual twin's trunk under N(0, 0.01) changed by ${factorSpread(seeds.map((m) => Math.exp(effects(m)['residual-keeps-forward'] as number)))} from the first block to the last, ` +
    `and under Kaiming grew by ${factor('residual', 'kaiming', 'forward')} per layer.`;
  return {
    finding,
    setup: setup(input),
    results: [
      `Standard deviation of each conv layer's output (activation) and of the loss gradient with respect to it, at layers 1 (the stem), ${Math.floor(depth / 2) + 1} and ${depth}, geometric mean over seeds [95% interval]; the loss at initialisation (ln ${input.data.train.classes} = ${Math.log(input.data.train.classes).toFixed(3)} for a uniform guess):`,
      '',
      stdTable(input),
      '',
      "Per-layer factor of the std, the geometric mean over each block's first conv: forward, layer l over layer l-1; backward, the gradient at layer l-1 over layer l. Predicted: He et al.'s factor for each plain-net layer, sqrt(1/2 n Var(w)), averaged the same way (none for the residual nets). Geometric mean over seeds (x/÷ its spread) [95% interval]:",
      '',
      factorTable(input),
    ].join('\n'),
    figures: figures(input),
    raw: {
      budget: BUDGETS[input.budget],
      layers: seeds[0]!.convs.map((l, i) => ({ ...l, ...effectiveFans(l), index: i + 1 })),
      factors: seeds.map((m) =>
        PAIRS.map(({ net, init }) => ({ net, init: init.key, ...factorsOf(m, net, init.key) })),
      ),
    },
  };
}

export const initStatistics: Experiment<InitMeasurement> = registerExperiment({
  name: 'init-statistics',
  title: 'How the initial weight distribution shapes the signal through depth',
  claim:
    'Glorot and Bengio ("Understanding the difficulty of training deep feedforward neural networks", AISTATS 2010, section 4.2.1): "From a forward-propagation point of view, to keep information flowing we would like that ... Var[z^i] = Var[z^i\']", and likewise for the back-propagated gradients. ' +
    'He, Zhang, Ren and Sun ("Delving Deep into Rectifiers", ICCV 2015, section 2.2) redo the analysis for ReLU nets: "A proper initialization method should avoid reducing or magnifying the magnitudes of input signals exponentially", ' +
    'which needs 1/2 n_l Var[w_l] = 1 at every layer, forward (n_l the fan-in) and backward (the fan-out): "a zero-mean Gaussian distribution whose standard deviation (std) is sqrt(2/n_l)" (Kaiming init) keeps the variance of activations and of gradients constant through depth. ' +
    'For the Xavier init, "When there are L layers, the std will be 1/sqrt(2)^L of our derived std"; and "With fixed standard deviations (e.g., 0.01 in [16]), very deep models (e.g., >8 conv layers) have difficulties to converge": the signal vanishes. ' +
    'Identity shortcuts carry the signal past every block, so it does not vanish; without normalisation it instead grows with depth under Kaiming init (cf. Zhang, Dauphin and Ma, "Fixup Initialization", ICLR 2019, section 2).',
  budgets: BUDGETS,
  seeds: { quick: 2, full: 5 },
  half: { kind: 'prefix', of: firstHalf, describe: 'the first half of every seed’s batches' },
  rules: RULES,
  measure,
  effects,
  report,
});
