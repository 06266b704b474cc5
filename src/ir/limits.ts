import { ConvlabError } from './errors.js';

/**
 * Every size a user can give convlab, bounded before any work is done, one bound per kind.
 *
 * Without these, a spec or an option a few characters long could make convlab allocate without
 * bound, loop for hours, overflow the stack, or carry `Infinity` into a cost or an ONNX dimension.
 * The bounds are far above any convolutional network this workbench is for (ImageNet at 224x224
 * has dimensions in the hundreds, the largest zoo model about 500 nodes), so a real model never
 * meets one; docs/limits.md lists them with the same reasons.
 */
export interface Limit {
  /** The largest value allowed (inclusive). */
  readonly max: number;
  /** What the bound protects, in words a user can act on. */
  readonly why: string;
}

const MiB = 1024 * 1024;

export const LIMITS = {
  /** Any one size in a shape a user gives: C, H or W of an input (--input, a spec's "input"). */
  dimension: {
    max: 65_536,
    why: 'larger sizes than any image network uses, and every shape and cost stays an exact integer',
  },
  /**
   * Any integer attribute of an op in a spec: kernel, stride, padding, dilation, pooling bins,
   * channels, features, groups. A kernel or a bin count is a loop and a list in the cost passes.
   */
  attribute: {
    max: 65_536,
    why: 'kernels, strides, paddings, bins and channel counts beyond it only exhaust memory',
  },
  /** Nodes of one spec; the analysis passes and the ONNX writer are linear in them. */
  nodes: { max: 100_000, why: 'two hundred times the largest zoo model' },
  /** Inputs of one node (a concat may read the same node more than once). */
  inputs: { max: 100_000, why: 'as many as the nodes a spec may have' },
  /** Elements of one tensor at the batch asked for (a node's output, a parameter). */
  tensorElements: {
    max: 2 ** 31 - 1,
    why: '8 GiB of float32 in one tensor; beyond it typed arrays and onnxruntime cannot hold it',
  },
  /** --batch of every command. */
  batch: { max: 65_536, why: 'a batch this large no longer fits in memory for any network' },
  /** A JSON spec file. */
  specBytes: { max: 64 * MiB, why: 'a spec at the node limit is a few MiB' },
  /** One image file (--image, an image-folder data set). */
  imageBytes: { max: 256 * MiB, why: 'larger than any photograph; guards against devices such as /dev/zero' },
  /** A weights or checkpoint safetensors file. */
  weightsBytes: { max: 2 ** 31 - 1, why: 'the largest file Node reads into one buffer' },
  /** One data set file (IDX, CIFAR binary batch), gzip-compressed or not, after decompression. */
  datasetBytes: { max: 2 ** 31 - 1, why: 'the largest file Node reads into one buffer' },
  /** A data set's text file of class names (CIFAR's batches.meta.txt). */
  namesBytes: { max: MiB, why: 'a thousand class names take a few KiB' },
  /** --pad of train: zero padding added around each image before the random crop. */
  pad: { max: 1024, why: 'padding beyond the image itself only crops zeros, and costs memory per image' },
  /** --epochs of train. */
  epochs: { max: 1_000_000, why: 'beyond any schedule; keeps the step count an exact integer' },
  /** --limit: examples taken from a data set. */
  examples: { max: 2 ** 31 - 1, why: 'the largest index of a data set' },
} as const satisfies Record<string, Limit>;

export type LimitKind = keyof typeof LIMITS;

/** The one-line message for `field` holding `value` above the bound of `kind`, or undefined when within it. */
export function limitProblem(kind: LimitKind, field: string, value: number): string | undefined {
  const { max, why } = LIMITS[kind];
  if (value <= max) return undefined;
  return `${field} is ${formatValue(value)}, above the limit of ${formatValue(max)} (${why})`;
}

/** Throw a ConvlabError (exit 2) when `value` of `field` is above the bound of `kind`. */
export function checkLimit(kind: LimitKind, field: string, value: number): void {
  const problem = limitProblem(kind, field, value);
  if (problem) throw new ConvlabError(problem);
}

const formatValue = (v: number): string =>
  Number.isSafeInteger(v) ? String(v) : Number.isFinite(v) ? v.toPrecision(4) : String(v);
