import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConvlabError } from '../ir/errors.js';
import { readBounded } from '../runtime/read_bounded.js';
import { checkLabels, type Dataset, dataset, type ImageSet, imageSet } from './dataset.js';
import { datasetDir, findFile, MAX_FILE_BYTES, readDataFile } from './files.js';

/**
 * The CIFAR binary versions (Krizhevsky, 2009; www.cs.toronto.edu/~kriz/cifar.html). A file is a
 * run of fixed-size records: CIFAR-10's are 1 label byte + 3072 pixel bytes, CIFAR-100's a coarse
 * and a fine label byte + 3072 pixel bytes. The pixels are already CHW (1024 red, 1024 green,
 * 1024 blue, each row-major 32x32), so a record's image is copied as it stands.
 */

const PIXELS = 3 * 32 * 32;
const SHAPE: [number, number, number] = [3, 32, 32];

export const CIFAR10_CLASSES = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
] as const;

export interface CifarRecords {
  readonly images: Uint8Array;
  /** One array per label byte of the record: CIFAR-10 [label], CIFAR-100 [coarse, fine]. */
  readonly labels: Int32Array[];
  readonly count: number;
}

/** Split the records of one or more files into contiguous images and label arrays. */
export function parseCifarRecords(
  files: readonly { file: string; bytes: Uint8Array }[],
  labelBytes: number,
): CifarRecords {
  const record = labelBytes + PIXELS;
  for (const { file, bytes } of files) {
    if (bytes.length === 0) throw new ConvlabError(`${file} is empty`);
    if (bytes.length % record !== 0) {
      throw new ConvlabError(
        `${file}: ${bytes.length} bytes is not a whole number of ${record}-byte records ` +
          `(${labelBytes} label byte${labelBytes > 1 ? 's' : ''} + ${PIXELS} pixels): truncated or not a CIFAR binary file`,
      );
    }
  }
  const count = files.reduce((n, f) => n + f.bytes.length / record, 0);
  const images = new Uint8Array(count * PIXELS);
  const labels = Array.from({ length: labelBytes }, () => new Int32Array(count));
  let i = 0;
  for (const { bytes } of files) {
    for (let at = 0; at < bytes.length; at += record, i++) {
      for (let k = 0; k < labelBytes; k++) labels[k]![i] = bytes[at + k]!;
      images.set(bytes.subarray(at + labelBytes, at + record), i * PIXELS);
    }
  }
  return { images, labels, count };
}

/** Class names from the archive's text file (one per line), or `fallback` when it is absent. */
function classNamesFrom(
  file: string,
  classes: number,
  fallback?: readonly string[],
): readonly string[] | undefined {
  if (!existsSync(file)) return fallback;
  const names = readBounded(file, 'namesBytes', 'class names file')
    .toString('utf8')
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length !== classes) {
    throw new ConvlabError(`${file} names ${names.length} classes, expected ${classes}`);
  }
  return names;
}

function cifarSet(
  name: string,
  records: CifarRecords,
  label: Int32Array,
  classes: number,
  classNames: readonly string[] | undefined,
  files: readonly string[],
): ImageSet {
  checkLabels(label, classes, files.length === 1 ? files[0]! : `${name} (${files.join(', ')})`);
  return imageSet({
    name,
    images: records.images,
    labels: label,
    count: records.count,
    shape: SHAPE,
    classes,
    ...(classNames ? { classNames } : {}),
  });
}

const read = (files: readonly string[], maxBytes: number) =>
  files.map((file) => ({ file, bytes: readDataFile(file, maxBytes) }));

/**
 * CIFAR-10: DIR (or DIR/cifar-10-batches-bin, as the archive unpacks) holding data_batch_1.bin ..
 * data_batch_5.bin and test_batch.bin; class names from batches.meta.txt when present.
 */
export function loadCifar10(dir: string, options: { maxBytes?: number } = {}): Dataset {
  const root = datasetDir(dir, 'cifar-10-batches-bin', 'test_batch.bin');
  const hint = 'download the binary version (cifar-10-binary.tar.gz) and pass the folder it unpacks to';
  const trainFiles = [1, 2, 3, 4, 5].map((i) =>
    findFile(root, [`data_batch_${i}.bin`], 'CIFAR-10 training batch', hint),
  );
  const testFiles = [findFile(root, ['test_batch.bin'], 'CIFAR-10 test batch', hint)];
  const maxBytes = options.maxBytes ?? MAX_FILE_BYTES;
  const train = parseCifarRecords(read(trainFiles, maxBytes), 1);
  const test = parseCifarRecords(read(testFiles, maxBytes), 1);
  const names = classNamesFrom(join(root, 'batches.meta.txt'), 10, CIFAR10_CLASSES);
  return dataset(
    'cifar10',
    cifarSet('cifar10/train', train, train.labels[0]!, 10, names, trainFiles),
    cifarSet('cifar10/test', test, test.labels[0]!, 10, names, testFiles),
  );
}

/**
 * CIFAR-100: DIR (or DIR/cifar-100-binary) holding train.bin and test.bin. `labels` picks the 100
 * fine classes (default) or the 20 coarse superclasses; names from fine_label_names.txt /
 * coarse_label_names.txt when present.
 */
export function loadCifar100(
  dir: string,
  options: { labels?: 'fine' | 'coarse'; maxBytes?: number } = {},
): Dataset {
  const root = datasetDir(dir, 'cifar-100-binary', 'test.bin');
  const hint = 'download the binary version (cifar-100-binary.tar.gz) and pass the folder it unpacks to';
  const trainFiles = [findFile(root, ['train.bin'], 'CIFAR-100 training file', hint)];
  const testFiles = [findFile(root, ['test.bin'], 'CIFAR-100 test file', hint)];
  const maxBytes = options.maxBytes ?? MAX_FILE_BYTES;
  const train = parseCifarRecords(read(trainFiles, maxBytes), 2);
  const test = parseCifarRecords(read(testFiles, maxBytes), 2);
  const fine = options.labels !== 'coarse';
  const [k, classes] = fine ? [1, 100] : [0, 20];
  const names = classNamesFrom(join(root, fine ? 'fine_label_names.txt' : 'coarse_label_names.txt'), classes);
  const name = fine ? 'cifar100' : 'cifar100-coarse';
  return dataset(
    name,
    cifarSet(`${name}/train`, train, train.labels[k]!, classes, names, trainFiles),
    cifarSet(`${name}/test`, test, test.labels[k]!, classes, names, testFiles),
  );
}
