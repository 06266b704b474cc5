import type { Dataset } from '../data/dataset.js';
import type { SessionOptions } from '../runtime/session.js';
import type { TrainingBackend } from '../train/backend.js';

/**
 * An experiment tests one claim of the CNN canon on real data: it trains or measures what the
 * claim is about, and reports the numbers, the figures and a plain verdict. Every experiment is
 * seeded, so a run repeats exactly; each has two budgets: `quick` (a few steps, a smoke test that
 * runs in CI) and `full` (the run whose report is committed under docs/experiments/).
 */
export type Budget = 'quick' | 'full';

export interface ExperimentContext {
  /** The data as loaded (both splits whole); experiments take their budget's subset (see `subset`). */
  readonly data: Dataset;
  /** The --data argument, for the report. */
  readonly source: string;
  readonly budget: Budget;
  readonly seed: number;
  /** A temporary folder for its training runs' files, removed when the experiment ends. */
  readonly scratch: string;
  /** One line of progress for the user (stderr). */
  readonly log: (line: string) => void;
  readonly session?: SessionOptions;
  /** What computes the training steps (--backend; default onnxruntime). */
  readonly backend?: TrainingBackend;
}

/** A plot, written as `<name>.svg` beside the report. */
export interface Figure {
  readonly name: string;
  readonly caption: string;
  readonly svg: string;
}

/** Whether the claim held: plainly yes, plainly no, or not decidable from this run. */
export type Verdict = 'held' | 'did not hold' | 'inconclusive';

export interface Outcome {
  readonly verdict: Verdict;
  /** One or two sentences: what was measured that decides the verdict, with the numbers. */
  readonly finding: string;
  /** Markdown: the models, data, budget, optimiser and what was measured how. */
  readonly setup: string;
  /** Markdown: the measured numbers, as tables. */
  readonly results: string;
  readonly figures: readonly Figure[];
  /** Every measured number, for results.json. */
  readonly raw: unknown;
}

export interface Experiment {
  readonly name: string;
  readonly title: string;
  /** The claim as the literature makes it, with its source. */
  readonly claim: string;
  run(ctx: ExperimentContext): Promise<Outcome>;
}
