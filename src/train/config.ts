import type { OptimizerSpec } from '../autodiff/optimizer.js';
import type { ImageSet } from '../data/dataset.js';
import type { DataSource } from '../data/sources.js';
import { ConvlabError } from '../ir/errors.js';
import type { Normalisation } from './evaluate.js';
import type { ScheduleKind } from './schedule.js';

/**
 * A run's configuration and the policy that fills it in: `convlab train`'s defaults, the
 * augmentation each kind of data gets, and what a user's options may change.
 */

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
  readonly augment: Augmentation;
  /** Per-channel statistics of the training pixels, in [0, 1]. */
  readonly normalise: Normalisation;
}

export interface Augmentation {
  readonly pad: number;
  readonly flip: boolean;
}

type Sgd = Extract<OptimizerSpec, { kind: 'sgd' }>;
type AdamW = Extract<OptimizerSpec, { kind: 'adamw' }>;

/** SGD with Nesterov momentum 0.9 and weight decay 5e-4: `convlab train`'s default optimiser. */
export const SGD: Sgd = { kind: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 5e-4 };

/** torch.optim.AdamW's own defaults. */
export const ADAMW: AdamW = { kind: 'adamw', beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };

/** The defaults, chosen for `convlab train resnet20 --data fashion-mnist --out DIR` to reach 92% test accuracy. */
export const DEFAULTS = {
  epochs: 10,
  batch: 128,
  /** The base learning rate by optimiser: 0.1 for SGD, AdamW's usual 1e-3. */
  lr: { sgd: 0.1, adamw: 1e-3 },
  schedule: 'cosine',
  warmup: 1,
  seed: 0,
} as const satisfies {
  epochs: number;
  batch: number;
  lr: Record<OptimizerSpec['kind'], number>;
  schedule: ScheduleKind;
  warmup: number;
  seed: number;
};

/**
 * Augmentation by kind of data: random crops with zero padding and horizontal flips, as the
 * papers train on these sets (CIFAR: pad 4 and flips, He et al. 2015); Fashion-MNIST's 28x28
 * images take pad 2. Digits and the synthetic set's oriented gratings are not mirror-symmetric (a
 * flip changes their class), so they get no flips; the synthetic set needs no augmentation.
 */
const AUGMENT: Record<DataSource['kind'], (size: number) => Augmentation> = {
  'fashion-mnist': () => ({ pad: 2, flip: true }),
  mnist: () => ({ pad: 2, flip: false }),
  idx: () => ({ pad: 2, flip: false }),
  cifar10: () => ({ pad: 4, flip: true }),
  cifar100: () => ({ pad: 4, flip: true }),
  folder: (size) => ({ pad: Math.round(size / 8), flip: true }),
  synthetic: () => ({ pad: 0, flip: false }),
};

/** The augmentation a kind of data gets when the user names none, for images `size` pixels high. */
export const augmentationFor = (kind: DataSource['kind'], size: number): Augmentation => AUGMENT[kind](size);

/** What the user gave explicitly; everything else comes from the defaults or the checkpoint. */
export interface TrainOverrides {
  epochs?: number;
  batch?: number;
  lr?: number;
  optimizer?: OptimizerSpec['kind'];
  momentum?: number;
  weightDecay?: number;
  nesterov?: boolean;
  schedule?: ScheduleKind;
  warmup?: number;
  labelSmoothing?: number;
  auxWeight?: number;
  pad?: number;
  flip?: boolean;
  aux?: boolean;
  limit?: number;
  seed?: number;
}

/** What a fresh run is: the model, graph and data it trains on, and the data's statistics. */
export interface RunIdentity {
  readonly model: string;
  readonly graph: string;
  readonly source: string;
  readonly kind: DataSource['kind'];
  readonly train: ImageSet;
  readonly normalise: Normalisation;
}

function optimizerOf(g: TrainOverrides): OptimizerSpec {
  if ((g.optimizer ?? 'sgd') === 'adamw')
    return { ...ADAMW, weightDecay: g.weightDecay ?? ADAMW.weightDecay };
  const momentum = g.momentum ?? SGD.momentum;
  return {
    kind: 'sgd',
    momentum,
    nesterov: (g.nesterov ?? SGD.nesterov) && momentum > 0,
    weightDecay: g.weightDecay ?? SGD.weightDecay,
  };
}

/** The configuration a fresh run takes: the defaults for its data and optimiser, with what was given. */
export function freshConfig(g: TrainOverrides, run: RunIdentity): TrainConfig {
  const epochs = g.epochs ?? DEFAULTS.epochs;
  const warmup = g.warmup ?? Math.min(DEFAULTS.warmup, epochs - 1);
  if (warmup >= epochs) {
    throw new ConvlabError(`--warmup ${warmup} must be shorter than the run (--epochs ${epochs})`);
  }
  const optimizer = optimizerOf(g);
  const augment = augmentationFor(run.kind, run.train.shape[1]);
  return {
    model: run.model,
    graph: run.graph,
    data: run.source,
    limit: g.limit ?? null,
    epochs,
    batch: g.batch ?? DEFAULTS.batch,
    lr: g.lr ?? DEFAULTS.lr[optimizer.kind],
    optimizer,
    schedule: g.schedule ?? DEFAULTS.schedule,
    warmup,
    labelSmoothing: g.labelSmoothing ?? 0,
    auxWeight: g.auxWeight ?? null,
    aux: g.aux ?? true,
    seed: g.seed ?? DEFAULTS.seed,
    augment: { pad: g.pad ?? augment.pad, flip: g.flip ?? augment.flip },
    normalise: run.normalise,
  };
}
