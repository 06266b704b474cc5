import type { OptimizerSpec } from '../autodiff/optimizer.js';
import type { Normalisation } from './evaluate.js';
import type { ScheduleKind } from './schedule.js';

/** Everything that decides a run's results; stored in its checkpoints. Plain JSON. */
export interface TrainConfig {
  /** The MODEL argument (zoo name or spec file) and the graph's name. */
  readonly model: string;
  readonly graph: string;
  /** The --data SOURCE, and --limit (null for all the training samples). */
  readonly data: string;
  readonly limit: number | null;
  readonly epochs: number;
  readonly batch: number;
  /** The base (peak) learning rate. */
  readonly lr: number;
  readonly optimizer: OptimizerSpec;
  readonly schedule: ScheduleKind;
  /** Linear warm-up, in epochs (fractions allowed). */
  readonly warmup: number;
  readonly labelSmoothing: number;
  /** The auxiliary heads' loss weight; null keeps the model's (0.3 for GoogLeNet and Inception v3). */
  readonly auxWeight: number | null;
  /** Whether the auxiliary heads are built (false: --no-aux). */
  readonly aux: boolean;
  readonly seed: number;
  /** Random crop padding (0: no crop) and horizontal flips, as torchvision's RandomCrop/RandomHorizontalFlip. */
  readonly augment: { readonly pad: number; readonly flip: boolean };
  /** Per-channel statistics of the training pixels, in [0, 1]. */
  readonly normalise: Normalisation;
}
