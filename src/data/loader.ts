import { ConvlabError } from '../ir/errors.js';
import { Rng, type RngState } from '../ir/random.js';
import { type ImageSet, sampleSize } from './dataset.js';
import { type Gatherer, inlineGatherer, later, threadGatherer } from './gather.js';

/**
 * Batches for a graph compiled for a fixed batch size B.
 *
 * Training: each epoch visits the samples in a fresh seeded permutation and yields floor(N / B)
 * full batches; the last N mod B samples of the permutation are dropped for that epoch (as
 * PyTorch's DataLoader with drop_last=True), so every training step sees exactly B samples and
 * batch-norm statistics never come from a runt batch. A different permutation drops different
 * samples each epoch.
 *
 * Evaluation: ceil(N / B) batches in order that cover every sample once; the last batch is padded
 * with zero images (label 0) up to B, and `size` says how many of its samples are real.
 *
 * A batch is assembled by copying whole samples (TypedArray.set of subarrays), never pixel by pixel,
 * into fresh arrays the caller may keep. Training iteration prefetches: as soon as the caller holds
 * batch i, batch i+1 is being assembled on a worker thread (gather.ts), so it is ready when the
 * caller's onnxruntime run on batch i returns, even though that run blocks the JavaScript thread.
 * Evaluation batches are one contiguous copy each and are made on the main thread.
 */

/** Per-sample random augmentation, drawn in JavaScript (3 numbers a sample) and applied in-graph. */
export interface AugmentParams {
  /** [B,2] int64: (top, left) of each sample's crop window in its padded image, each in [0, 2*pad]. */
  readonly crops: BigInt64Array;
  /** [B] 0/1, an onnxruntime 'bool' tensor: 1 flips the sample left-right. */
  readonly flips: Uint8Array;
}

export interface AugmentDraw {
  /** Zero padding on each side before the random crop; 0 for no crop. */
  readonly pad: number;
  /** Random horizontal flips with probability 1/2. */
  readonly flip: boolean;
}

/** torchvision's RandomCrop(size, padding=pad) offsets and RandomHorizontalFlip(0.5) coins for a batch. */
export function drawAugment(rng: Rng, batch: number, draw: AugmentDraw): AugmentParams {
  const crops = new BigInt64Array(2 * batch);
  const flips = new Uint8Array(batch);
  for (let i = 0; i < batch; i++) {
    if (draw.pad > 0) {
      crops[2 * i] = BigInt(rng.below(2 * draw.pad + 1));
      crops[2 * i + 1] = BigInt(rng.below(2 * draw.pad + 1));
    }
    if (draw.flip) flips[i] = rng.below(2);
  }
  return { crops, flips };
}

export interface Batch {
  /** batch * C * H * W bytes, NCHW. */
  readonly images: Uint8Array;
  readonly labels: Int32Array;
  /** Real samples: B, except in the padded last evaluation batch. */
  readonly size: number;
  /** Position in the epoch (training) or in the pass (evaluation). */
  readonly index: number;
}

/**
 * Everything a checkpoint needs to continue the data stream exactly: plain numbers, JSON-safe.
 * `samples` and `batchSize` are there to refuse a resume with other data or another batch size.
 */
export interface LoaderState {
  /** The epoch in progress, counted from 0. */
  readonly epoch: number;
  /** Batches of that epoch already consumed. */
  readonly batch: number;
  /** The shuffling generator at the start of `epoch`, before its permutation was drawn. */
  readonly order: RngState;
  /** The augmentation generator after the consumed batches. */
  readonly augment: RngState;
  readonly samples: number;
  readonly batchSize: number;
}

export interface TrainBatch extends Batch {
  readonly epoch: number;
  /** Present when the loader draws augmentation. */
  readonly augment?: AugmentParams;
  /** The loader's state once this batch is consumed: checkpoint it to resume after this batch. */
  readonly resume: LoaderState;
}

export interface TrainLoaderOptions {
  /** The fixed batch size; at most the number of samples. */
  readonly batch: number;
  readonly seed: number;
  readonly augment?: AugmentDraw;
  /** Assemble batches on a worker thread (default true); false assembles them on the main thread. */
  readonly thread?: boolean;
}

/** Yield submit(from) .. submit(to - 1), each one submitted as soon as the caller holds the previous one. */
async function* prefetch<T>(from: number, to: number, submit: (i: number) => Promise<T>): AsyncGenerator<T> {
  let pending = from < to ? submit(from) : undefined;
  try {
    for (let i = from; pending; i++) {
      const item = await pending;
      pending = i + 1 < to ? submit(i + 1) : undefined;
      yield item;
    }
  } finally {
    pending?.catch(() => {}); // an abandoned prefetch's failure has no one to report to
  }
}

const isRngState = (v: unknown): boolean =>
  Array.isArray(v) && v.length === 4 && v.every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32);

export class TrainLoader {
  readonly batchSize: number;
  /** Full batches per epoch: floor(samples / batch). */
  readonly batchesPerEpoch: number;
  private readonly gatherer: Gatherer;
  private assembledCount = 0;
  private current: LoaderState;
  private cachedPermutation: { key: string; order: Int32Array; next: RngState } | undefined;

  constructor(
    readonly set: ImageSet,
    readonly options: TrainLoaderOptions,
  ) {
    const { batch } = options;
    if (!Number.isInteger(batch) || batch < 1)
      throw new ConvlabError(`the batch size must be a positive integer, got ${batch}`);
    if (batch > set.count) {
      throw new ConvlabError(
        `batch ${batch} is larger than the ${set.count} training samples of ${set.name}; use a smaller --batch`,
      );
    }
    if (options.augment && !(Number.isInteger(options.augment.pad) && options.augment.pad >= 0)) {
      throw new ConvlabError(
        `augmentation padding must be a non-negative integer, got ${options.augment.pad}`,
      );
    }
    this.batchSize = batch;
    const make = options.thread === false ? inlineGatherer : threadGatherer;
    this.gatherer = make(set.images, sampleSize(set));
    this.batchesPerEpoch = Math.floor(set.count / batch);
    // Two streams, so that turning augmentation on or off does not change the order of the samples.
    const root = new Rng(options.seed);
    this.current = {
      epoch: 0,
      batch: 0,
      order: new Rng(root.nextUint32()).state(),
      augment: new Rng(root.nextUint32()).state(),
      samples: set.count,
      batchSize: batch,
    };
  }

  /**
   * The state after the last batch handed out (or restored). A training loop checkpoints the
   * `resume` of the last batch it actually trained on, which is this state when it stops between
   * batches.
   */
  state(): LoaderState {
    return this.current;
  }

  restore(state: LoaderState): void {
    const s = state as Partial<Record<keyof LoaderState, unknown>>;
    const valid =
      Number.isInteger(s.epoch) &&
      (s.epoch as number) >= 0 &&
      Number.isInteger(s.batch) &&
      (s.batch as number) >= 0 &&
      isRngState(s.order) &&
      isRngState(s.augment);
    if (!valid)
      throw new ConvlabError(`the checkpoint's data-loader state is not valid: ${JSON.stringify(state)}`);
    if (state.samples !== this.set.count || state.batchSize !== this.batchSize) {
      throw new ConvlabError(
        `the checkpoint was written for ${state.samples} training samples in batches of ${state.batchSize}, ` +
          `this run has ${this.set.count} in batches of ${this.batchSize}: resume with the same --data, --limit and --batch`,
      );
    }
    if (state.batch >= this.batchesPerEpoch) {
      throw new ConvlabError(
        `the checkpoint's data-loader state is not valid: batch ${state.batch} of ${this.batchesPerEpoch}`,
      );
    }
    const copy = (r: RngState): RngState => [r[0], r[1], r[2], r[3]];
    this.current = { ...state, order: copy(state.order), augment: copy(state.augment) };
  }

  /** Batches assembled so far, prefetched ones included. */
  get assembled(): number {
    return this.assembledCount;
  }

  /** Stop the batch-assembly thread (an idle one does not keep the process alive either way). */
  close(): Promise<void> {
    return this.gatherer.close();
  }

  /** The permutation of the current epoch and the shuffling generator's state after drawing it. */
  private permutation(): { order: Int32Array; next: RngState } {
    const key = `${this.current.epoch}:${this.current.order.join(',')}`;
    if (this.cachedPermutation?.key !== key) {
      const rng = Rng.restore(this.current.order);
      const order = rng.permutation(this.set.count);
      this.cachedPermutation = { key, order, next: rng.state() };
    }
    return this.cachedPermutation;
  }

  /**
   * The rest of the current epoch, from the state's batch on. After its last batch the state has
   * moved to the next epoch; breaking out early leaves the state after the last batch yielded.
   */
  async *epoch(): AsyncGenerator<TrainBatch> {
    const start = this.current;
    const { order, next } = this.permutation();
    const augmentRng = Rng.restore(start.augment);
    const n = this.batchesPerEpoch;
    const B = this.batchSize;
    const submit = (i: number): Promise<TrainBatch> => {
      const indices = order.subarray(i * B, (i + 1) * B);
      const labels = new Int32Array(B);
      for (let j = 0; j < B; j++) labels[j] = this.set.labels[indices[j]!]!;
      const augment = this.options.augment ? drawAugment(augmentRng, B, this.options.augment) : undefined;
      const last = i + 1 === n;
      const resume: LoaderState = {
        ...start,
        epoch: last ? start.epoch + 1 : start.epoch,
        batch: last ? 0 : i + 1,
        order: last ? next : start.order,
        augment: augmentRng.state(),
      };
      return this.gatherer.gather(indices).then((images) => {
        this.assembledCount++;
        return { images, labels, size: B, index: i, epoch: start.epoch, resume, ...(augment && { augment }) };
      });
    };
    for await (const batch of prefetch(start.batch, n, submit)) {
      this.current = batch.resume;
      yield batch;
    }
  }
}

/** Every sample of `set` once, in order, in batches of `batch` (the last one zero-padded to `batch`). */
export function evalBatches(set: ImageSet, batch: number): AsyncGenerator<Batch> {
  if (!Number.isInteger(batch) || batch < 1)
    throw new ConvlabError(`the batch size must be a positive integer, got ${batch}`);
  const size = sampleSize(set);
  const make = (i: number): Batch => {
    const from = i * batch;
    const to = Math.min(set.count, from + batch);
    const images = new Uint8Array(batch * size);
    const labels = new Int32Array(batch);
    images.set(set.images.subarray(from * size, to * size));
    labels.set(set.labels.subarray(from, to));
    return { images, labels, size: to - from, index: i };
  };
  return prefetch(0, Math.ceil(set.count / batch), (i) => later(() => make(i)));
}
