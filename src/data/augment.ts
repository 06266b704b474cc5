import * as ort from 'onnxruntime-node';
import { ConvlabError } from '../ir/errors.js';
import { BATCH_DIM, modelBytes, NamedGraph } from '../onnx/emit.js';
import { DataType, type GraphProto, type ValueInfoProto } from '../onnx/proto.js';
import { openSession, type SessionOptions } from '../runtime/session.js';
import { type ImageSet, sampleSize } from './dataset.js';
import type { AugmentParams } from './loader.js';

/**
 * Augmentation and normalisation as an ONNX graph, so onnxruntime does the per-pixel work and
 * JavaScript only draws three random numbers a sample (loader.ts's drawAugment).
 *
 * Training variant, for a uint8 batch [N,C,H,W], crop offsets [N,2] and flip flags [N]:
 *   Pad with p zeros on every side (torchvision's RandomCrop(H, padding=p), fill 0)
 *   -> crop each sample's H x W window at its own (top, left): GatherElements along H with the
 *      index grid top + i, then along W with left + j
 *   -> mirrored samples (RandomHorizontalFlip) take left + (W-1-j) instead, the column grid chosen
 *      per sample by Where
 *   -> Cast to float, x * 1/(255 std) - mean/std per channel (ToTensor then Normalize, folded).
 * The crop and flip move uint8 pixels, a quarter of the bytes of float. The evaluation variant
 * only casts and normalises. The batch dimension is symbolic, so one model serves every batch size.
 */

export interface AugmentOptions {
  /** [C, H, W] of the images. */
  readonly shape: readonly [number, number, number];
  /** Per-channel mean and standard deviation of the pixels scaled to [0, 1] (channelStats). */
  readonly mean: readonly number[];
  readonly std: readonly number[];
  /** Zero padding before the random crop, on each side; 0 (the default) for no crop. */
  readonly pad?: number;
  /** Random horizontal flips. */
  readonly flip?: boolean;
}

export type AugmentVariant = 'train' | 'eval';

/** Tensor names of the graph's inputs and output, overridable so it can be spliced into another graph. */
export interface AugmentNames {
  readonly images: string;
  readonly crops: string;
  readonly flips: string;
  readonly output: string;
  /** Prefix of every internal node and initializer name. */
  readonly prefix: string;
}

export const AUGMENT_NAMES: AugmentNames = {
  images: 'images',
  crops: 'crops',
  flips: 'flips',
  output: 'output',
  prefix: 'augment/',
};

function check(o: AugmentOptions): void {
  const [c, h, w] = o.shape;
  if (![c, h, w].every((d) => Number.isInteger(d) && d > 0)) {
    throw new ConvlabError(`augmentation: image shape ${o.shape.join('x')} must be positive integers`);
  }
  if (o.mean.length !== c || o.std.length !== c) {
    throw new ConvlabError(`augmentation: ${c} channels need ${c} means and ${c} standard deviations`);
  }
  if (!o.std.every((s) => s > 0) || !o.mean.every(Number.isFinite)) {
    throw new ConvlabError(`augmentation: standard deviations must be positive, means finite`);
  }
  const pad = o.pad ?? 0;
  if (!Number.isInteger(pad) || pad < 0)
    throw new ConvlabError(`augmentation: padding must be an integer >= 0, got ${pad}`);
}

/** Whether the training variant does anything the evaluation variant does not. */
export const augments = (o: AugmentOptions): boolean => (o.pad ?? 0) > 0 || o.flip === true;

/** The augmentation (or evaluation) graph as plain ONNX data. */
export function augmentGraph(
  o: AugmentOptions,
  variant: AugmentVariant,
  names: AugmentNames = AUGMENT_NAMES,
): GraphProto {
  check(o);
  const [c, h, w] = o.shape;
  const pad = variant === 'train' ? (o.pad ?? 0) : 0;
  const flip = variant === 'train' && o.flip === true;
  const g = new NamedGraph(names.prefix);
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  /** Column k of the [N,2] offsets as [N,1,1,1]. */
  const offset = (k: number, local: string) =>
    g.node('Reshape', `${local}`, [
      g.node('Slice', `${local}/slice`, [
        names.crops,
        g.int64(`${local}/start`, [k]),
        g.int64(`${local}/end`, [k + 1]),
        g.int64(`${local}/axis`, [1]),
      ]),
      g.int64(`${local}/shape`, [-1, 1, 1, 1]),
    ]);

  let x = names.images;
  if (pad > 0) {
    x = g.node('Pad', 'pad', [x, g.int64('pad/pads', [0, 0, pad, pad, 0, 0, pad, pad])], {
      mode: { s: 'constant' },
    });
    // rows[n, c, i, j] = top[n] + i over the padded width, then the columns of that band.
    const rows = g.node('Add', 'rows', [offset(0, 'top'), g.int64('rows/i', range(h), [1, 1, h, 1])]);
    const rowGrid = g.node('Expand', 'rows/grid', [rows, g.int64('rows/grid/shape', [1, c, 1, w + 2 * pad])]);
    x = g.node('GatherElements', 'crop_rows', [x, rowGrid], { axis: { i: 2 } });
  }
  if (pad > 0 || flip) {
    let columns = g.int64('columns/j', range(w), [1, 1, 1, w]);
    if (flip) {
      const mirrored = g.int64('columns/mirrored', range(w).reverse(), [1, 1, 1, w]);
      const flips = g.node('Reshape', 'flips', [names.flips, g.int64('flips/shape', [-1, 1, 1, 1])]);
      columns = g.node('Where', 'columns/flip', [flips, mirrored, columns]);
    }
    if (pad > 0) columns = g.node('Add', 'columns', [offset(1, 'left'), columns]);
    const columnGrid = g.node('Expand', 'columns/grid', [
      columns,
      g.int64('columns/grid/shape', [1, c, h, 1]),
    ]);
    x = g.node('GatherElements', 'crop_columns', [x, columnGrid], { axis: { i: 3 } });
  }
  x = g.node('Cast', 'cast', [x], { to: { i: DataType.FLOAT } });
  const scale = o.std.map((s) => 1 / (255 * s));
  const shift = o.mean.map((m, i) => -m / o.std[i]!);
  x = g.node('Mul', 'scale', [x, g.float('scale/value', scale, [1, c, 1, 1])]);
  g.node('Add', 'shift', [x, g.float('shift/value', shift, [1, c, 1, 1])], {}, names.output);

  const inputs: ValueInfoProto[] = [
    { name: names.images, elemType: DataType.UINT8, shape: [BATCH_DIM, c, h, w] },
  ];
  if (pad > 0) inputs.push({ name: names.crops, elemType: DataType.INT64, shape: [BATCH_DIM, 2] });
  if (flip) inputs.push({ name: names.flips, elemType: DataType.BOOL, shape: [BATCH_DIM] });
  return {
    name: `augment_${variant}`,
    nodes: g.nodes,
    initializers: g.initializers,
    inputs,
    outputs: [{ name: names.output, elemType: DataType.FLOAT, shape: [BATCH_DIM, c, h, w] }],
  };
}

/** The `.onnx` bytes of augmentGraph. */
export function augmentModel(o: AugmentOptions, variant: AugmentVariant): Uint8Array {
  return modelBytes(augmentGraph(o, variant), {
    docString: `convlab ${variant === 'train' ? 'augmentation' : 'evaluation preprocessing'}`,
  });
}

/** One augmentation graph in an onnxruntime session: uint8 batch in, normalised float32 batch out. */
export class Augmenter {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly options: AugmentOptions,
    readonly variant: AugmentVariant,
  ) {}

  static async create(
    o: AugmentOptions,
    variant: AugmentVariant,
    session: SessionOptions = {},
  ): Promise<Augmenter> {
    return new Augmenter(
      await openSession(augmentModel(o, variant), session, `the ${variant} augmentation graph`),
      o,
      variant,
    );
  }

  /** `images` holds `batch` samples; `params` (from drawAugment) is needed by a training variant that crops or flips. */
  async run(images: Uint8Array, batch: number, params?: AugmentParams): Promise<ort.TypedTensor<'float32'>> {
    const [c, h, w] = this.options.shape;
    if (images.length !== batch * c * h * w) {
      throw new ConvlabError(`augmentation: ${images.length} bytes is not ${batch} images of ${c}x${h}x${w}`);
    }
    const feeds: Record<string, ort.Tensor> = {
      [AUGMENT_NAMES.images]: new ort.Tensor('uint8', images, [batch, c, h, w]),
    };
    const names = this.session.inputNames;
    if (names.includes(AUGMENT_NAMES.crops) || names.includes(AUGMENT_NAMES.flips)) {
      if (!params || params.flips.length !== batch || params.crops.length !== 2 * batch) {
        throw new ConvlabError(
          `augmentation: the training graph needs crop offsets and flips for ${batch} samples`,
        );
      }
      if (names.includes(AUGMENT_NAMES.crops))
        feeds[AUGMENT_NAMES.crops] = new ort.Tensor('int64', params.crops, [batch, 2]);
      if (names.includes(AUGMENT_NAMES.flips))
        feeds[AUGMENT_NAMES.flips] = new ort.Tensor('bool', params.flips, [batch]);
    }
    const out = await this.session.run(feeds);
    return out[AUGMENT_NAMES.output] as ort.TypedTensor<'float32'>;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

export interface ChannelStats {
  readonly mean: number[];
  readonly std: number[];
}

/**
 * Per-channel mean and (population) standard deviation of a set's pixels scaled to [0, 1], the
 * figures Normalize takes. onnxruntime sums each image's channels (float32: exact for the pixel
 * sums of images up to 256x256, about 1e-7 relative for the squares); the per-image sums, C numbers
 * an image, are added up in JavaScript doubles.
 */
export async function channelStats(set: ImageSet, session: SessionOptions = {}): Promise<ChannelStats> {
  const [c, h, w] = set.shape;
  const g = new NamedGraph('stats/');
  const axes = g.int64('axes', [2, 3]);
  const x = g.node('Cast', 'cast', ['images'], { to: { i: DataType.FLOAT } }, g.at('x'));
  const x2 = g.node('Mul', 'square', [x, x], {}, g.at('x2'));
  g.node('ReduceSum', 'sum', [x, axes], { keepdims: { i: 0 } }, 'sum');
  g.node('ReduceSum', 'sum2', [x2, axes], { keepdims: { i: 0 } }, 'sum2');
  const graph: GraphProto = {
    name: 'channel_stats',
    nodes: g.nodes,
    initializers: g.initializers,
    inputs: [{ name: 'images', elemType: DataType.UINT8, shape: [BATCH_DIM, c, h, w] }],
    outputs: [
      { name: 'sum', elemType: DataType.FLOAT, shape: [BATCH_DIM, c] },
      { name: 'sum2', elemType: DataType.FLOAT, shape: [BATCH_DIM, c] },
    ],
  };
  const model = modelBytes(graph);
  const s = await openSession(model, session, 'the channel statistics graph');
  const sum = new Float64Array(c);
  const sum2 = new Float64Array(c);
  const size = sampleSize(set);
  const chunk = Math.max(1, Math.floor(2 ** 22 / size));
  try {
    for (let from = 0; from < set.count; from += chunk) {
      const n = Math.min(chunk, set.count - from);
      const images = set.images.subarray(from * size, (from + n) * size);
      const out = await s.run({ images: new ort.Tensor('uint8', images, [n, c, h, w]) });
      const a = out.sum!.data as Float32Array;
      const b = out.sum2!.data as Float32Array;
      for (let i = 0; i < n * c; i++) {
        sum[i % c]! += a[i]!;
        sum2[i % c]! += b[i]!;
      }
    }
  } finally {
    await s.release();
  }
  const count = set.count * h * w;
  const mean = Array.from(sum, (v) => v / count / 255);
  const std = Array.from(sum2, (v, k) => Math.sqrt(Math.max(0, v / count / 255 ** 2 - mean[k]! ** 2)));
  const flat = std.findIndex((s) => !(s > 1e-5)); // float32 sums leave a constant channel a hair above 0
  if (flat >= 0) {
    throw new ConvlabError(
      `the training images of ${set.name} are constant in channel ${flat} (every pixel ${Math.round(mean[flat]! * 255)}): ` +
        'there is nothing to learn or to normalise; check the data files',
    );
  }
  return { mean, std };
}
