import type { Dataset } from '../data/dataset.js';
import type { SessionOptions } from '../runtime/session.js';
import type { TrainingBackend } from '../train/backend.js';
import type { Effects, Judgement, Rule, Settled } from './judge.js';

/**
 * An experiment tests one claim of the CNN canon on real data, in three parts:
 * - measure: one seed's training runs and probes, at one budget (src/experiments/<name>.ts,
 *   through training.ts); the result is plain JSON, written per seed so a stopped experiment
 *   resumes without redoing a finished seed (runner.ts);
 * - judge: each seed's measurement reduced to the effects its rules name (`effects`, pure), and
 *   the rules applied over the seeds (judge.ts), at the full budget and at half of it;
 * - report: report.md, SVG plots and results.json (report.ts for what every report shares, the
 *   experiment's `report` for its tables and figures).
 *
 * Two budgets: `quick` (a few steps and 2 seeds, a smoke test that runs in CI) and `full` (the run
 * whose report is committed under docs/experiments/). Every seed is a paired comparison: the same
 * seed initialises every arm's shared parameters and orders every arm's batches.
 */
export type Budget = 'quick' | 'full';
export const BUDGETS: readonly Budget[] = ['quick', 'full'];

/** The budget itself, or its half (the check that the verdict is stable). */
export type Scale = 'full' | 'half';

/** What one seed's measurement runs with. */
export interface SeedContext {
  /** The data as loaded (both splits whole); experiments take their budget's subset. */
  readonly data: Dataset;
  /** The --data argument, for the report and the training configurations. */
  readonly source: string;
  readonly budget: Budget;
  /** `half` only where the half budget is a run of its own (`HalfBudget` 'rerun'). */
  readonly scale: Scale;
  readonly seed: number;
  /**
   * This seed's working folder, inside the output folder: its training runs keep their
   * checkpoints there until the seed's result is written, so a stopped seed resumes mid-run.
   */
  readonly work: string;
  /** One line of progress for the user (stderr). */
  readonly log: (line: string) => void;
  readonly session?: SessionOptions;
  /** What computes the training steps (--backend: onnxruntime's step graphs or the native oneDNN executor). */
  readonly backend: TrainingBackend;
  /** A reason to stop (a signal) or undefined; asked after every training step. */
  readonly stop: () => string | undefined;
}

/**
 * How the half budget is had: a run of its own at half the budget, or the first half of the full
 * budget's runs, when that prefix is itself a complete half-budget run (a schedule with a warm
 * restart at half way, or a constant rate).
 */
export type HalfBudget<M> =
  | { readonly kind: 'rerun'; readonly describe: string }
  | { readonly kind: 'prefix'; of(m: M): M; readonly describe: string };

/** A plot, written as `<name>.svg` beside the report. */
export interface Figure {
  readonly name: string;
  readonly caption: string;
  readonly svg: string;
}

/** One seed's measurement as stored, with the time it took (over every session that ran it). */
export interface Seeded<M> {
  readonly seed: number;
  readonly seconds: number;
  readonly measurement: M;
}

/** What an experiment's report is written from. */
export interface ReportInput<M> {
  readonly data: Dataset;
  readonly source: string;
  readonly budget: Budget;
  readonly full: readonly Seeded<M>[];
  /** The half budget's measurements (runs of their own, or prefixes of `full`). */
  readonly half: readonly Seeded<M>[];
  readonly judgement: { readonly full: Judgement; readonly half: Judgement; readonly settled: Settled };
}

/** The experiment's own part of its report; report.ts adds the verdict, rules and intervals. */
export interface ReportBody {
  /** One or two sentences: the effects that decide the verdict, with their intervals. */
  readonly finding: string;
  /** Markdown: the models, data, budget, optimiser and what was measured how. */
  readonly setup: string;
  /** Markdown: the measured numbers, as tables of mean +/- sd [95% interval]. */
  readonly results: string;
  readonly figures: readonly Figure[];
  /** The aggregated numbers for results.json (each seed's measurement is in seeds/). */
  readonly raw: unknown;
}

export interface Experiment<M> {
  readonly name: string;
  readonly title: string;
  /** The claim as the literature makes it, with its source. */
  readonly claim: string;
  /** Everything a budget sets, stored with every seed's result (a result of another plan is not reused). */
  readonly budgets: Readonly<Record<Budget, unknown>>;
  /** Seeds when --seeds is not given: more where the effect is small against the seed-to-seed spread. */
  readonly seeds: Readonly<Record<Budget, number>>;
  readonly half: HalfBudget<M>;
  /** The decision rule, declared before any number is measured (see judge.ts). */
  readonly rules: readonly Rule[];
  /** One seed: the training runs and probes (see `SeedContext`). */
  measure(ctx: SeedContext): Promise<M>;
  /** One seed's effects by rule key (pure). */
  effects(m: M): Effects;
  report(input: ReportInput<M>): ReportBody;
}
