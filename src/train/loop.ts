import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Probes } from '../autodiff/training_graph.js';
import { Augmenter, augments } from '../data/augment.js';
import type { Dataset } from '../data/dataset.js';
import { TrainLoader } from '../data/loader.js';
import { ConvlabError } from '../ir/errors.js';
import type { Graph } from '../ir/graph.js';
import { type ResolvedGraph, resolveGraph } from '../ir/resolve.js';
import { onnxModel } from '../onnx/export.js';
import { encodeModel } from '../onnx/proto.js';
import { initTensor, Rng, tensorSpecs, type WeightData } from '../runtime/init.js';
import { writeSafetensors } from '../runtime/safetensors.js';
import type { SessionOptions } from '../runtime/session.js';
import type { BackendName, StepSession, TrainingBackend } from './backend.js';
import {
  type Checkpoint,
  type CheckpointState,
  type EpochProgress,
  writeCheckpoint,
  writeFileAtomic,
} from './checkpoint.js';
import type { TrainConfig } from './config.js';
import { evaluate } from './evaluate.js';
import type { EpochRecord, StepRecord } from './metrics.js';
import { Progress, type ProgressSink } from './progress.js';
import { FILES } from './run_folder.js';
import { learningRate, schedule } from './schedule.js';
import { onnxruntimeBackend } from './step.js';

/**
 * The training loop: epochs of full batches through one compiled training step, a test-set
 * evaluation after each epoch, metrics.jsonl, checkpoints, and the final inference model.
 *
 * Resuming is exact: a checkpoint holds everything the rest of the run depends on (weights,
 * buffers, optimiser slots, the data loader's generator states, the step count that drives the
 * schedule and AdamW's bias correction, the running sums of an unfinished epoch), onnxruntime
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
export function runSchedule(config: TrainConfig, steps: number) {
  return schedule({
    kind: config.schedule,
    lr: config.lr,
    totalSteps: config.epochs * steps,
    warmupSteps: Math.round(config.warmup * steps),
  });
}

/**
 * Every parameter and buffer of the model by name: the session's current state, plus the tensors
 * training never changes (none in the zoo; kept for completeness) at their seeded initial values.
 */
function modelWeights(r: ResolvedGraph, session: StepSession, seed: number): Map<string, WeightData> {
  const state = session.snapshot();
  const out = new Map<string, WeightData>();
  for (const [name, { spec, init }] of tensorSpecs(r)) {
    out.set(name, state.get(name) ?? initTensor(spec, init, new Rng(seed, name)));
  }
  return out;
}

const diverged = (what: string, checkpoint: string, good: { epoch: number; step: number }) =>
  new ConvlabError(
    `${what}: training diverged. The last good checkpoint (epoch ${good.epoch}, step ${good.step}) is intact in ` +
      `${checkpoint}; start a new run with a lower --lr (or a longer --warmup)`,
    1,
  );

/** Run (or continue) training as configured; see the file comment. */
export async function train(o: TrainOptions): Promise<TrainResult> {
  const { graph, data, config, out } = o;
  const files = {
    metrics: join(out, FILES.metrics),
    checkpoint: join(out, FILES.checkpoint),
  };
  const { batch } = config;
  const perEpoch = stepsPerEpoch(data.train.count, batch);
  if (perEpoch < 1) {
    throw new ConvlabError(
      `--batch ${batch} is larger than the ${data.train.count} training samples; use a smaller --batch`,
    );
  }
  const plan = runSchedule(config, perEpoch);
  const r = resolveGraph(graph);
  const augment = { shape: data.train.shape, ...config.normalise, ...config.augment };

  const loader = new TrainLoader(data.train, {
    batch,
    seed: config.seed,
    ...(augments(augment) && { augment: config.augment }),
    ...(o.thread !== undefined && { thread: o.thread }),
  });
  const backend = o.backend ?? onnxruntimeBackend;
  let session: StepSession | undefined;
  let augmenter: Augmenter | undefined;
  let metrics: number | undefined;
  try {
    const weights = o.resume && new Map([...o.resume.tensors].map(([name, t]) => [name, t.data]));
    session = await backend.create(
      graph,
      {
        batch,
        optimizer: config.optimizer,
        labelSmoothing: config.labelSmoothing,
        seed: config.seed,
        ...(config.auxWeight !== null && { auxWeight: config.auxWeight }),
        ...(o.probes && { probes: o.probes }),
      },
      { seed: config.seed, ...(weights && { weights }) },
      o.session,
    );
    augmenter = await Augmenter.create(augment, 'train', o.session);
    const trainer = session;
    const shapes = new Map(trainer.state.map((s) => [s.name, s.shape]));

    let state: CheckpointState = o.resume?.state ?? {
      config,
      epoch: 0,
      step: 0,
      loader: loader.state(),
      partial: ZERO,
      history: [],
      elapsed: 0,
      metricsBytes: 0,
    };
    if (o.resume) loader.restore(state.loader);
    metrics = openSync(files.metrics, o.resume ? 'a' : 'w');
    const fd = metrics;
    // Lines written after the checkpoint (a run killed without one) would otherwise appear twice.
    if (fstatSync(fd).size > state.metricsBytes) ftruncateSync(fd, state.metricsBytes);
    const append = (record: StepRecord | EpochRecord) => writeSync(fd, `${JSON.stringify(record)}\n`);

    const started = performance.now();
    const before = state.elapsed;
    const elapsed = () => before + (performance.now() - started) / 1000;
    const save = (next: Omit<CheckpointState, 'config' | 'elapsed' | 'metricsBytes'>) => {
      fsyncSync(fd);
      state = { ...next, config, elapsed: elapsed(), metricsBytes: fstatSync(fd).size };
      const tensors = [...trainer.snapshot()].map(
        ([name, data]) => [name, { data, shape: shapes.get(name)! }] as const,
      );
      writeCheckpoint(files.checkpoint, state, tensors);
    };
    // A first checkpoint before any step: even a run that diverges at once leaves a good one.
    if (!o.resume) save({ epoch: 0, step: 0, loader: loader.state(), partial: ZERO, history: [] });

    const progress =
      o.progress &&
      new Progress(o.progress, {
        epochs: config.epochs,
        stepsPerEpoch: perEpoch,
        batch,
      });
    let { epoch, step, partial } = state;
    const history = [...state.history];
    let lr = 0;
    while (epoch < config.epochs) {
      let trainSeconds = 0;
      let trained = 0;
      let reason: string | undefined;
      for await (const b of loader.epoch()) {
        const t = performance.now();
        lr = learningRate(plan, step);
        const images = await augmenter.run(b.images, batch, b.augment);
        const result = await trainer.step(images, b.labels, lr, step + 1);
        trainSeconds += (performance.now() - t) / 1000;
        trained += batch;
        if (!Number.isFinite(result.loss)) {
          throw diverged(
            `the loss became ${result.loss} at epoch ${epoch + 1}, step ${step + 1} (learning rate ${lr.toPrecision(3)})`,
            files.checkpoint,
            state,
          );
        }
        step++;
        partial = {
          steps: partial.steps + 1,
          loss: partial.loss + result.loss,
          correct: partial.correct + result.correct,
          seen: partial.seen + batch,
        };
        const record: StepRecord = {
          kind: 'step',
          epoch: epoch + 1,
          step,
          loss: result.loss,
          accuracy: result.correct / batch,
          lr,
          time: elapsed(),
        };
        append(record);
        o.observe?.(record, result.probes);
        progress?.step({
          epoch: epoch + 1,
          index: b.index + 1,
          loss: partial.loss / partial.steps,
          accuracy: partial.correct / partial.seen,
          lr,
        });
        // The epoch's last step goes on to the evaluation and the epoch's checkpoint instead.
        reason = b.index + 1 < perEpoch ? o.stop?.() : undefined;
        if (reason) {
          save({ epoch, step, loader: b.resume, partial, history });
          return {
            status: 'stopped',
            backend: backend.name,
            reason,
            epoch,
            step,
            stepsPerEpoch: perEpoch,
            time: state.elapsed,
            history,
            files,
          };
        }
      }

      progress?.evaluating(epoch + 1);
      const test = await evaluate(
        r,
        modelWeights(r, trainer, config.seed),
        data.test,
        config.normalise,
        batch,
        o.session,
      );
      if (!Number.isFinite(test.loss)) {
        throw diverged(
          `the weights after epoch ${epoch + 1} give a test loss of ${test.loss}`,
          files.checkpoint,
          state,
        );
      }
      epoch++;
      const record: EpochRecord = {
        kind: 'epoch',
        epoch,
        step,
        loss: partial.loss / partial.steps,
        accuracy: partial.correct / partial.seen,
        lr,
        time: elapsed(),
        testLoss: test.loss,
        testAccuracy: test.accuracy,
        imagesPerSec: trained / trainSeconds,
      };
      append(record);
      history.push(record);
      partial = ZERO;
      save({ epoch, step, loader: loader.state(), partial, history });
      progress?.epoch({ ...record, time: state.elapsed });
      reason = epoch < config.epochs ? o.stop?.() : undefined;
      if (reason)
        return {
          status: 'stopped',
          backend: backend.name,
          reason,
          epoch,
          step,
          stepsPerEpoch: perEpoch,
          time: state.elapsed,
          history,
          files,
        };
    }

    const final = modelWeights(r, trainer, config.seed);
    const model = join(out, FILES.model);
    const weightsFile = join(out, FILES.weights);
    writeFileAtomic(model, inferenceModel(r, final, data, config));
    writeFileAtomic(
      weightsFile,
      writeSafetensors(
        [...tensorSpecs(r)].map(([name, { spec }]) => {
          const data = final.get(name)!;
          const shape = spec.shape;
          return [
            name,
            data instanceof BigInt64Array
              ? { dtype: 'int64', shape, data }
              : { dtype: 'float32', shape, data },
          ] as const;
        }),
      ),
    );
    return {
      status: 'completed',
      backend: backend.name,
      epoch,
      step,
      stepsPerEpoch: perEpoch,
      time: elapsed(),
      history,
      files: { ...files, model, weights: weightsFile },
    };
  } finally {
    if (metrics !== undefined) closeSync(metrics);
    await loader.close();
    await augmenter?.release();
    await session?.release();
  }
}

/**
 * The trained inference model (auxiliary heads dropped), its metadata carrying what a user needs
 * to feed it: the normalisation (inputs are (pixel / 255 - mean) / std per channel) and the class
 * names where the data has them.
 */
function inferenceModel(
  r: ResolvedGraph,
  weights: ReadonlyMap<string, WeightData>,
  data: Dataset,
  config: TrainConfig,
): Uint8Array {
  const model = onnxModel(r, { mode: 'infer', weights });
  return encodeModel({
    ...model,
    metadata: {
      ...model.metadata,
      mean: JSON.stringify(config.normalise.mean),
      std: JSON.stringify(config.normalise.std),
      ...(data.train.classNames && { classes: JSON.stringify(data.train.classNames) }),
      trained_on: config.data,
      epochs: String(config.epochs),
    },
  });
}
