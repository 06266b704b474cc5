import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OptimizerSpec } from '../autodiff/optimizer.js';
import type { Probes } from '../autodiff/training_graph.js';
import { channelStats } from '../data/augment.js';
import { type Dataset, limit } from '../data/dataset.js';
import { ConvlabError } from '../ir/errors.js';
import type { Graph } from '../ir/graph.js';
import { type Checkpoint, readCheckpoint, writeFileAtomic } from '../train/checkpoint.js';
import { SGD, type TrainConfig } from '../train/config.js';
import { train } from '../train/loop.js';
import type { EpochRecord, StepRecord } from '../train/metrics.js';
import { FILES } from '../train/run_folder.js';
import type { ScheduleKind } from '../train/schedule.js';
import type { HalfBudget, SeedContext } from './experiment.js';

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

/** `convlab train`'s default optimiser: SGD with Nesterov momentum 0.9 and weight decay 5e-4. */
export { SGD };

/** The experiment was asked to stop (a signal); every finished seed and run is kept for the next start. */
export class Stopped extends Error {
  constructor(readonly reason: string) {
    super(`stopped by ${reason}`);
  }
}

export interface RunSpec {
  /** A name for the run's folder and log lines, unique within the seed. */
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
  /** The trained weights (model.safetensors), kept in the seed's working folder until the seed is done. */
  readonly weights: string;
}

/** The run as stored once it completed: plain JSON, probes as one row of values per step. */
interface StoredRun {
  readonly epochs: readonly EpochRecord[];
  readonly steps: readonly StepRecord[];
  readonly probeNames: readonly string[];
  readonly probes: readonly (readonly number[])[];
  readonly seconds: number;
}

const DONE = 'run.json';
const PROBES = 'probes.jsonl';
const PROBE_NAMES = 'probe-names.json';

const jsonLines = <T>(path: string): T[] =>
  existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as T)
    : [];

/** What a stopped run had done by its checkpoint: its step records and probe rows up to that step. */
function resumePoint(
  dir: string,
  config: TrainConfig,
): { checkpoint?: Checkpoint; steps: StepRecord[]; probes: number[][] } {
  const path = join(dir, FILES.checkpoint);
  if (!existsSync(path)) return { steps: [], probes: [] };
  const checkpoint = readCheckpoint(path);
  if (JSON.stringify(checkpoint.state.config) !== JSON.stringify(config)) {
    throw new ConvlabError(
      `${dir} holds a training run of another configuration; remove that folder to start the run afresh`,
    );
  }
  const at = checkpoint.state.step;
  const steps = jsonLines<StepRecord | EpochRecord>(join(dir, FILES.metrics)).filter(
    (r): r is StepRecord => r.kind === 'step' && r.step <= at,
  );
  // Rows written after the checkpoint (a run killed between checkpoints) are done again.
  const probes = jsonLines<number[]>(join(dir, PROBES)).slice(0, at);
  return { checkpoint, steps, probes };
}

function trainConfig(ctx: SeedContext, spec: RunSpec, normalise: TrainConfig['normalise']): TrainConfig {
  return {
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
  };
}

const fromStored = (dir: string, s: StoredRun): RunResult => ({
  epochs: s.epochs,
  steps: s.steps,
  probes: s.probes.map((row) => new Map(s.probeNames.map((name, i) => [name, row[i]!]))),
  seconds: s.seconds,
  weights: join(dir, FILES.weights),
});

/**
 * One seeded training run through `convlab train`'s own loop (the same training graph, data
 * pipeline, evaluation, schedule and checkpoints), in its own folder of the seed's working folder.
 * A run that completed before is read back; a run stopped (a signal: a checkpoint at that step;
 * a kill: the last epoch's checkpoint) resumes from its checkpoint, which the loop makes exact.
 * Every step's loss and probes and every epoch's test figures are returned.
 */
export async function trainRun(ctx: SeedContext, spec: RunSpec): Promise<RunResult> {
  const dir = join(ctx.work, spec.name);
  if (existsSync(join(dir, DONE))) {
    ctx.log(`  ${spec.name}: finished before, read back from ${dir}`);
    return fromStored(dir, JSON.parse(readFileSync(join(dir, DONE), 'utf8')) as StoredRun);
  }
  mkdirSync(dir, { recursive: true });
  const config = trainConfig(ctx, spec, await channelStats(spec.data.train, ctx.session));
  const { checkpoint, steps, probes } = resumePoint(dir, config);
  if (checkpoint) ctx.log(`  ${spec.name}: resuming at step ${checkpoint.state.step}`);
  writeFileSync(join(dir, PROBES), probes.map((row) => `${JSON.stringify(row)}\n`).join(''));
  const namesFile = join(dir, PROBE_NAMES);
  let probeNames = existsSync(namesFile)
    ? (JSON.parse(readFileSync(namesFile, 'utf8')) as string[])
    : undefined;
  let lastLog = 0;
  const result = await train({
    graph: spec.graph,
    data: spec.data,
    out: dir,
    config,
    ...(checkpoint && { resume: checkpoint }),
    ...(spec.probes && { probes: spec.probes }),
    ...(ctx.session && { session: ctx.session }),
    backend: ctx.backend,
    stop: ctx.stop,
    observe(record, values) {
      if (!probeNames) {
        probeNames = [...values.keys()];
        writeFileSync(namesFile, JSON.stringify(probeNames));
      }
      const row = probeNames.map((name) => values.get(name)!);
      steps.push(record);
      probes.push(row);
      appendFileSync(join(dir, PROBES), `${JSON.stringify(row)}\n`);
      if (record.time - lastLog >= 10) {
        lastLog = record.time;
        ctx.log(
          `  ${spec.name}: epoch ${record.epoch}/${spec.epochs} step ${record.step} loss ${record.loss.toFixed(4)}`,
        );
      }
    },
  });
  if (result.status === 'stopped') throw new Stopped(result.reason ?? 'a stop request');
  for (const e of result.history) {
    ctx.log(
      `  ${spec.name}: epoch ${e.epoch} train loss ${e.loss.toFixed(4)} acc ${(100 * e.accuracy).toFixed(2)}%, test acc ${(100 * e.testAccuracy).toFixed(2)}%`,
    );
  }
  const stored: StoredRun = {
    epochs: result.history,
    steps,
    probeNames: probeNames ?? [],
    probes,
    seconds: result.time,
  };
  writeFileAtomic(join(dir, DONE), new TextEncoder().encode(JSON.stringify(stored)));
  return fromStored(dir, stored);
}

/**
 * The setup sentences of a run with budget `b` and peak lr `lr`: the data and the optimiser, under
 * the warm-restart schedule the training experiments use (see `RESTART`).
 */
export const trainingSetup = (b: TrainingBudget, lr: number): string[] => [
  `Data: the first ${b.train} training and ${b.test} test images, no augmentation.`,
  `Training: ${b.epochs} epochs, batch ${b.batch}, SGD with Nesterov momentum 0.9, weight decay 5e-4, lr ${lr} with ${b.warmup} epoch${b.warmup === 1 ? '' : 's'} of linear warm-up and a cosine decay restarted once at half way (SGDR: two cycles of ${b.epochs / 2} epochs, each annealed to 0).`,
  `The first cycle is, step for step, the run half the budget would make on its own, so the half-budget verdict is read from the first half of each run.`,
];

/**
 * The schedule of the training experiments: cosine annealing with one warm restart at half way, so
 * that the first half of every run is a complete run of half the budget (train/schedule.ts). Their
 * budgets therefore train an even number of epochs.
 */
export const RESTART = 'cosine-restart' as const;

/** The half budget of a training experiment under `RESTART`: the first cycle of each run, cut by `of`. */
export const firstCycle = <M>(of: (m: M) => M): HalfBudget<M> => ({
  kind: 'prefix',
  of,
  describe: 'the first of the two cosine cycles of every run: step for step the run half the budget makes',
});
