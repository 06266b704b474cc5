import { TRAIN_PY } from './train_py.txt.js';

/**
 * `convlab train`'s defaults, as train.py takes them. The CLI fills this from src/train/config.ts
 * (a layer above this one), so train.py and convlab train cannot drift apart.
 */
export interface TrainDefaults {
  readonly epochs: number;
  readonly batch: number;
  readonly lr: { readonly sgd: number; readonly adamw: number };
  readonly schedule: string;
  readonly warmup: number;
  readonly seed: number;
  readonly sgd: { readonly momentum: number; readonly nesterov: boolean; readonly weightDecay: number };
  readonly adamw: {
    readonly beta1: number;
    readonly beta2: number;
    readonly eps: number;
    readonly weightDecay: number;
  };
  readonly stepMilestones: readonly number[];
  readonly stepGamma: number;
  /** Random-crop padding and flips by kind of data (folder's depends on the image size, in train.py). */
  readonly augment: Readonly<Record<string, { readonly pad: number; readonly flip: boolean }>>;
  readonly fashionMnistDir: string;
}

/** A JSON-like value as a Python literal (dicts, lists, tuples for pairs, True/False/None). */
export function pythonLiteral(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(pythonLiteral).join(', ')}]`;
  return `{${Object.entries(v as Record<string, unknown>)
    .map(([k, x]) => `${JSON.stringify(k)}: ${pythonLiteral(x)}`)
    .join(', ')}}`;
}

/** train.py for the model `name`, with convlab train's defaults written in. */
export function trainPy(name: string, d: TrainDefaults): string {
  const defaults = {
    epochs: d.epochs,
    batch: d.batch,
    lr: d.lr,
    schedule: d.schedule,
    warmup: d.warmup,
    seed: d.seed,
    sgd: d.sgd,
    adamw: d.adamw,
    step_milestones: d.stepMilestones,
    step_gamma: d.stepGamma,
  };
  const augment = `{${Object.entries(d.augment)
    .map(([k, a]) => `${JSON.stringify(k)}: (${a.pad}, ${a.flip ? 'True' : 'False'})`)
    .join(', ')}}`;
  return TRAIN_PY.replaceAll('__DEFAULTS__', pythonLiteral(defaults))
    .replaceAll('__AUGMENT__', augment)
    .replaceAll('__MODEL__', name)
    .replaceAll('__FASHION_MNIST_DIR__', d.fashionMnistDir);
}
