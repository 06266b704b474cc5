import { ConvlabError } from '../ir/errors.js';

/**
 * A labelled image set held in memory: every image as uint8 in NCHW order (sample after sample,
 * channel plane after channel plane), so a sample is one contiguous run of C*H*W bytes and a batch is
 * assembled by copying whole samples. Pixels stay uint8 until the augmentation graph casts them in
 * onnxruntime: a quarter of the memory of float32, and no JavaScript pass over the pixels.
 */
export interface ImageSet {
  /** Where it came from, for messages: 'fashion-mnist/train'. */
  readonly name: string;
  /** count * C * H * W bytes, NCHW. */
  readonly images: Uint8Array;
  /** One label per image, each in [0, classes). */
  readonly labels: Int32Array;
  readonly count: number;
  readonly shape: readonly [number, number, number];
  readonly classes: number;
  readonly classNames?: readonly string[];
}

/** A training split and a test split of the same classes and image shape. */
export interface Dataset {
  readonly name: string;
  readonly train: ImageSet;
  readonly test: ImageSet;
}

export const sampleSize = (set: Pick<ImageSet, 'shape'>): number =>
  set.shape[0] * set.shape[1] * set.shape[2];

/**
 * An ImageSet after checking what the loaders cannot get wrong silently: positive dimensions, a
 * byte count and a label count that match the image count, labels in [0, classes).
 */
export function imageSet(fields: ImageSet): ImageSet {
  const { name, images, labels, count, shape, classes, classNames } = fields;
  if (!shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new ConvlabError(`${name}: image shape [${shape.join(',')}] must be positive integers`);
  }
  if (!Number.isInteger(count) || count <= 0) throw new ConvlabError(`${name}: holds no images`);
  if (images.length !== count * sampleSize(fields)) {
    throw new ConvlabError(
      `${name}: ${images.length} pixel bytes for ${count} images of [${shape.join(',')}] (expected ${count * sampleSize(fields)})`,
    );
  }
  if (labels.length !== count) throw new ConvlabError(`${name}: ${count} images but ${labels.length} labels`);
  if (!Number.isInteger(classes) || classes < 1)
    throw new ConvlabError(`${name}: class count ${classes} is not valid`);
  if (classNames && classNames.length !== classes) {
    throw new ConvlabError(`${name}: ${classNames.length} class names for ${classes} classes`);
  }
  checkLabels(labels, classes, name);
  return classNames
    ? { name, images, labels, count, shape, classes, classNames }
    : { name, images, labels, count, shape, classes };
}

/** Every label in [0, classes); `where` names the file or split in the message. */
export function checkLabels(labels: Int32Array, classes: number, where: string): void {
  const bad = labels.findIndex((l) => l < 0 || l >= classes);
  if (bad >= 0) {
    throw new ConvlabError(
      `${where}: label ${labels[bad]} of sample ${bad} is out of range for ${classes} classes (labels run 0..${classes - 1})`,
    );
  }
}

/** A dataset after checking that both splits share the image shape and the classes. */
export function dataset(name: string, train: ImageSet, test: ImageSet): Dataset {
  if (train.shape.join('x') !== test.shape.join('x')) {
    throw new ConvlabError(
      `${name}: training images are ${train.shape.join('x')} but test images are ${test.shape.join('x')}`,
    );
  }
  if (train.classes !== test.classes) {
    throw new ConvlabError(
      `${name}: the training split has ${train.classes} classes, the test split ${test.classes}`,
    );
  }
  return { name, train, test };
}

/** The first n samples (all of them when n >= count), sharing memory with `set`: `--limit N`. */
export function limit(set: ImageSet, n: number): ImageSet {
  if (!Number.isInteger(n) || n < 1) throw new ConvlabError(`--limit must be a positive integer, got ${n}`);
  if (n >= set.count) return set;
  return {
    ...set,
    images: set.images.subarray(0, n * sampleSize(set)),
    labels: set.labels.subarray(0, n),
    count: n,
  };
}

/** The largest label plus one: the class count of a format that does not name its classes. */
export function inferClasses(...labels: Int32Array[]): number {
  let max = -1;
  for (const l of labels) for (const v of l) if (v > max) max = v;
  return max + 1;
}
