import { GraphBuilder, type Tensor } from '../ir/builder.js';
import { ConvlabError } from '../ir/errors.js';
import type { Graph } from '../ir/graph.js';
import { conv2d } from '../ops/conv2d.js';
import { flatten } from '../ops/flatten.js';
import { l2norm } from '../ops/l2norm.js';
import { linear } from '../ops/linear.js';
import { maxpool2d } from '../ops/maxpool2d.js';
import { relu } from '../ops/relu.js';
import type { Budget, Experiment, ReportInput, SeedContext } from './experiment.js';
import { meanWithInterval, seedCurves } from './figures.js';
import type { Effects, Rule } from './judge.js';
import { lineChart } from './plot.js';
import { registerExperiment } from './registry.js';
import { factorSpread, geometricSpread, markdownTable, percent, spread } from './report.js';
import { movingAverage, variance } from './smooth.js';
import { subset, trainRun } from './training.js';

/** Output channels of the conv-ReLU-maxpool stages: 28x28 -> 14x14 -> 7x7. */
const WIDTHS = [16, 32] as const;

/**
 * A usual rate for this small net, and one five times higher, where the unnormalised net's loss
 * jumps from step to step but the net still learns (at 0.2 it collapses to chance in a few steps).
 */
const LEARNING_RATES = { usual: 0.02, high: 0.1 } as const;
const RATES = [LEARNING_RATES.usual, LEARNING_RATES.high] as const;

interface PoolBudget {
  readonly train: number;
  readonly test: number;
  readonly epochs: number;
  readonly batch: number;
  /** Fraction of the steps left out of the oscillation measure: the initial fast descent. */
  readonly settle: number;
  /** Trailing moving-average window (steps) that the residual oscillation is measured around. */
  readonly window: number;
}

const BUDGETS: Record<Budget, PoolBudget> = {
  quick: { train: 256, test: 128, epochs: 1, batch: 32, settle: 0.25, window: 3 },
  // 6 epochs: at 3 the full budget did not hold and its half was undecided (10 seeds, 2 Dec 2026).
  full: { train: 12000, test: 2000, epochs: 6, batch: 64, settle: 0.25, window: 25 },
};

/**
 * What follows each max-pool: nothing; L2 normalisation over channels alone (every position's
 * feature vector at unit length); or L2 normalisation times a learned per-channel scale, as ParseNet
 * and SSD's conv4_3_norm use it.
 */
export type Normalisation = 'none' | 'l2' | 'l2-scaled';

const VARIANTS: readonly { normalisation: Normalisation; label: string }[] = [
  { normalisation: 'none', label: 'max-pool' },
  { normalisation: 'l2', label: 'max-pool + L2' },
  { normalisation: 'l2-scaled', label: 'max-pool + L2 x scale' },
];

const KAIMING_FAN_IN = { weight: { kind: 'kaiming_normal', mode: 'fan_in' } } as const;

/**
 * conv3x3-ReLU-maxpool2x2 stages then a linear classifier, with no batch norm, so nothing else
 * evens out the scale of the features; after each max-pool, the `normalisation`. The learned scale
 * starts at sqrt(C), the length of a C-vector of unit-RMS features, so the scaled net starts with
 * features about as large as the plain net's (by the rule that SSD's 20 for 512 channels is close
 * to sqrt(512) = 22.6); the unscaled L2 norm leaves each feature about 1/sqrt(C).
 */
export function buildPoolNet(
  input: readonly [number, number, number],
  classes: number,
  normalisation: Normalisation,
): Graph {
  const b = new GraphBuilder(`maxpool_${normalisation}_net`, 'experiment').initialise(
    'conv2d',
    KAIMING_FAN_IN,
  );
  let x: Tensor = b.input(input);
  WIDTHS.forEach((width, i) => {
    const stage = i + 1;
    x = relu(conv2d(x, { out: width, kernel: 3, padding: 1 }, `conv${stage}`), `relu${stage}`);
    x = maxpool2d(x, { kernel: 2, stride: 2 }, `pool${stage}`);
    if (normalisation !== 'none') {
      const scale = normalisation === 'l2-scaled';
      x = l2norm(x, { scale, scaleInit: Math.sqrt(width) }, `pool${stage}_norm`);
    }
  });
  b.output(linear(flatten(x, 'flatten'), { out: classes }, 'fc'));
  return b.build();
}

export interface Oscillation {
  /** Steps measured: those after the settling fraction. */
  readonly steps: number;
  readonly meanLoss: number;
  /** Variance of the step-to-step change of the loss, L[t+1] - L[t], over the measured steps. */
  readonly differenceVariance: number;
  /** Variance of the loss around its trailing moving average over the measured steps. */
  readonly residualVariance: number;
  /** Standard deviation of the step-to-step change over the mean loss: oscillation relative to the loss level. */
  readonly relative: number;
}

/**
 * How much a per-step loss curve oscillates once the initial descent is over: the first `settle`
 * fraction of the steps is left out, and what remains is measured two ways: the variance of the
 * step-to-step differences (blind to the slow downward trend) and the variance of the loss around
 * its trailing moving average over `window` steps (computed over the whole curve, so the first
 * measured steps have a full window behind them).
 */
export function oscillation(losses: readonly number[], settle: number, window: number): Oscillation {
  const from = Math.floor(settle * losses.length);
  const measured = losses.slice(from);
  if (measured.length < 3) {
    throw new ConvlabError(
      `the oscillation measure needs at least 3 steps after the first ${from}, got ${measured.length}; train for more steps`,
    );
  }
  const differences = measured.slice(1).map((v, i) => v - measured[i]!);
  const average = movingAverage(losses, window).slice(from);
  const meanLoss = measured.reduce((s, v) => s + v, 0) / measured.length;
  const differenceVariance = variance(differences);
  return {
    steps: measured.length,
    meanLoss,
    differenceVariance,
    residualVariance: variance(measured.map((v, i) => v - average[i]!)),
    relative: Math.sqrt(differenceVariance) / meanLoss,
  };
}

/**
 * Whether a run learned anything: a net whose ReLUs all died sits at the chance loss ln(classes)
 * and barely moves, the least oscillating curve there is, so its oscillation must not count as
 * stability. Below 95% of the chance loss it learned.
 */
export const learned = (o: Oscillation, classes: number): boolean => o.meanLoss < 0.95 * Math.log(classes);

/** What the ratio needs of a run. */
export interface Measured {
  /** Undefined when training diverged (the loss became non-finite). */
  readonly oscillation?: Oscillation;
  /** Trained without diverging and stayed below the chance loss. */
  readonly learned: boolean;
}

/**
 * The oscillation ratio normalised / plain at one rate (below 1: the normalised net oscillates
 * less). A run that diverged or learned nothing counts as infinitely unstable, so a plain net that
 * collapsed against a normalised one that learned gives 0, and two failed runs give NaN: either
 * leaves the seed out of the interval (its log is not finite), and the report says so.
 */
export function oscillationRatio(normalised: Measured, plain: Measured): number {
  const of = (r: Measured) =>
    r.learned && r.oscillation ? r.oscillation.differenceVariance : Number.POSITIVE_INFINITY;
  return of(normalised) / of(plain);
}

/** One training run of one seed: its per-step losses and last epoch, or that it diverged. */
interface PoolRun {
  readonly normalisation: Normalisation;
  readonly lr: number;
  /** Every step's training loss (empty when the run diverged). */
  readonly losses: readonly number[];
  readonly diverged: boolean;
  /** The last epoch's training and test accuracy within the run (or its prefix). */
  readonly accuracy: number | null;
  readonly testAccuracy: number | null;
  readonly seconds: number;
}

export interface PoolMeasurement {
  readonly classes: number;
  /** Steps of a run at this budget (a half-budget prefix has half). */
  readonly steps: number;
  readonly settle: number;
  readonly window: number;
  readonly runs: readonly PoolRun[];
}

async function trainOne(ctx: SeedContext, normalisation: Normalisation, lr: number): Promise<PoolRun> {
  const b = BUDGETS[ctx.budget];
  const data = subset(ctx.data, b);
  const [c, h, w] = data.train.shape;
  const name = `${normalisation}-lr${lr}`;
  try {
    const r = await trainRun(ctx, {
      name,
      graph: buildPoolNet([c, h, w], data.train.classes, normalisation),
      data,
      epochs: b.epochs,
      batch: b.batch,
      lr,
      // A constant rate: a decaying one would damp both nets' oscillation by itself. It also makes
      // the first half of a run exactly the run half the budget would make.
      schedule: 'constant',
    });
    const last = r.epochs.at(-1)!;
    return {
      normalisation,
      lr,
      losses: r.steps.map((s) => s.loss),
      diverged: false,
      accuracy: last.accuracy,
      testAccuracy: last.testAccuracy,
      seconds: r.seconds,
    };
  } catch (e) {
    if (!(e instanceof ConvlabError && e.message.includes('diverged'))) throw e;
    ctx.log(`  ${name}: ${e.message.split(':')[0]}: diverged`);
    return { normalisation, lr, losses: [], diverged: true, accuracy: null, testAccuracy: null, seconds: 0 };
  }
}

async function measure(ctx: SeedContext): Promise<PoolMeasurement> {
  const b = BUDGETS[ctx.budget];
  const runs: PoolRun[] = [];
  for (const lr of RATES) {
    for (const { normalisation, label } of VARIANTS) {
      ctx.log(`training ${label} at lr ${lr}, seed ${ctx.seed}`);
      runs.push(await trainOne(ctx, normalisation, lr));
    }
  }
  const steps = runs.find((r) => !r.diverged)?.losses.length ?? 0;
  return { classes: ctx.data.train.classes, steps, settle: b.settle, window: b.window, runs };
}

/** The first half of every run's steps: with a constant rate, exactly the runs of half the budget. */
function firstHalf(m: PoolMeasurement): PoolMeasurement {
  const steps = Math.floor(m.steps / 2);
  return {
    ...m,
    steps,
    runs: m.runs.map((r) => ({ ...r, losses: r.losses.slice(0, steps), accuracy: null, testAccuracy: null })),
  };
}

/** A run's oscillation and whether it learned (a diverged run has neither). */
export function measured(m: PoolMeasurement, r: PoolRun): Measured {
  if (r.diverged) return { learned: false };
  const o = oscillation(r.losses, m.settle, m.window);
  return { oscillation: o, learned: learned(o, m.classes) };
}

const runOf = (m: PoolMeasurement, normalisation: Normalisation, lr: number) =>
  m.runs.find((r) => r.normalisation === normalisation && r.lr === lr)!;

/** Normalised over plain at one rate, for one seed. */
export const ratioAt = (m: PoolMeasurement, normalisation: Normalisation, lr: number): number =>
  oscillationRatio(measured(m, runOf(m, normalisation, lr)), measured(m, runOf(m, 'none', lr)));

const HIGH = LEARNING_RATES.high;
/** A cut of at least 20% counts as reducing the oscillation. */
const REDUCTION = 0.8;

const rule = (normalisation: Normalisation, label: string, lr: number): Rule => ({
  key: `${normalisation}@${lr}`,
  claim: `${label} cuts the loss oscillation at lr ${lr} by at least ${percent(1 - REDUCTION, 0)}`,
  effect: `Var(step-to-step change) with ${label} over that of max-pooling alone, same seed (as a log ratio)`,
  test: { kind: 'smaller', threshold: Math.log(REDUCTION) },
  format: 'ratio',
  ...(lr !== HIGH && { secondary: true }),
});

/** At lr 0.1, the setting the claim is about, both forms of L2 normalisation; at 0.02 for contrast. */
export const RULES: readonly Rule[] = RATES.slice()
  .reverse()
  .flatMap((lr) => [rule('l2', 'L2 normalisation', lr), rule('l2-scaled', 'L2 normalisation x scale', lr)]);

export function effects(m: PoolMeasurement): Effects {
  return Object.fromEntries(
    RULES.map((r) => {
      const [normalisation, lr] = r.key.split('@') as [Normalisation, string];
      return [r.key, Math.log(ratioAt(m, normalisation, Number(lr)))];
    }),
  );
}

/** Every seed's per-step loss at one rate, three arms: thin lines, log scale. */
function lossFigure(input: ReportInput<PoolMeasurement>, lr: number) {
  const settle = input.full[0]!.measurement.settle;
  return {
    name: `training-loss-lr${lr}`,
    caption: `Training loss at every step (log scale), lr ${lr} (constant), every seed a thin line; within a seed all nets see the same batches in the same order. The oscillation is measured after the first ${percent(settle, 0)} of the steps.`,
    svg: lineChart({
      title: `Per-step training loss, lr ${lr}`,
      x: 'step',
      y: 'training loss (batch mean)',
      series: VARIANTS.flatMap(({ normalisation, label }, colour) =>
        seedCurves(
          label,
          colour,
          input.full.map((s) =>
            runOf(s.measurement, normalisation, lr).losses.map((loss, i) => [i + 1, loss] as const),
          ),
          { dashed: normalisation === 'none' },
        ),
      ),
      // The scaled net's first steps reach losses far above the others' oscillation.
      logY: true,
    }),
  };
}

function oscillationFigure(input: ReportInput<PoolMeasurement>) {
  return {
    name: 'oscillation',
    caption:
      'Oscillation after the settling steps, each net at each learning rate: the variance of the step-to-step change of the training loss, geometric mean over seeds with its 95% interval (seeds where a run diverged are left out).',
    svg: lineChart({
      title: 'Loss oscillation by learning rate',
      x: 'learning rate',
      y: 'Var(L[t+1] - L[t])',
      series: VARIANTS.map(({ normalisation, label }, colour) =>
        meanWithInterval(
          label,
          colour,
          RATES,
          input.full.map((s) =>
            RATES.map(
              (lr) =>
                measured(s.measurement, runOf(s.measurement, normalisation, lr)).oscillation
                  ?.differenceVariance ?? Number.NaN,
            ),
          ),
          { log: true, dashed: normalisation === 'none', markers: true },
        ),
      ),
      logY: true,
    }),
  };
}

function resultsTable(input: ReportInput<PoolMeasurement>): string {
  const of = (normalisation: Normalisation, lr: number, pick: (o: Oscillation, r: PoolRun) => number) =>
    input.full.map((s) => {
      const r = runOf(s.measurement, normalisation, lr);
      const o = measured(s.measurement, r).oscillation;
      return o ? pick(o, r) : Number.NaN;
    });
  return markdownTable(
    [
      'net',
      'lr',
      'Var(step-to-step change)',
      'std of change / mean loss',
      'mean loss (measured steps)',
      'test accuracy (last epoch)',
      'diverged or learned nothing',
    ],
    RATES.flatMap((lr) =>
      VARIANTS.map(({ normalisation, label }) => [
        label,
        lr,
        geometricSpread(
          of(normalisation, lr, (o) => o.differenceVariance),
          (x) => x.toPrecision(3),
        ),
        spread(
          of(normalisation, lr, (o) => o.relative),
          (x) => x.toFixed(3),
        ),
        spread(
          of(normalisation, lr, (o) => o.meanLoss),
          (x) => x.toFixed(4),
        ),
        spread(
          of(normalisation, lr, (_, r) => r.testAccuracy ?? Number.NaN),
          (x) => percent(x),
        ),
        `${input.full.filter((s) => !measured(s.measurement, runOf(s.measurement, normalisation, lr)).learned).length} of ${input.full.length} seeds`,
      ]),
    ),
  );
}

function setup(input: ReportInput<PoolMeasurement>): string {
  const b = BUDGETS[input.budget];
  const m = input.full[0]!.measurement;
  return [
    `Three nets for ${input.data.train.shape.join('x')} ${input.data.name} images, identical but for what follows each max-pool: two stages of 3x3 conv (${WIDTHS.join(' and ')} channels, padding 1), ReLU and 2x2 max-pooling (28 -> 14 -> 7), then flatten and a linear classifier; no batch norm, so nothing else evens out the scale of the features.`,
    `The normalised nets put convlab's \`l2norm\` op after each max-pool: x / ||x|| over channels at every position (\`scale: false\`, features of unit length, about 1/sqrt(C) each), or that times a learned per-channel scale (\`scale: true\`) as ParseNet and SSD's conv4_3_norm do, initialised to sqrt(C) (${WIDTHS.map((wd) => Math.sqrt(wd).toFixed(2)).join(' and ')}) so the features keep about the plain net's magnitude, by the rule that puts SSD's 20 near sqrt(512).`,
    `Data: the first ${b.train} training and ${b.test} test images, no augmentation. Training: ${b.epochs} epoch${b.epochs === 1 ? '' : 's'} of batch ${b.batch} (${m.steps} steps), SGD with Nesterov momentum 0.9 and weight decay 5e-4 at a constant learning rate (a decaying one would damp every net's oscillation by itself), Kaiming-normal conv initialisation; within a seed every net sees the same batches in the same order, so the batch-to-batch part of the noise is shared.`,
    `Two learning rates: ${LEARNING_RATES.usual}, a usual rate for this net, and ${HIGH}, five times higher, where the plain net's loss oscillates but it still learns (at 0.2 it collapses to chance within a few steps); the verdict is taken at ${HIGH}, the setting the claim is about.`,
    `Oscillation is measured on every step's training loss after the first ${percent(b.settle, 0)} of the steps (the initial descent): the variance of the step-to-step change L[t+1] - L[t] (the rule's measure), and the standard deviation of the change over the mean loss (which corrects for a net that simply sits at a different loss). A run whose loss stays above 95% of the chance loss ln(${m.classes}) learned nothing and counts as unstable, whatever its oscillation.`,
  ].join(' ');
}

function report(input: ReportInput<PoolMeasurement>) {
  const parts = input.judgement.full.parts;
  const at = (key: string) => factorSpread(parts.find((p) => p.rule.key === key)!.values.map(Math.exp));
  const finding =
    `At lr ${HIGH}, the variance of the step-to-step change of the training loss with L2 normalisation after each max-pool was ${at(`l2@${HIGH}`)} ` +
    `that of max-pooling alone, and with L2 normalisation times a learned scale ${at(`l2-scaled@${HIGH}`)} (geometric means over ${input.full.length} seeds, 95% intervals); ` +
    `at lr ${LEARNING_RATES.usual}, ${at(`l2@${LEARNING_RATES.usual}`)} and ${at(`l2-scaled@${LEARNING_RATES.usual}`)}.`;
  return {
    finding,
    setup: setup(input),
    results: [
      'Per net and rate, over the seeds (mean ± sd [95% interval]; the variance as a geometric mean):',
      '',
      resultsTable(input),
    ].join('\n'),
    figures: [lossFigure(input, HIGH), lossFigure(input, LEARNING_RATES.usual), oscillationFigure(input)],
    raw: {
      budget: BUDGETS[input.budget],
      effects: input.full.map((s) => ({ seed: s.seed, ...effects(s.measurement) })),
    },
  };
}

export const maxpoolL2norm: Experiment<PoolMeasurement> = registerExperiment({
  name: 'maxpool-l2norm',
  title: 'L2 normalisation after max-pooling reduces training-loss oscillation',
  claim:
    '"L2 normalisation after max-pooling reduces training-loss oscillation" (the claim as convlab issue #8 states it). Its source is ParseNet (Liu, Rabinovich and Berg, "ParseNet: Looking Wider to See Better", arXiv 2015 / ICLR 2016 workshop, section 3.3), in paraphrase: features taken from different layers have very different scales, so combining them unnormalised lets the largest dominate and makes training hard to keep stable; L2-normalising each feature vector over channels, with a learned per-channel scale, makes training more stable. SSD (Liu et al. 2016) normalises its pooled conv4_3 features the same way, with the scale initialised to 20.',
  budgets: BUDGETS,
  seeds: { quick: 2, full: 10 },
  half: {
    kind: 'prefix',
    of: firstHalf,
    describe: 'the first half of every run: at a constant rate, step for step the run half the budget makes',
  },
  rules: RULES,
  measure,
  effects,
  report,
});
