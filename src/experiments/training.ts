import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { OptimizerSpec } from '../autodiff/optimizer.js';
import type { Probes } from '../autodiff/training_graph.js';
import { channelStats } from '../data/augment.js';
import { type Dataset, limit } from '../data/dataset.js';
import type { Graph } from '../ir/graph.js';
import { SGD } from '../train/config.js';
import { train } from '../train/loop.js';
import type { EpochRecord, StepRecord } from '../train/metrics.js';
import type { ScheduleKind } from '../train/schedule.js';
import type { ExperimentContext } from './experiment.js';

/** The first `train` training and `test` test samples of a dataset (an experiment's budget). */
export const subset = (data: Dataset, sizes: { train: number; test: number }): Dataset => ({
  ...data,
  train: limit(data.train, sizes.train),
  test: limit(data.test, sizes.test),
});

/** An experiment's training budget: data subset sizes, epochs, batch and warm-up epochs. */
export interface TrainingBudget {
  readonly train: number;
  readonly test: number;
  readonly epochs: number;
  readonly batch: number;
  readonly warmup: number;
}

/** The setup sentences of a run on `data` with budget `b`, SGD as `SGD`, peak lr `lr`, cosine decay. */
export const trainingSetup = (data: Dataset, b: TrainingBudget, lr: number): string[] => [
  `Data: the first ${data.train.count} training and ${data.test.count} test images, no augmentation.`,
  `Training: ${b.epochs} epochs, batch ${b.batch}, SGD with Nesterov momentum 0.9, weight decay 5e-4, lr ${lr} with ${b.warmup} epoch${b.warmup === 1 ? '' : 's'} of linear warm-up and a cosine decay.`,
];

/** `convlab train`'s default optimiser: SGD with Nesterov momentum 0.9 and weight decay 5e-4. */
export { SGD };

export interface RunSpec {
  /** A name for the run's files and log lines. */
  readonly name: string;
  readonly graph: Graph;
  readonly data: Dataset;
  readonly epochs: number;
  readonly batch: number;
  readonly lr: number;
  readonly optimizer?: OptimizerSpec;
  readonly schedule?: ScheduleKind;
  /** Linear warm-up in epochs (default 0). */
  readonly warmup?: number;
  /** Random crop padding and flips (default: none, so the runs compare models, not augmentation). */
  readonly augment?: { readonly pad: number; readonly flip: boolean };
  /** Loss weight of auxiliary heads (default: the model's own). */
  readonly auxWeight?: number;
  readonly probes?: Probes;
}

export interface RunResult {
  readonly epochs: readonly EpochRecord[];
  readonly steps: readonly StepRecord[];
  /** Each step's probe values (same order as `steps`). */
  readonly probes: readonly ReadonlyMap<string, number>[];
  readonly seconds: number;
}

/**
 * One seeded training run through `convlab train`'s own loop (the same training graph, data
 * pipeline, evaluation and schedule), in a scratch folder removed afterwards; every step's loss and
 * probes and every epoch's test figures are returned.
 */
export async function trainRun(ctx: ExperimentContext, spec: RunSpec): Promise<RunResult> {
  const out = join(ctx.scratch, spec.name);
  mkdirSync(out, { recursive: true });
  const steps: StepRecord[] = [];
  const probes: ReadonlyMap<string, number>[] = [];
  const normalise = await channelStats(spec.data.train, ctx.session);
  let lastLog = 0;
  try {
    const result = await train({
      graph: spec.graph,
      data: spec.data,
      out,
      config: {
        model: spec.graph.name,
        graph: spec.graph.name,
        data: ctx.source,
        limit: spec.data.train.count,
        epochs: spec.epochs,
        batch: spec.batch,
        lr: spec.lr,
        optimizer: spec.optimizer ?? SGD,
        schedule: spec.schedule ?? 'cosine',
        warmup: spec.warmup ?? 0,
        labelSmoothing: 0,
        auxWeight: spec.auxWeight ?? null,
        aux: true,
        seed: ctx.seed,
        augment: spec.augment ?? { pad: 0, flip: false },
        normalise,
      },
      ...(spec.probes && { probes: spec.probes }),
      ...(ctx.session && { session: ctx.session }),
      ...(ctx.backend && { backend: ctx.backend }),
      observe(record, values) {
        steps.push(record);
        probes.push(values);
        if (record.time - lastLog >= 10) {
          lastLog = record.time;
          ctx.log(
            `  ${spec.name}: epoch ${record.epoch}/${spec.epochs} step ${record.step} loss ${record.loss.toFixed(4)}`,
          );
        }
      },
    });
    for (const e of result.history) {
      ctx.log(
        `  ${spec.name}: epoch ${e.epoch} train loss ${e.loss.toFixed(4)} acc ${(100 * e.accuracy).toFixed(2)}%, test acc ${(100 * e.testAccuracy).toFixed(2)}%`,
      );
    }
    return { epochs: result.history, steps, probes, seconds: result.time };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
