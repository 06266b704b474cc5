import { googlenetAux } from '../blocks/aux_head.js';
import { basicConv2d, inceptionModule } from '../blocks/inception.js';
import { GraphBuilder, type Tensor } from '../ir/builder.js';
import type { Graph } from '../ir/graph.js';
import { adaptiveAvgpool2d } from '../ops/adaptive_avgpool2d.js';
import { flatten } from '../ops/flatten.js';
import { linear } from '../ops/linear.js';
import { maxpool2d } from '../ops/maxpool2d.js';
import type { Budget, Experiment, Figure, ReportInput, SeedContext } from './experiment.js';
import { meanWithInterval, seedCurves, smoothedSeedCurves, smoothingWindow } from './figures.js';
import type { Effects, Rule } from './judge.js';
import { lineChart } from './plot.js';
import { registerExperiment } from './registry.js';
import { factorSpread, markdownTable, percent, spread } from './report.js';
import { mean } from './stats.js';
import { firstCycle, RESTART, subset, type TrainingBudget, trainingSetup, trainRun } from './training.js';

/** [ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj]: GoogLeNet's Table 1 at a quarter width. */
type Widths = readonly [number, number, number, number, number, number];

/**
 * GoogLeNet's nine Inception modules at a quarter of the paper's widths, each stage opened by a
 * stride-2 max pool; the auxiliary heads sit after 4a and 4d, where the paper puts them.
 */
const STAGES: readonly (readonly (readonly [name: string, widths: Widths, aux?: string])[])[] = [
  [
    ['inception3a', [16, 24, 32, 4, 8, 8]],
    ['inception3b', [32, 32, 48, 8, 24, 16]],
  ],
  [
    ['inception4a', [48, 24, 52, 4, 12, 16], 'aux1'],
    ['inception4b', [40, 28, 56, 6, 16, 16]],
    ['inception4c', [32, 32, 64, 6, 16, 16]],
    ['inception4d', [28, 36, 72, 8, 16, 16], 'aux2'],
    ['inception4e', [64, 40, 80, 8, 32, 32]],
  ],
  [
    ['inception5a', [64, 40, 80, 8, 32, 32]],
    ['inception5b', [96, 48, 96, 12, 32, 32]],
  ],
];

/** The stem's convolutions: GoogLeNet's conv1 (7x7/2), conv2 (1x1) and conv3 (3x3), for 28x28 inputs. */
const STEM = ['conv1', 'conv2', 'conv3'] as const;

/** The parts of the trunk, input to output, whose gradient norms are compared. */
const TRUNK = [...STEM, ...STAGES.flat().map(([name]) => name)];

const KAIMING_FAN_IN = { weight: { kind: 'kaiming_normal', mode: 'fan_in' } } as const;

/**
 * A small GoogLeNet for 28x28 images: the stem shrunk to 3x3 conv (16) -> 1x1 conv (16) -> 3x3
 * conv (48) at full resolution (no stride, no first pool: the image is already small), then the
 * paper's three stages of Inception modules on 14x14, 7x7 and 4x4 maps, global average pool,
 * FC. `aux` adds the two auxiliary classifiers (aux_head.ts, as in GoogLeNet, loss
 * weight 0.3); without them the trunk is the same graph with the same parameter names, so a seeded
 * run initialises it identically.
 */
export function buildSmallGoogLeNet(o: {
  input: readonly [number, number, number];
  classes: number;
  aux: boolean;
}): Graph {
  const b = new GraphBuilder(o.aux ? 'googlenet_small_aux' : 'googlenet_small', 'googlenet').initialise(
    'conv2d',
    KAIMING_FAN_IN,
  );
  let x: Tensor = b.input(o.input);
  x = basicConv2d(x, 'conv1', { out: 16, kernel: 3, padding: 1 });
  x = basicConv2d(x, 'conv2', { out: 16, kernel: 1 });
  x = basicConv2d(x, 'conv3', { out: 48, kernel: 3, padding: 1 });
  const tapped: (readonly [string, Tensor])[] = [];
  STAGES.forEach((modules, stage) => {
    x = maxpool2d(x, { kernel: 3, stride: 2, padding: 1, ceilMode: true }, `maxpool${stage + 2}`);
    for (const [module, [ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, poolProj], aux] of modules) {
      x = inceptionModule(x, module, { ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, poolProj });
      if (aux && o.aux) tapped.push([aux, x]);
    }
  });
  // No dropout anywhere, the heads' included: the two runs then differ in nothing but the heads'
  // gradients (the heads' own dropout masks would be noise only one run sees).
  const heads = tapped.map(([head, t]) => googlenetAux(t, head, { classes: o.classes, dropout: 0 }));
  x = flatten(adaptiveAvgpool2d(x, { output: 1 }, 'avgpool'), 'flatten');
  b.output(linear(x, { out: o.classes }, 'fc'));
  for (const head of heads) b.output(head, 'aux', 0.3);
  return b.build();
}

/** Two cosine cycles each (see training.ts `RESTART`); the full budget tests on all 10,000 test images. */
const BUDGETS: Record<Budget, TrainingBudget> = {
  quick: { train: 128, test: 64, epochs: 2, batch: 64, warmup: 0 },
  full: { train: 12000, test: 10000, epochs: 6, batch: 128, warmup: 1 },
};

/** The auxiliary heads' loss weight, the paper's ("the loss of the auxiliary classifiers was weighted by 0.3"). */
const AUX_WEIGHT = 0.3;

/** More gradient than this factor at the first layer counts as "increased gradient signal". */
const GRADIENT_BOOST = 1.1;

/** The accuracy gain GoogLeNet's own control experiments found ("around 0.5%"). */
const ACCURACY_GAIN = 0.005;

/** The L2 norm of a set of parameters' gradients, from their per-parameter norms. */
const combinedNorm = (norms: readonly number[]) => Math.sqrt(norms.reduce((s, n) => s + n * n, 0));

/** Each step's gradient norm over the conv weights of one trunk part (`conv1`, `inception3a`, ...). */
export function partGradientNorms(probes: readonly ReadonlyMap<string, number>[], part: string): number[] {
  return probes.map((values) =>
    combinedNorm(
      [...values]
        .filter(([name]) => name.startsWith(`grad_norm/${part}.`) && name.endsWith('.conv.weight'))
        .map(([, norm]) => norm),
    ),
  );
}

/** One arm's run of one seed. */
export interface AuxRun {
  readonly aux: boolean;
  /** The main head's own cross-entropy per step. */
  readonly mainLoss: readonly number[];
  /** Per step, the conv-weight gradient norm of each trunk part (in `TRUNK` order). */
  readonly gradients: readonly (readonly number[])[];
  /** Test accuracy and loss of the main head after each epoch. */
  readonly testAccuracy: readonly number[];
  readonly testLoss: readonly number[];
  readonly seconds: number;
}

export interface AuxMeasurement {
  readonly stepsPerEpoch: number;
  /** With the heads, then without. */
  readonly runs: readonly [AuxRun, AuxRun];
}

const ARMS = [
  { aux: true, label: 'with heads' },
  { aux: false, label: 'without heads' },
] as const;

async function measure(ctx: SeedContext): Promise<AuxMeasurement> {
  const b = BUDGETS[ctx.budget];
  const data = subset(ctx.data, b);
  const [c, h, w] = data.train.shape;
  const runs: AuxRun[] = [];
  for (const { aux, label } of ARMS) {
    ctx.log(`training the small GoogLeNet ${label}, seed ${ctx.seed}`);
    const graph = buildSmallGoogLeNet({ input: [c, h, w], classes: data.train.classes, aux });
    const main = graph.outputs.find((out) => out.role === 'main')!.node;
    const r = await trainRun(ctx, {
      name: graph.name,
      graph,
      data,
      epochs: b.epochs,
      batch: b.batch,
      lr: 0.1,
      warmup: b.warmup,
      auxWeight: AUX_WEIGHT,
      schedule: RESTART,
      probes: { gradNorms: true, headLosses: true },
    });
    const parts = TRUNK.map((part) => partGradientNorms(r.probes, part));
    runs.push({
      aux,
      mainLoss: r.probes.map((p) => p.get(`loss/${main}`)!),
      gradients: r.probes.map((_, i) => parts.map((part) => part[i]!)),
      testAccuracy: r.epochs.map((e) => e.testAccuracy),
      testLoss: r.epochs.map((e) => e.testLoss),
      seconds: r.seconds,
    });
  }
  return { stepsPerEpoch: Math.floor(b.train / b.batch), runs: runs as [AuxRun, AuxRun] };
}

/** The first half of the steps and epochs (see the budget's schedule: a complete run of half the budget). */
function firstHalf(m: AuxMeasurement): AuxMeasurement {
  const cut = (r: AuxRun): AuxRun => {
    const steps = Math.floor(r.mainLoss.length / 2);
    const epochs = Math.floor(r.testAccuracy.length / 2);
    return {
      ...r,
      mainLoss: r.mainLoss.slice(0, steps),
      gradients: r.gradients.slice(0, steps),
      testAccuracy: r.testAccuracy.slice(0, epochs),
      testLoss: r.testLoss.slice(0, epochs),
    };
  };
  return { ...m, runs: [cut(m.runs[0]), cut(m.runs[1])] };
}

const partSeries = (r: AuxRun, j: number) => r.gradients.map((row) => row[j]!);

/**
 * With over without, per trunk part: at the first step (identical weights and batch: the heads'
 * own contribution) and as the ratio of the mean norms over the run.
 */
export function partRatios(m: AuxMeasurement): { part: string; init: number; run: number }[] {
  const [withAux, without] = m.runs;
  return TRUNK.map((part, j) => ({
    part,
    init: withAux.gradients[0]![j]! / without.gradients[0]![j]!,
    run: mean(partSeries(withAux, j)) / mean(partSeries(without, j)),
  }));
}

export const RULES: readonly Rule[] = [
  {
    key: 'conv1-gradient',
    claim: `The auxiliary heads raise the gradient reaching the first conv layer by at least ${GRADIENT_BOOST}x over the run`,
    effect:
      "conv1's mean gradient norm over the run with the heads over that without, same seed (as a log ratio)",
    test: { kind: 'greater', threshold: Math.log(GRADIENT_BOOST) },
    format: 'ratio',
  },
  {
    key: 'test-accuracy',
    claim: `The heads raise the final test accuracy by at least the ${percent(ACCURACY_GAIN, 1)} GoogLeNet reports`,
    effect: 'final test accuracy with the heads minus that without, same seed',
    test: { kind: 'greater', threshold: ACCURACY_GAIN },
    format: 'points',
    secondary: true,
  },
];

export function effects(m: AuxMeasurement): Effects {
  const [withAux, without] = m.runs;
  return {
    'conv1-gradient': Math.log(partRatios(m)[0]!.run),
    'test-accuracy': withAux.testAccuracy.at(-1)! - without.testAccuracy.at(-1)!,
  };
}

/** Every seed's per-step main-head loss and conv1 gradient, smoothed, both arms. */
function stepFigures(input: ReportInput<AuxMeasurement>): Figure[] {
  const m0 = input.full[0]!.measurement;
  const epochs = m0.runs[0].testAccuracy.length;
  const window = smoothingWindow(m0.runs[0].mainLoss.length, epochs);
  const perStep = (values: (r: AuxRun) => readonly number[]) =>
    ARMS.flatMap((arm, k) =>
      smoothedSeedCurves(
        arm.label,
        k,
        input.full.map((s) => values(s.measurement.runs[k]!)),
        epochs,
        window,
        { dashed: !arm.aux },
      ),
    );
  return [
    {
      name: 'main-loss',
      caption: `The main head's own training cross-entropy (without the auxiliary terms), moving average over ${window} steps, every seed.`,
      svg: lineChart({
        title: "Main head's training loss, with and without auxiliary heads",
        x: 'epoch',
        y: 'main-head cross-entropy',
        series: perStep((r) => r.mainLoss),
        includeY: [0],
      }),
    },
    {
      name: 'first-layer-gradient',
      caption: `L2 norm of the loss gradient of the first conv layer's weights (conv1), moving average over ${window} steps, every seed; with the heads it includes their weighted losses' gradient.`,
      svg: lineChart({
        title: 'Gradient norm reaching the first layer (conv1)',
        x: 'epoch',
        y: 'gradient L2 norm',
        series: perStep((r) => partSeries(r, 0)),
        includeY: [0],
      }),
    },
  ];
}

/** The gradient ratio by depth (mean over seeds) and every seed's test accuracy per epoch. */
function summaryFigures(input: ReportInput<AuxMeasurement>): Figure[] {
  const attachments = STAGES.flat()
    .filter(([, , aux]) => aux)
    .map(([module]) => `${module} (part ${TRUNK.indexOf(module) + 1})`)
    .join(' and ');
  const parts = TRUNK.map((_, j) => j + 1);
  const ratios = (pick: 'init' | 'run') =>
    input.full.map((s) => partRatios(s.measurement).map((p) => p[pick]));
  return [
    {
      name: 'gradient-ratio-by-depth',
      caption: `Gradient norm with the heads over without, for each part of the trunk from input to output (its conv weights together): at the first step and as the ratio of the means over the run; geometric mean over seeds with its 95% interval. The heads attach after ${attachments}.`,
      svg: lineChart({
        title: 'Gradient norm ratio (with / without aux heads) by depth',
        x: 'trunk part (1 = conv1 ... 12 = inception5b)',
        y: 'gradient norm ratio',
        series: [
          meanWithInterval('first step', 0, parts, ratios('init'), { log: true }),
          meanWithInterval('mean over run', 1, parts, ratios('run'), { log: true }),
        ],
        includeY: [1],
      }),
    },
    {
      name: 'test-accuracy',
      caption:
        'Test accuracy of the main head (inference model, heads discarded) after each epoch, every seed.',
      svg: lineChart({
        title: 'Test accuracy after each epoch',
        x: 'epoch',
        y: 'test accuracy',
        series: ARMS.flatMap((arm, k) =>
          seedCurves(
            arm.label,
            k,
            input.full.map((s) => s.measurement.runs[k]!.testAccuracy.map((a, e) => [e + 1, a] as const)),
            { dashed: !arm.aux },
          ),
        ).map((series) => ({ ...series, markers: true })),
      }),
    },
  ];
}

function resultsTables(input: ReportInput<AuxMeasurement>): string {
  const seeds = input.full.map((s) => s.measurement);
  const firstEpoch = (r: AuxRun, m: AuxMeasurement) => mean(r.mainLoss.slice(0, m.stepsPerEpoch));
  const lastEpoch = (r: AuxRun, m: AuxMeasurement) => mean(r.mainLoss.slice(-m.stepsPerEpoch));
  const over = (k: number, f: (r: AuxRun, m: AuxMeasurement) => number, fmt: (x: number) => string) =>
    spread(
      seeds.map((m) => f(m.runs[k]!, m)),
      fmt,
    );
  const ratios = seeds.map(partRatios);
  return [
    'Per arm, over the seeds (mean ± sd [95% interval]):',
    '',
    markdownTable(
      [
        'run',
        'test accuracy (last epoch)',
        'test loss',
        'main-head train loss, first epoch',
        'main-head train loss, last epoch',
        'conv1 gradient norm, first step',
        'conv1 gradient norm, mean over run',
      ],
      ARMS.map((arm, k) => [
        arm.label,
        over(
          k,
          (r) => r.testAccuracy.at(-1)!,
          (x) => percent(x),
        ),
        over(
          k,
          (r) => r.testLoss.at(-1)!,
          (x) => x.toFixed(4),
        ),
        over(k, firstEpoch, (x) => x.toFixed(4)),
        over(k, lastEpoch, (x) => x.toFixed(4)),
        over(
          k,
          (r) => r.gradients[0]![0]!,
          (x) => x.toPrecision(4),
        ),
        over(
          k,
          (r) => mean(partSeries(r, 0)),
          (x) => x.toPrecision(4),
        ),
      ]),
    ),
    '',
    'Gradient norm with the heads over without, per part of the trunk (input to output; each part its conv weights together), geometric mean over seeds:',
    '',
    markdownTable(
      ['part', 'ratio at the first step', 'ratio of the means over the run'],
      TRUNK.map((part, j) => [
        part,
        factorSpread(ratios.map((r) => r[j]!.init)),
        factorSpread(ratios.map((r) => r[j]!.run)),
      ]),
    ),
  ].join('\n');
}

function setup(input: ReportInput<AuxMeasurement>): string {
  return [
    `A small GoogLeNet for ${input.data.train.shape.join('x')} ${input.data.name} images: a stem of 3x3 conv (16), 1x1 conv (16), 3x3 conv (48) at full resolution, then the paper's nine Inception modules (Table 1) at a quarter of their widths on 14x14, 7x7 and 4x4 maps (a stride-2 max pool before each stage), global average pooling and FC.`,
    `Every conv is followed by batch normalisation and ReLU (torchvision's BasicConv2d; the 2014 paper predates BN), with the paper's 5x5 kernels and Kaiming-normal initialisation.`,
    `The two auxiliary classifiers are GoogLeNet's (torchvision's InceptionAux: average pool to 4x4, 1x1 conv to 128, FC 1024 + ReLU, FC), after inception4a and inception4d, their losses weighted ${AUX_WEIGHT}.`,
    "Unlike GoogLeNet, no dropout (0.7 in the heads, 0.4 before the main FC): the two runs then differ in nothing but the heads' gradients; dropout in the heads would be noise only one of them sees.",
    `Each seed trains the net twice, with and without the heads: the trunk's parameters have the same names, so both runs start from identical trunk weights and see the same batches.`,
    ...trainingSetup(BUDGETS[input.budget], 0.1),
    `Each step reports the main head's own cross-entropy and the L2 norm of every parameter's loss gradient (weight decay excluded); a trunk part's gradient norm is the norm of all its conv weights' gradients together.`,
    "At the first step the two runs have the same weights and batch, so the ratio there is the heads' own contribution; later the runs' weights differ, so the ratio over the run also reflects where each run's training has gone (behind batch normalisation, a conv weight's gradient shrinks as the weight grows).",
    "The claim under test is the title's, the gradient; the accuracy gain is judged as a secondary part (GoogLeNet's own control experiments found it 'relatively minor (around 0.5%)').",
  ].join(' ');
}

function report(input: ReportInput<AuxMeasurement>) {
  const seeds = input.full.map((s) => s.measurement);
  const ratios = seeds.map((m) => partRatios(m)[0]!);
  const acc = (k: number) => seeds.map((m) => m.runs[k]!.testAccuracy.at(-1)!);
  const gap = seeds.map((m) => effects(m)['test-accuracy'] as number);
  const finding =
    `Over ${seeds.length} seeds the gradient reaching the first conv layer was ${factorSpread(ratios.map((r) => r.run))} as large with the auxiliary heads as without over the run ` +
    `(${factorSpread(ratios.map((r) => r.init))} at the first step, where the weights and the batch are the same); ` +
    `final test accuracy ${spread(acc(0), (x) => percent(x))} with the heads, ${spread(acc(1), (x) => percent(x))} without ` +
    `(paired difference ${spread(gap, (x) => `${(100 * x).toFixed(2)} points`)}).`;
  return {
    finding,
    setup: setup(input),
    results: resultsTables(input),
    figures: [...stepFigures(input), ...summaryFigures(input)],
    raw: { budget: BUDGETS[input.budget], partRatios: seeds.map(partRatios) },
  };
}

export const auxLoss: Experiment<AuxMeasurement> = registerExperiment({
  name: 'aux-loss',
  title: 'Auxiliary classifiers strengthen the gradient reaching the lower layers',
  claim:
    'GoogLeNet adds auxiliary classifiers to intermediate layers: "By adding auxiliary classifiers connected to these intermediate layers, we would expect to encourage discrimination in the lower stages in the classifier, increase the gradient signal that gets propagated back, and provide additional regularization." Their losses are "added to the total loss of the network with a discount weight (the losses of the auxiliary classifiers were weighted by 0.3)" (Szegedy et al., "Going Deeper with Convolutions", CVPR 2015, section 5). The same section adds that "later control experiments have shown that the effect of the auxiliary networks is relatively minor (around 0.5%)", and Inception v3 found that auxiliary classifiers "did not result in improved convergence early in the training" and act rather as a regulariser (Szegedy et al., "Rethinking the Inception Architecture for Computer Vision", CVPR 2016, section 4).',
  budgets: BUDGETS,
  seeds: { quick: 2, full: 5 },
  half: firstCycle(firstHalf),
  rules: RULES,
  measure,
  effects,
  report,
});
