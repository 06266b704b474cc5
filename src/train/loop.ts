import { join } from 'node:path';
import type { Probes } from '../autodiff/training_graph.js';
import { Augmenter, augments } from '../data/augment.js';
import type { Dataset } from '../data/dataset.js';
import { type TrainBatch, TrainLoader } from '../data/loader.js';
import { ConvlabError } from '../ir/errors.js';
import type { Graph } from '../ir/graph.js';
import type { WeightData } from '../ir/init.js';
import { type ResolvedGraph, resolveGraph } from '../ir/resolve.js';
import type { SessionOptions } from '../runtime/session.js';
import type { BackendName, StepSession, TrainingBackend } from './backend.js';
import { type Checkpoint, type CheckpointState, type EpochProgress, writeCheckpoint } from './checkpoint.js';
import type { TrainConfig } from './config.js';
import { evaluate } from './evaluate.js';
import { type EpochRecord, MetricsLog, type StepRecord } from './metrics.js';
import { Progress, type ProgressSink } from './progress.js';
import { FILES } from './run_folder.js';
import { learningRate, type Schedule, schedule } from './schedule.js';
import { onnxruntimeBackend } from './step.js';
import { modelWeights, writeTrainedModel } from './trained_model.js';

/**
 * The training loop: epochs of full batches through one compiled training step, a test-set
 * evaluation after each epoch, metrics.jsonl, checkpoints, and the final inference model.
 *
 * Resuming is exact: a checkpoint holds everything the rest of the run depends on (weights,
 * buffers, optimiser slots, the data loader's generator states, the step count that drives the
 * schedule and AdamW's bias correction, the running sums of an unfinished epoch), and a backend
 * computes a step the same way in a fresh session, so a run stopped and resumed at any step ends
 * with the same weights and metrics, bit for bit, as one that never stopped.
 */

export interface TrainOptions {
  readonly graph: Graph;
  readonly data: Dataset;
  readonly config: TrainConfig;
  /** The output folder; it must exist. */
  readonly out: string;
  /** Continue from this checkpoint (read and checked by the caller). */
  readonly resume?: Checkpoint;
  /**
   * A fresh run's starting weights and buffers by name (an imported file's); state they do not
   * name (optimiser slots, anything missing) starts from its initialiser. Ignored when resuming.
   */
  readonly weights?: ReadonlyMap<string, WeightData>;
  readonly progress?: ProgressSink;
  /**
   * Asked after every step: a reason to stop (e.g. 'SIGINT') or undefined. The loop then writes a
   * checkpoint at that step and returns; --resume continues from it.
   */
  readonly stop?: () => string | undefined;
  /** What computes the steps (default: onnxruntime). */
  readonly backend?: TrainingBackend;
  readonly session?: SessionOptions;
  /** Measurements the training graph reports each step (experiments), handed to `observe`. */
  readonly probes?: Probes;
  /** Called after every step with its record and probe values. */
  readonly observe?: (record: StepRecord, probes: ReadonlyMap<string, number>) => void;
  /** Assemble batches on a worker thread (default true). */
  readonly thread?: boolean;
}

export interface TrainResult {
  readonly status: 'completed' | 'stopped';
  /** The backend that ran the steps. */
  readonly backend: BackendName;
  /** The stop reason when status is 'stopped'. */
  readonly reason?: string;
  /** Epochs and steps completed. */
  readonly epoch: number;
  readonly step: number;
  readonly stepsPerEpoch: number;
  /** Seconds over all sessions of the run. */
  readonly time: number;
  readonly history: readonly EpochRecord[];
  /** Paths of the files written; `model` and `weights` only once training completed. */
  readonly files: {
    readonly metrics: string;
    readonly checkpoint: string;
    readonly model?: string;
    readonly weights?: string;
  };
}

const ZERO: EpochProgress = { steps: 0, loss: 0, correct: 0, seen: 0 };

/** Steps per epoch: the loader's full batches. */
export const stepsPerEpoch = (samples: number, batch: number): number => Math.floor(samples / batch);

/** The schedule of a configuration over `steps` steps per epoch. */
export function runSchedule(config: TrainConfig, steps: number): Schedule {
  return schedule({
    kind: config.schedule,
    lr: config.lr,
    totalSteps: config.epochs * steps,
    warmupSteps: Math.round(config.warmup * steps),
  });
}

const diverged = (what: string, checkpoint: string, good: { epoch: number; step: number }) =>
  new ConvlabError(
    `${what}: training diverged. The last good checkpoint (epoch ${good.epoch}, step ${good.step}) is intact in ` +
      `${checkpoint}; start a new run with a lower --lr (or a longer --warmup)`,
    1,
  );

/** Run (or continue) training as configured; see the file comment. */
export async function train(o: TrainOptions): Promise<TrainResult> {
  const run = await TrainingRun.start(o);
  try {
    return await run.toEnd();
  } finally {
    await run.close();
  }
}

/** Where a run is: epochs and steps done, and the sums of the epoch in progress. */
interface Position {
  epoch: number;
  step: number;
  partial: EpochProgress;
}

/** What one run holds open (data loader, step session, augmentation, metrics) and where it is. */
class TrainingRun {
  private readonly files: { readonly metrics: string; readonly checkpoint: string };
  private readonly plan: Schedule;
  private readonly r: ResolvedGraph;
  private readonly progress: Progress | undefined;
  private readonly history: EpochRecord[];
  private readonly at: Position;
  /** The last checkpoint written (or resumed from): the last good one should training diverge. */
  private state: CheckpointState;
  /** When this session of the run started, and the seconds of the sessions before it. */
  private readonly started = performance.now();
  private readonly before: number;
  /** The learning rate of the last step. */
  private lr = 0;
  /** Training time and images of the epoch in progress, for its images/s. */
  private epochSeconds = 0;
  private epochImages = 0;

  private constructor(
    private readonly o: TrainOptions,
    private readonly backend: BackendName,
    private readonly perEpoch: number,
    private readonly loader: TrainLoader,
    private readonly session: StepSession,
    private readonly augmenter: Augmenter,
    private readonly metrics: MetricsLog,
    resumed: CheckpointState | undefined,
  ) {
    const { config } = o;
    this.files = { metrics: join(o.out, FILES.metrics), checkpoint: join(o.out, FILES.checkpoint) };
    this.plan = runSchedule(config, perEpoch);
    this.r = resolveGraph(o.graph);
    this.state = resumed ?? {
      config,
      epoch: 0,
      step: 0,
      loader: loader.state(),
      partial: ZERO,
      history: [],
      elapsed: 0,
      metricsBytes: 0,
    };
    this.before = this.state.elapsed;
    this.at = { epoch: this.state.epoch, step: this.state.step, partial: this.state.partial };
    this.history = [...this.state.history];
    this.progress =
      o.progress &&
      new Progress(o.progress, { epochs: config.epochs, stepsPerEpoch: perEpoch, batch: config.batch });
  }

  /** Open what the run needs; a checkpoint's loader state and metrics length are restored. */
  static async start(o: TrainOptions): Promise<TrainingRun> {
    const { config, data } = o;
    const perEpoch = stepsPerEpoch(data.train.count, config.batch);
    if (perEpoch < 1) {
      throw new ConvlabError(
        `--batch ${config.batch} is larger than the ${data.train.count} training samples; use a smaller --batch`,
      );
    }
    const augment = { shape: data.train.shape, ...config.normalise, ...config.augment };
    const loader = new TrainLoader(data.train, {
      batch: config.batch,
      seed: config.seed,
      ...(augments(augment) && { augment: config.augment }),
      ...(o.thread !== undefined && { thread: o.thread }),
    });
    const backend = o.backend ?? onnxruntimeBackend;
    let session: StepSession | undefined;
    let augmenter: Augmenter | undefined;
    try {
      session = await backend.create(o.graph, stepOptions(o), initialState(o), o.session);
      augmenter = await Augmenter.create(augment, 'train', o.session);
      const resumed = o.resume?.state;
      if (resumed) loader.restore(resumed.loader);
      const metrics = MetricsLog.open(
        join(o.out, FILES.metrics),
        resumed !== undefined,
        resumed?.metricsBytes ?? 0,
      );
      return new TrainingRun(o, backend.name, perEpoch, loader, session, augmenter, metrics, resumed);
    } catch (e) {
      await loader.close();
      await augmenter?.release();
      await session?.release();
      throw e;
    }
  }

  async close(): Promise<void> {
    this.metrics.close();
    await this.loader.close();
    await this.augmenter.release();
    await this.session.release();
  }

  /** Train the remaining epochs, or until asked to stop. */
  async toEnd(): Promise<TrainResult> {
    // A first checkpoint before any step: even a run that diverges at once leaves a good one.
    if (!this.o.resume) this.save(this.loader.state());
    while (this.at.epoch < this.o.config.epochs) {
      const stopped = (await this.trainEpoch()) ?? (await this.endEpoch());
      if (stopped) return stopped;
    }
    return this.complete();
  }

  /** Seconds over all sessions of the run. */
  private elapsed(): number {
    return this.before + (performance.now() - this.started) / 1000;
  }

  /** The rest of the epoch in progress; a result if asked to stop on the way. */
  private async trainEpoch(): Promise<TrainResult | undefined> {
    this.epochSeconds = 0;
    this.epochImages = 0;
    for await (const b of this.loader.epoch()) {
      await this.step(b);
      // The epoch's last step goes on to the evaluation and the epoch's checkpoint instead.
      const reason = b.index + 1 < this.perEpoch ? this.o.stop?.() : undefined;
      if (reason) {
        this.save(b.resume);
        return this.stopped(reason);
      }
    }
    return undefined;
  }

  private async step(b: TrainBatch): Promise<void> {
    const { batch } = this.o.config;
    const at = this.at;
    const t = performance.now();
    this.lr = learningRate(this.plan, at.step);
    const images = await this.augmenter.run(b.images, batch, b.augment);
    const result = await this.session.step(images, b.labels, this.lr, at.step + 1);
    this.epochSeconds += (performance.now() - t) / 1000;
    this.epochImages += batch;
    if (!Number.isFinite(result.loss)) {
      throw diverged(
        `the loss became ${result.loss} at epoch ${at.epoch + 1}, step ${at.step + 1} (learning rate ${this.lr.toPrecision(3)})`,
        this.files.checkpoint,
        this.state,
      );
    }
    at.step++;
    const p = at.partial;
    at.partial = {
      steps: p.steps + 1,
      loss: p.loss + result.loss,
      correct: p.correct + result.correct,
      seen: p.seen + batch,
    };
    const record: StepRecord = {
      kind: 'step',
      epoch: at.epoch + 1,
      step: at.step,
      loss: result.loss,
      accuracy: result.correct / batch,
      lr: this.lr,
      time: this.elapsed(),
    };
    this.metrics.append(record);
    this.o.observe?.(record, result.probes);
    this.progress?.step({
      epoch: at.epoch + 1,
      index: b.index + 1,
      loss: at.partial.loss / at.partial.steps,
      accuracy: at.partial.correct / at.partial.seen,
      lr: this.lr,
    });
  }

  /** The test-set evaluation, the epoch's record and checkpoint; a result if asked to stop after it. */
  private async endEpoch(): Promise<TrainResult | undefined> {
    const { config, data } = this.o;
    const at = this.at;
    this.progress?.evaluating(at.epoch + 1);
    const weights = modelWeights(this.r, this.session, config.seed);
    const test = await evaluate(this.r, weights, data.test, config.normalise, config.batch, this.o.session);
    if (!Number.isFinite(test.loss)) {
      throw diverged(
        `the weights after epoch ${at.epoch + 1} give a test loss of ${test.loss}`,
        this.files.checkpoint,
        this.state,
      );
    }
    at.epoch++;
    const record: EpochRecord = {
      kind: 'epoch',
      epoch: at.epoch,
      step: at.step,
      loss: at.partial.loss / at.partial.steps,
      accuracy: at.partial.correct / at.partial.seen,
      lr: this.lr,
      time: this.elapsed(),
      testLoss: test.loss,
      testAccuracy: test.accuracy,
      imagesPerSec: this.epochImages / this.epochSeconds,
    };
    this.metrics.append(record);
    this.history.push(record);
    at.partial = ZERO;
    this.save(this.loader.state());
    this.progress?.epoch({ ...record, time: this.state.elapsed });
    const reason = at.epoch < config.epochs ? this.o.stop?.() : undefined;
    return reason ? this.stopped(reason) : undefined;
  }

  /** Write a checkpoint of where the run is, the data loader at `loader`. */
  private save(loader: CheckpointState['loader']): void {
    const metricsBytes = this.metrics.sync();
    const { epoch, step, partial } = this.at;
    this.state = {
      config: this.o.config,
      epoch,
      step,
      loader,
      partial,
      history: [...this.history],
      elapsed: this.elapsed(),
      metricsBytes,
    };
    const shapes = new Map(this.session.state.map((s) => [s.name, s.shape]));
    const tensors = [...this.session.snapshot()].map(
      ([name, data]) => [name, { data, shape: shapes.get(name)! }] as const,
    );
    writeCheckpoint(this.files.checkpoint, this.state, tensors);
  }

  private stopped(reason: string): TrainResult {
    return { ...this.result('stopped', this.state.elapsed), reason };
  }

  /** The trained model written beside the checkpoint. */
  private complete(): TrainResult {
    const { config, data, out } = this.o;
    const weights = modelWeights(this.r, this.session, config.seed);
    const written = writeTrainedModel(out, this.r, weights, data, config);
    const result = this.result('completed', this.elapsed());
    return { ...result, files: { ...result.files, ...written } };
  }

  private result(status: TrainResult['status'], time: number): TrainResult {
    return {
      status,
      backend: this.backend,
      epoch: this.at.epoch,
      step: this.at.step,
      stepsPerEpoch: this.perEpoch,
      time,
      history: this.history,
      files: this.files,
    };
  }
}

/** What the step session is compiled for. */
const stepOptions = ({ config, probes }: TrainOptions) => ({
  batch: config.batch,
  optimizer: config.optimizer,
  labelSmoothing: config.labelSmoothing,
  seed: config.seed,
  ...(config.auxWeight !== null && { auxWeight: config.auxWeight }),
  ...(probes && { probes }),
});

/**
 * A resumed run's weights come from its checkpoint; a fresh run's from the model file where it
 * holds them (an imported ONNX file), else from the seeded initialisers.
 */
const initialState = ({ config, resume, weights: given }: TrainOptions) => {
  const weights = resume ? new Map([...resume.tensors].map(([name, t]) => [name, t.data])) : given;
  return { seed: config.seed, ...(weights && { weights }) };
};
