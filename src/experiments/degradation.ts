import { buildCifarResNet } from '../zoo/resnet_cifar.js';
import type { Budget, Experiment, Figure, ReportInput, SeedContext } from './experiment.js';
import { seedCurves, smoothedSeedCurves, smoothingWindow } from './figures.js';
import type { Effects, Rule } from './judge.js';
import { lineChart } from './plot.js';
import { registerExperiment } from './registry.js';
import { markdownTable, percent, spread } from './report.js';
import { type Summary, summarise } from './stats.js';
import { firstCycle, RESTART, subset, type TrainingBudget, trainingSetup, trainRun } from './training.js';

/** The four arms of the ResNet paper's Fig. 6 comparison: plain and residual, each at two depths. */
const ARMS = ['plain-shallow', 'plain-deep', 'resnet-shallow', 'resnet-deep'] as const;
type Arm = (typeof ARMS)[number];

interface DegradationBudget extends TrainingBudget {
  /** The two depths, 6n + 2: the paper's 20 and 56 in full; 8 and 14 for the quick smoke test. */
  readonly depths: readonly [number, number];
}

/**
 * The full budget trains on every training image: two cosine cycles of 5 epochs (4,680 steps of
 * 128), each annealed to a learning rate of 0. Whether the training error has plateaued by then
 * the report measures rather than assumes (`plateauTable`).
 */
const BUDGETS: Record<Budget, DegradationBudget> = {
  quick: { train: 128, test: 64, epochs: 2, batch: 64, warmup: 0, depths: [8, 14] },
  full: { train: 60000, test: 10000, epochs: 10, batch: 128, warmup: 1, depths: [20, 56] },
};

/** The arm's net at this budget: 'plain20', 'resnet56', ... */
const modelOf = (arm: Arm, b: DegradationBudget) =>
  `${arm.startsWith('plain') ? 'plain' : 'resnet'}${b.depths[arm.endsWith('shallow') ? 0 : 1]}`;

/** A difference in training error of this much (0.5 points) is the smallest that counts. */
const MEANINGFUL = 0.005;

/** One net's run of one seed: every step's training errors, and each epoch's figures. */
export interface NetRun {
  readonly arm: Arm;
  readonly model: string;
  /** Misclassified images of each step's batch, in training mode, before the step's update (the paper's measure). */
  readonly wrong: readonly number[];
  /** Per epoch: the training error over its steps, the test error and the mean training loss. */
  readonly trainError: readonly number[];
  readonly testError: readonly number[];
  readonly loss: readonly number[];
  readonly seconds: number;
}

export interface DegradationMeasurement {
  readonly batch: number;
  readonly runs: readonly NetRun[];
}

async function measure(ctx: SeedContext): Promise<DegradationMeasurement> {
  const b = BUDGETS[ctx.budget];
  const data = subset(ctx.data, b);
  const [c, h, w] = data.train.shape;
  const runs: NetRun[] = [];
  for (const arm of ARMS) {
    const model = modelOf(arm, b);
    ctx.log(`training ${model}, seed ${ctx.seed}`);
    const plain = arm.startsWith('plain');
    const graph = buildCifarResNet(
      model,
      plain ? 'plain' : 'resnet_cifar',
      (Number(model.replace(/\D+/, '')) - 2) / 6,
      plain ? 'none' : 'zero-pad',
      {
        input: [c, h, w],
        classes: data.train.classes,
        aux: false,
      },
    );
    const r = await trainRun(ctx, {
      name: model,
      graph,
      data,
      epochs: b.epochs,
      batch: b.batch,
      lr: 0.1,
      warmup: b.warmup,
      schedule: RESTART,
    });
    runs.push({
      arm,
      model,
      wrong: r.steps.map((s) => Math.round((1 - s.accuracy) * b.batch)),
      trainError: r.epochs.map((e) => 1 - e.accuracy),
      testError: r.epochs.map((e) => 1 - e.testAccuracy),
      loss: r.epochs.map((e) => e.loss),
      seconds: r.seconds,
    });
  }
  return { batch: b.batch, runs };
}

/** The first half of every run's steps and epochs (see the budget's schedule). */
function firstHalf(m: DegradationMeasurement): DegradationMeasurement {
  return {
    ...m,
    runs: m.runs.map((r) => {
      const epochs = Math.floor(r.trainError.length / 2);
      return {
        ...r,
        wrong: r.wrong.slice(0, Math.floor(r.wrong.length / 2)),
        trainError: r.trainError.slice(0, epochs),
        testError: r.testError.slice(0, epochs),
        loss: r.loss.slice(0, epochs),
      };
    }),
  };
}

const runOf = (m: DegradationMeasurement, arm: Arm) => m.runs.find((r) => r.arm === arm)!;
/** The last epoch's training error: the mean over its steps, as the paper's curves end. */
export const finalTrainError = (m: DegradationMeasurement, arm: Arm): number =>
  runOf(m, arm).trainError.at(-1)!;

const points = (x: number) => `${(100 * x).toFixed(1)} points`;

export const RULES: readonly Rule[] = [
  {
    key: 'degradation',
    claim: `The deeper plain net trains worse: plain56's training error exceeds plain20's by at least ${points(MEANINGFUL)}`,
    effect:
      "plain56's final training error minus plain20's, same seed (the quick budget's depths 14 and 8 stand in)",
    test: { kind: 'greater', threshold: MEANINGFUL },
    format: 'points',
  },
  {
    key: 'shortcuts-fix',
    claim: `Shortcuts remove it: resnet56 trains better than plain56 by at least ${points(MEANINGFUL)}`,
    effect: "plain56's final training error minus resnet56's, same seed",
    test: { kind: 'greater', threshold: MEANINGFUL },
    format: 'points',
  },
  {
    key: 'deeper-resnet',
    claim: `With shortcuts the deeper net trains no worse: resnet56's training error stays within ${points(MEANINGFUL)} above resnet20's`,
    effect: "resnet56's final training error minus resnet20's, same seed",
    test: { kind: 'not-greater', threshold: MEANINGFUL },
    format: 'points',
  },
];

export function effects(m: DegradationMeasurement): Effects {
  const e = (arm: Arm) => finalTrainError(m, arm);
  return {
    degradation: e('plain-deep') - e('plain-shallow'),
    'shortcuts-fix': e('plain-deep') - e('resnet-deep'),
    'deeper-resnet': e('resnet-deep') - e('resnet-shallow'),
  };
}

function figures(input: ReportInput<DegradationMeasurement>): Figure[] {
  const m0 = input.full[0]!.measurement;
  const steps = m0.runs[0]!.wrong.length;
  const epochs = m0.runs[0]!.trainError.length;
  const window = smoothingWindow(steps, epochs);
  const curves = (arm: Arm, pick: (r: NetRun) => (readonly [number, number])[]) =>
    input.full.map((s) => pick(runOf(s.measurement, arm)));
  const label = (arm: Arm) => runOf(m0, arm).model;
  return [
    {
      name: 'training-error',
      caption: `Training error against epochs (moving average over ${window} steps of each step's batch, in training mode), every seed a thin line; dashed: plain nets, solid: ResNets (cf. He et al. 2015, Fig. 6).`,
      svg: lineChart({
        title: `Training error: plain vs residual, ${label('plain-shallow').slice(5)} vs ${label('plain-deep').slice(5)} layers`,
        x: 'epoch',
        y: 'training error',
        series: ARMS.flatMap((arm, k) =>
          smoothedSeedCurves(
            label(arm),
            k,
            input.full.map((s) => runOf(s.measurement, arm).wrong.map((n) => n / m0.batch)),
            epochs,
            window,
            { dashed: arm.startsWith('plain') },
          ),
        ),
        includeY: [0],
      }),
    },
    {
      name: 'test-error',
      caption: 'Test error after each epoch, every seed.',
      svg: lineChart({
        title: 'Test error after each epoch',
        x: 'epoch',
        y: 'test error',
        series: ARMS.flatMap((arm, k) =>
          seedCurves(
            label(arm),
            k,
            curves(arm, (r) => r.testError.map((e, i) => [i + 1, e] as const)),
            { dashed: arm.startsWith('plain') },
          ).map((series) => ({ ...series, markers: true })),
        ),
        includeY: [0],
      }),
    },
  ];
}

/**
 * Whether the training error has plateaued: what the second cosine cycle (doubling the budget)
 * changed in each net's final training error, paired by seed.
 */
function plateauTable(input: ReportInput<DegradationMeasurement>): string {
  const pct = (x: number) => percent(x);
  const pts = (x: number) => `${(100 * x).toFixed(2)} points`;
  const at = (seeds: readonly { measurement: DegradationMeasurement }[], arm: Arm) =>
    seeds.map((s) => finalTrainError(s.measurement, arm));
  const arms = ARMS.map((arm) => {
    const [half, full] = [at(input.half, arm), at(input.full, arm)];
    return { arm, half, full, change: full.map((f, i) => f - half[i]!) };
  });
  return [
    'Has the training error plateaued? Each net at the end of the first cycle (the half budget) and of the second, and what the second cycle changed (paired by seed, mean ± sd [95% interval]):',
    '',
    markdownTable(
      ['model', 'half budget', 'full budget', 'change from doubling the budget'],
      arms.map(({ arm, half, full, change }) => [
        runOf(input.full[0]!.measurement, arm).model,
        spread(half, pct),
        spread(full, pct),
        spread(change, pts),
      ]),
    ),
    '',
    plateauVerdict(arms.map(({ change }) => summarise(change))),
  ].join('\n');
}

/** The plateau table in words: did doubling the budget still move any net by a meaningful amount? */
function plateauVerdict(changes: readonly Summary[]): string {
  const pts = (x: number) => `${(100 * Math.abs(x)).toFixed(2)} points`;
  const moved = changes.filter((c) => c.hi <= -MEANINGFUL || c.lo >= MEANINGFUL);
  if (moved.length === 0) {
    return `Doubling the budget changed no net's final training error by as much as ${pts(MEANINGFUL)} (the intervals reach inside it): the training error has plateaued.`;
  }
  const sizes = moved.map((c) => Math.abs(c.mean));
  return `Doubling the budget still changed ${moved.length} of ${changes.length} nets' final training error by more than ${pts(MEANINGFUL)} (${pts(Math.min(...sizes))} to ${pts(Math.max(...sizes))} on average): the training error has not plateaued at this budget. The claim compares the nets at equal budgets; the half-budget check above says whether that comparison changes with the budget.`;
}

function resultsTables(input: ReportInput<DegradationMeasurement>): string {
  const seeds = input.full.map((s) => s.measurement);
  const over = (arm: Arm, pick: (r: NetRun) => number, fmt: (x: number) => string) =>
    spread(
      seeds.map((m) => pick(runOf(m, arm))),
      fmt,
    );
  const model = (arm: Arm) => runOf(seeds[0]!, arm).model;
  const epochs = seeds[0]!.runs[0]!.trainError.length;
  const pct = (x: number) => percent(x);
  return [
    'Per net, over the seeds (mean ± sd [95% interval]):',
    '',
    markdownTable(
      [
        'model',
        'shortcuts',
        'train error (last epoch)',
        'test error',
        'train loss (last epoch)',
        'time, each seed',
      ],
      ARMS.map((arm) => [
        model(arm),
        arm.startsWith('plain') ? 'none' : 'identity (option A)',
        over(arm, (r) => r.trainError.at(-1)!, pct),
        over(arm, (r) => r.testError.at(-1)!, pct),
        over(
          arm,
          (r) => r.loss.at(-1)!,
          (x) => x.toFixed(4),
        ),
        // Each seed's time rather than a spread: a paused or shared machine skews one seed, not all.
        seeds.map((m) => `${runOf(m, arm).seconds.toFixed(0)} s`).join(', '),
      ]),
    ),
    '',
    plateauTable(input),
    '',
    'Training error per epoch, mean over the seeds (each seed in brackets):',
    '',
    markdownTable(
      ['epoch', ...ARMS.map(model)],
      Array.from({ length: epochs }, (_, i) => [
        i + 1,
        ...ARMS.map((arm) => {
          const values = seeds.map((m) => runOf(m, arm).trainError[i]!);
          return `${percent(values.reduce((s, v) => s + v, 0) / values.length)} (${values.map((v) => percent(v, 1)).join(', ')})`;
        }),
      ]),
    ),
  ].join('\n');
}

function setup(input: ReportInput<DegradationMeasurement>): string {
  return [
    `The CIFAR-10 networks of He et al. 2015 (section 4.2: a 3x3 conv to 16 channels, three stages of n basic blocks at 16/32/64 channels, global average pooling, FC; 6n+2 layers; ${BUDGETS[input.budget].depths.join(' and ')} layers here), built for ${input.data.train.shape.join('x')} ${input.data.name} images.`,
    "The plain nets are the same networks without shortcuts; the ResNets use the paper's option A (identity shortcuts, zero-padded where the width doubles), so each plain net and its residual twin have exactly the same parameters, and one seed gives all four nets their batches in the same order.",
    ...trainingSetup(BUDGETS[input.budget], 0.1),
    "Training error is measured as the paper plots it: each step's batch, in training mode, before the step's update; a run's final training error is the mean over its last epoch's steps.",
  ].join(' ');
}

function report(input: ReportInput<DegradationMeasurement>) {
  const seeds = input.full.map((s) => s.measurement);
  const final = (arm: Arm) => seeds.map((m) => finalTrainError(m, arm));
  const at = (arm: Arm) => `${runOf(seeds[0]!, arm).model} ${spread(final(arm), (x) => percent(x))}`;
  const finding = `Final-epoch training error over ${seeds.length} seeds (mean ± sd [95% interval]): ${ARMS.map(at).join(', ')}.`;
  return {
    finding,
    setup: setup(input),
    results: resultsTables(input),
    figures: figures(input),
    raw: {
      budget: BUDGETS[input.budget],
      finalTrainError: Object.fromEntries(ARMS.map((arm) => [runOf(seeds[0]!, arm).model, final(arm)])),
    },
  };
}

export const degradation: Experiment<DegradationMeasurement> = registerExperiment({
  name: 'degradation',
  title: 'Deeper plain nets train worse; residual connections fix it',
  claim:
    '"When deeper networks are able to start converging, a degradation problem has been exposed: with the network depth increasing, accuracy gets saturated and then degrades rapidly. Unexpectedly, such degradation is not caused by overfitting, and adding more layers to a suitably deep model leads to higher training error." With identity shortcuts, "the 34-layer ResNet is better than the 18-layer ResNet" and the degradation is addressed (He, Zhang, Ren and Sun, "Deep Residual Learning for Image Recognition", CVPR 2016, section 1 and Fig. 6 on CIFAR-10: plain-56 trains worse than plain-20; ResNet-56 better than ResNet-20).',
  budgets: BUDGETS,
  seeds: { quick: 2, full: 3 },
  half: firstCycle(firstHalf),
  rules: RULES,
  measure,
  effects,
  report,
});
