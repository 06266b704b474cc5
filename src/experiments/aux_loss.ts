import { googlenetAux } from '../blocks/aux_head.js';
import { basicConv2d, inceptionModule } from '../blocks/inception.js';
import { GraphBuilder, type Tensor } from '../ir/builder.js';
import type { Graph } from '../ir/graph.js';
import { adaptiveAvgpool2d } from '../ops/adaptive_avgpool2d.js';
import { flatten } from '../ops/flatten.js';
import { linear } from '../ops/linear.js';
import { maxpool2d } from '../ops/maxpool2d.js';
import type { Budget, ExperimentContext, Figure, Outcome, Verdict } from './experiment.js';
import { lineChart } from './plot.js';
import { registerExperiment } from './registry.js';
import { markdownTable, percent } from './report.js';
import { movingAverage } from './smooth.js';
import { type RunResult, subset, type TrainingBudget, trainingSetup, trainRun } from './training.js';

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

const BUDGETS: Record<Budget, TrainingBudget> = {
  quick: { train: 256, test: 128, epochs: 1, batch: 64, warmup: 0 },
  full: { train: 6000, test: 2000, epochs: 5, batch: 128, warmup: 1 },
};

/** The auxiliary heads' loss weight, the paper's ("the loss of the auxiliary classifiers was weighted by 0.3"). */
const AUX_WEIGHT = 0.3;

/** More gradient than this factor at the first layer counts as "increased gradient signal". */
const GRADIENT_BOOST = 1.1;

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

const mean = (values: readonly number[]) => values.reduce((s, v) => s + v, 0) / values.length;

/**
 * Two test accuracies differ measurably when they are further apart than twice the binomial
 * standard error of their difference on `n` test images.
 */
export function accuracyNoise(accuracy: number, n: number): number {
  return 2 * Math.sqrt((2 * accuracy * (1 - accuracy)) / n);
}

interface Run extends RunResult {
  readonly aux: boolean;
  readonly label: string;
  /** The main head's own cross-entropy per step. */
  readonly mainLoss: readonly number[];
  /** Per trunk part, its conv weights' gradient norm per step. */
  readonly gradients: ReadonlyMap<string, readonly number[]>;
}

async function run(ctx: ExperimentContext): Promise<Outcome> {
  const b = BUDGETS[ctx.budget];
  const data = subset(ctx.data, b);
  const [c, h, w] = data.train.shape;
  const runs: Run[] = [];
  for (const aux of [true, false]) {
    const label = aux ? 'with heads' : 'without heads';
    ctx.log(`training the small GoogLeNet ${label}`);
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
      probes: { gradNorms: true, headLosses: true },
    });
    runs.push({
      ...r,
      aux,
      label,
      mainLoss: r.probes.map((p) => p.get(`loss/${main}`)!),
      gradients: new Map(TRUNK.map((part) => [part, partGradientNorms(r.probes, part)])),
    });
  }
  const [withAux, withoutAux] = runs as [Run, Run];
  const steps = withAux.steps.length;

  // The first layer's gradient: at the first step (identical weights and batch: the heads' own
  // contribution) and over the run (the ratio of the mean norms).
  const first = (r: Run) => r.gradients.get('conv1')!;
  const ratioAtInit = first(withAux)[0]! / first(withoutAux)[0]!;
  const ratioOverRun = mean(first(withAux)) / mean(first(withoutAux));
  const partRatio = TRUNK.map((part) => ({
    part,
    init: withAux.gradients.get(part)![0]! / withoutAux.gradients.get(part)![0]!,
    run: mean(withAux.gradients.get(part)!) / mean(withoutAux.gradients.get(part)!),
  }));

  const lastEpoch = (r: Run) => r.epochs.at(-1)!;
  const accuracyGap = lastEpoch(withAux).testAccuracy - lastEpoch(withoutAux).testAccuracy;
  const noise = accuracyNoise(lastEpoch(withoutAux).testAccuracy, data.test.count);
  const epochSteps = Math.ceil(steps / b.epochs);
  const lastEpochMainLoss = (r: Run) => mean(r.mainLoss.slice(-epochSteps));
  const firstEpochMainLoss = (r: Run) => mean(r.mainLoss.slice(0, epochSteps));

  const boosted = ratioOverRun >= GRADIENT_BOOST;
  const verdict: Verdict = !boosted
    ? 'did not hold'
    : accuracyGap > noise
      ? 'held'
      : accuracyGap < -noise
        ? 'did not hold'
        : 'inconclusive';
  const accuracyText =
    `final test accuracy ${percent(lastEpoch(withAux).testAccuracy)} with the heads, ` +
    `${percent(lastEpoch(withoutAux).testAccuracy)} without (difference ${(100 * accuracyGap).toFixed(2)} points; ` +
    `differences under ${(100 * noise).toFixed(2)} points are within the noise of ${data.test.count} test images)`;
  const finding =
    `The gradient reaching the first conv layer was ${ratioOverRun.toFixed(2)}x as large with the auxiliary heads as without ` +
    `over the run (${ratioAtInit.toFixed(2)}x at the first step, where the weights and the batch are the same), ` +
    `${boosted ? 'so the heads do add gradient signal near the input' : `under the ${GRADIENT_BOOST}x that would count as more gradient signal`}; ` +
    `${accuracyText}; the main head's own training loss over the last epoch was ` +
    `${lastEpochMainLoss(withAux).toFixed(4)} with and ${lastEpochMainLoss(withoutAux).toFixed(4)} without.`;

  const window = Math.max(1, Math.round(steps / (6 * b.epochs)));
  const attachments = STAGES.flat()
    .filter(([, , aux]) => aux)
    .map(([module]) => `${module} (part ${TRUNK.indexOf(module) + 1})`)
    .join(' and ');
  const perStep = (values: (r: Run) => readonly number[]) =>
    runs.map((r) => ({
      label: r.label,
      dashed: !r.aux,
      markers: false,
      points: movingAverage(values(r), window).map((v, i) => [((i + 1) / steps) * b.epochs, v] as const),
    }));
  const figures: Figure[] = [
    {
      name: 'main-loss',
      caption: `The main head's own training cross-entropy (without the auxiliary terms), moving average over ${window} steps.`,
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
      caption: `L2 norm of the loss gradient of the first conv layer's weights (conv1), moving average over ${window} steps; with the heads it includes their weighted losses' gradient.`,
      svg: lineChart({
        title: 'Gradient norm reaching the first layer (conv1)',
        x: 'epoch',
        y: 'gradient L2 norm',
        series: perStep((r) => r.gradients.get('conv1')!),
        includeY: [0],
      }),
    },
    {
      name: 'gradient-ratio-by-depth',
      caption: `Gradient norm with the heads over without, for each part of the trunk from input to output (its conv weights together): at the first step and as the ratio of the means over the run. The heads attach after ${attachments}.`,
      svg: lineChart({
        title: 'Gradient norm ratio (with / without aux heads) by depth',
        x: 'trunk part (1 = conv1 ... 12 = inception5b)',
        y: 'gradient norm ratio',
        series: [
          { label: 'first step', points: partRatio.map((p, i) => [i + 1, p.init] as const) },
          { label: 'mean over run', points: partRatio.map((p, i) => [i + 1, p.run] as const) },
        ],
        includeY: [1],
      }),
    },
    {
      name: 'test-accuracy',
      caption: 'Test accuracy of the main head (inference model, heads discarded) after each epoch.',
      svg: lineChart({
        title: 'Test accuracy after each epoch',
        x: 'epoch',
        y: 'test accuracy',
        series: runs.map((r) => ({
          label: r.label,
          dashed: !r.aux,
          points: r.epochs.map((e) => [e.epoch, e.testAccuracy] as const),
        })),
      }),
    },
  ];

  const results = [
    markdownTable(
      [
        'run',
        'test accuracy (last epoch)',
        'test loss',
        'main-head train loss, first epoch',
        'main-head train loss, last epoch',
        'conv1 gradient norm, first step',
        'conv1 gradient norm, mean over run',
        'time',
      ],
      runs.map((r) => [
        r.label,
        percent(lastEpoch(r).testAccuracy),
        lastEpoch(r).testLoss.toFixed(4),
        firstEpochMainLoss(r).toFixed(4),
        lastEpochMainLoss(r).toFixed(4),
        first(r)[0]!.toPrecision(4),
        mean(first(r)).toPrecision(4),
        `${r.seconds.toFixed(0)} s`,
      ]),
    ),
    '',
    'Test accuracy after each epoch:',
    '',
    markdownTable(
      ['epoch', ...runs.map((r) => r.label)],
      withAux.epochs.map((e, i) => [e.epoch, ...runs.map((r) => percent(r.epochs[i]!.testAccuracy))]),
    ),
    '',
    'Gradient norm with the heads over without, per part of the trunk (input to output; each part its conv weights together):',
    '',
    markdownTable(
      ['part', 'ratio at the first step', 'ratio of the means over the run'],
      partRatio.map((p) => [p.part, p.init.toFixed(3), p.run.toFixed(3)]),
    ),
  ].join('\n');

  const setup = [
    `A small GoogLeNet for ${data.train.shape.join('x')} ${ctx.data.name} images: a stem of 3x3 conv (16), 1x1 conv (16), 3x3 conv (48) at full resolution, then the paper's nine Inception modules (Table 1) at a quarter of their widths on 14x14, 7x7 and 4x4 maps (a stride-2 max pool before each stage), global average pooling and FC.`,
    `Every conv is followed by batch normalisation and ReLU (torchvision's BasicConv2d; the 2014 paper predates BN), with the paper's 5x5 kernels and Kaiming-normal initialisation.`,
    `The two auxiliary classifiers are GoogLeNet's (torchvision's InceptionAux: average pool to 4x4, 1x1 conv to 128, FC 1024 + ReLU, FC), after inception4a and inception4d, their losses weighted ${AUX_WEIGHT}.`,
    "Unlike GoogLeNet, no dropout (0.7 in the heads, 0.4 before the main FC): the two runs then differ in nothing but the heads' gradients; dropout in the heads would be noise only one of them sees.",
    `The net is trained twice with the same seed, with and without the heads: the trunk's parameters have the same names, so both runs start from identical trunk weights and see the same batches.`,
    ...trainingSetup(data, b, 0.1),
    `Each step reports the main head's own cross-entropy and the L2 norm of every parameter's loss gradient (weight decay excluded); a trunk part's gradient norm is the norm of all its conv weights' gradients together.`,
    "At the first step the two runs have the same weights and batch, so the ratio there is the heads' own contribution; later the runs' weights differ, so the ratio over the run also reflects where each run's training has gone (behind batch normalisation, a conv weight's gradient shrinks as the weight grows).",
    `The claim counts as held when the first conv layer gets at least ${GRADIENT_BOOST}x the gradient over the run and the final test accuracy is higher by more than twice the binomial standard error of the difference; as not held when the gradient is not boosted or the accuracy is lower by that much; otherwise inconclusive.`,
  ].join(' ');

  return {
    verdict,
    finding,
    setup,
    results,
    figures,
    raw: {
      ratioAtInit,
      ratioOverRun,
      accuracyGap,
      accuracyNoise: noise,
      partRatio,
      runs: runs.map((r) => ({
        aux: r.aux,
        seconds: r.seconds,
        epochs: r.epochs,
        steps: r.steps.map((s, i) => ({
          step: s.step,
          loss: s.loss,
          mainLoss: r.mainLoss[i],
          accuracy: s.accuracy,
          lr: s.lr,
          gradientNorm: Object.fromEntries(TRUNK.map((part) => [part, r.gradients.get(part)![i]])),
        })),
      })),
    },
  };
}

registerExperiment({
  name: 'aux-loss',
  title: 'Auxiliary classifiers strengthen the gradient reaching the lower layers',
  claim:
    'GoogLeNet adds auxiliary classifiers to intermediate layers: "By adding auxiliary classifiers connected to these intermediate layers, we would expect to encourage discrimination in the lower stages in the classifier, increase the gradient signal that gets propagated back, and provide additional regularization." Their losses are "added to the total loss of the network with a discount weight (the losses of the auxiliary classifiers were weighted by 0.3)" (Szegedy et al., "Going Deeper with Convolutions", CVPR 2015, section 5). The same section adds that "later control experiments have shown that the effect of the auxiliary networks is relatively minor (around 0.5%)", and Inception v3 found that auxiliary classifiers "did not result in improved convergence early in the training" and act rather as a regulariser (Szegedy et al., "Rethinking the Inception Architecture for Computer Vision", CVPR 2016, section 4).',
  run,
});
