import { ConvlabError } from '../ir/errors.js';
import { checkLabels, type Dataset, dataset, type ImageSet, imageSet, inferClasses } from './dataset.js';
import { findFile, MAX_FILE_BYTES, readDataFile } from './files.js';

/**
 * The IDX format of MNIST and Fashion-MNIST (LeCun, yann.lecun.com/exdb/mnist): a 4-byte magic
 * 0x00 0x00 TYPE RANK, RANK big-endian uint32 dimensions, then the values row-major. Images are
 * uint8 [n, rows, cols], labels uint8 [n]. Files may be gzip'ed or raw: the gzip magic decides.
 */

/** Where Debian's dataset-fashion-mnist package installs Fashion-MNIST. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** Zalando's names, in label order, as torchvision.datasets.FashionMNIST.classes. */
export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;

export const MNIST_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] as const;

const UNSIGNED_BYTE = 0x08;
const TYPE_NAMES: Record<number, string> = {
  9: 'signed byte',
  11: 'int16',
  12: 'int32',
  13: 'float32',
  14: 'float64',
};

export interface IdxArray {
  readonly dims: readonly number[];
  /** A view into the file's bytes, no copy. */
  readonly data: Uint8Array;
}

const hex = (bytes: Uint8Array): string =>
  Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');

/** Parse an IDX array of unsigned bytes with `rank` dimensions; `file` names it in errors. */
export function parseIdx(bytes: Uint8Array, file: string, rank: number): IdxArray {
  const expected = `00 00 08 0${rank}`;
  if (bytes.length < 4)
    throw new ConvlabError(`${file}: ${bytes.length} bytes is too short for an IDX header`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new ConvlabError(`${file} is not an IDX file: magic ${hex(bytes)}, expected ${expected}`);
  }
  const type = bytes[2]!;
  if (type !== UNSIGNED_BYTE) {
    const holds = TYPE_NAMES[type]
      ? `${TYPE_NAMES[type]} values`
      : `unknown value type 0x${type.toString(16)}`;
    throw new ConvlabError(`${file}: IDX file of ${holds}; convlab reads unsigned bytes (magic ${expected})`);
  }
  if (bytes[3] !== rank) {
    throw new ConvlabError(
      `${file}: IDX array of ${bytes[3]} dimensions (magic ${hex(bytes)}), expected ${rank}`,
    );
  }
  const header = 4 + 4 * rank;
  if (bytes.length < header) throw new ConvlabError(`${file} is truncated inside its IDX header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, header);
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  if (dims.some((d) => d === 0))
    throw new ConvlabError(`${file}: IDX dimensions [${dims.join(',')}] hold no values`);
  const size = dims.reduce((a, b) => a * b, 1);
  const have = bytes.length - header;
  if (have < size) {
    throw new ConvlabError(
      `${file} is truncated: its header says [${dims.join(',')}] = ${size} bytes of data, the file holds ${have}`,
    );
  }
  if (have > size) {
    throw new ConvlabError(
      `${file} has ${have - size} bytes after the [${dims.join(',')}] its header declares`,
    );
  }
  return { dims, data: new Uint8Array(bytes.buffer, bytes.byteOffset + header, size) };
}

export interface IdxSplitFiles {
  readonly images: string;
  readonly labels: string;
}

/** Read one split from an images file [n,h,w] and a labels file [n]; labels are checked later. */
export function readIdxSplit(
  files: IdxSplitFiles,
  name: string,
  maxBytes = MAX_FILE_BYTES,
): { images: Uint8Array; labels: Int32Array; shape: [number, number, number] } {
  const images = parseIdx(readDataFile(files.images, maxBytes), files.images, 3);
  const labels = parseIdx(readDataFile(files.labels, maxBytes), files.labels, 1);
  const [n, h, w] = images.dims as [number, number, number];
  if (labels.dims[0] !== n) {
    throw new ConvlabError(
      `${name}: ${files.images} holds ${n} images but ${files.labels} holds ${labels.dims[0]} labels`,
    );
  }
  return { images: images.data, labels: new Int32Array(labels.data), shape: [1, h, w] };
}

/** The file names MNIST-style datasets ship under, gzip'ed or not (and Kaggle's dotted spelling). */
export function idxFileNames(split: 'train' | 't10k', kind: 'images' | 'labels'): string[] {
  const base = `${split}-${kind}-idx${kind === 'images' ? 3 : 1}-ubyte`;
  return [`${base}.gz`, base, `${split}-${kind}.idx${kind === 'images' ? 3 : 1}-ubyte`];
}

export interface IdxOptions {
  /** For messages and the ImageSet names; default 'idx'. */
  readonly name?: string;
  /** Labels must lie in [0, classes); default the largest label plus one. */
  readonly classes?: number;
  readonly classNames?: readonly string[];
  /** Appended to a missing-file message: how to get the files. */
  readonly hint?: string;
  /** Cap on a decompressed file (a gzip bomb stops there). */
  readonly maxBytes?: number;
}

/**
 * An MNIST-layout folder: train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
 * t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]. Every file is checked before it is used.
 */
export function loadIdx(dir: string, options: IdxOptions = {}): Dataset {
  const name = options.name ?? 'idx';
  const splitFiles = (split: 'train' | 't10k'): IdxSplitFiles => ({
    images: findFile(dir, idxFileNames(split, 'images'), `${name} ${split} images`, options.hint),
    labels: findFile(dir, idxFileNames(split, 'labels'), `${name} ${split} labels`, options.hint),
  });
  const files = { train: splitFiles('train'), test: splitFiles('t10k') };
  const train = readIdxSplit(files.train, `${name}/train`, options.maxBytes);
  const test = readIdxSplit(files.test, `${name}/test`, options.maxBytes);
  const classes = options.classes ?? inferClasses(train.labels, test.labels);
  checkLabels(train.labels, classes, files.train.labels);
  checkLabels(test.labels, classes, files.test.labels);
  const set = (split: 'train' | 'test', s: typeof train): ImageSet =>
    imageSet({
      name: `${name}/${split}`,
      images: s.images,
      labels: s.labels,
      count: s.labels.length,
      shape: s.shape,
      classes,
      ...(options.classNames ? { classNames: options.classNames } : {}),
    });
  return dataset(name, set('train', train), set('test', test));
}

export function loadMnist(dir: string, options: Pick<IdxOptions, 'maxBytes'> = {}): Dataset {
  return loadIdx(dir, { ...options, name: 'mnist', classes: 10, classNames: MNIST_CLASSES });
}

/** Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017), by default from Debian's dataset-fashion-mnist. */
export function loadFashionMnist(
  dir = FASHION_MNIST_DIR,
  options: Pick<IdxOptions, 'maxBytes'> = {},
): Dataset {
  return loadIdx(dir, {
    ...options,
    name: 'fashion-mnist',
    classes: 10,
    classNames: FASHION_MNIST_CLASSES,
    hint:
      dir === FASHION_MNIST_DIR
        ? 'install it with `apt-get install dataset-fashion-mnist`, or pass --data fashion-mnist:DIR'
        : 'pass the folder that holds the four IDX files',
  });
}
