import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { inflate } from '../../src/data/files.js';
import {
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_DIR,
  loadFashionMnist,
  loadIdx,
  loadMnist,
  parseIdx,
} from '../../src/data/idx.js';
import { ConvlabError } from '../../src/ir/errors.js';
import { expectUserError } from '../support/errors.js';
import { mulberry32, mutate } from '../support/fuzz.js';
import { idxBytes, ramp, tinyIdx, writeIdx } from '../support/idx.js';
import { ROOT } from '../support/paths.js';
import { tempDir } from '../support/tmp.js';

const tmp = tempDir('idx');
let dirs = 0;
/** A fresh folder holding the tiny dataset, for a test to break. */
const fresh = (gzip = true) => writeIdx(join(tmp, `d${dirs++}`), tinyIdx(), gzip);

describe('IDX parsing', () => {
  it('reads gzip and raw files alike', () => {
    for (const gzip of [true, false]) {
      const d = loadIdx(fresh(gzip), { classes: 10 });
      const t = tinyIdx();
      expect(d.train.count).toBe(6);
      expect(d.test.count).toBe(4);
      expect(d.train.shape).toEqual([1, 3, 5]);
      expect(d.train.images).toEqual(t.train.images);
      expect(d.test.images).toEqual(t.test.images);
      expect([...d.train.labels]).toEqual([...t.train.labels]);
      expect([...d.test.labels]).toEqual([...t.test.labels]);
      expect(d.train.labels).toBeInstanceOf(Int32Array);
    }
  });

  it('infers the class count of idx:DIR from the largest label of both splits', () => {
    expect(loadIdx(fresh()).train.classes).toBe(10);
    const t = tinyIdx();
    t.train.labels.fill(1);
    t.test.labels.fill(0);
    t.test.labels[2] = 3;
    const d = loadIdx(writeIdx(join(tmp, 'infer'), t, false));
    expect(d.train.classes).toBe(4);
    expect(d.test.classes).toBe(4);
  });

  it('accepts the dotted file names of some mirrors', () => {
    const dir = fresh(false);
    for (const f of readdirSync(dir)) renameSync(join(dir, f), join(dir, f.replace('-idx', '.idx')));
    expect(loadIdx(dir).train.count).toBe(6);
  });

  it('reads the committed Fashion-MNIST fixture (gzip train, raw test) with class names', () => {
    const d = loadIdx(join(ROOT, 'test', 'fixtures', 'data', 'fashion-mnist-tiny'), {
      name: 'fashion-mnist',
      classes: 10,
      classNames: FASHION_MNIST_CLASSES,
    });
    expect([...d.train.labels]).toEqual([9, 0, 0, 3]);
    expect([...d.test.labels]).toEqual([9, 2, 1]);
    const sums = (s: typeof d.train) =>
      Array.from({ length: s.count }, (_, i) =>
        s.images.subarray(i * 784, (i + 1) * 784).reduce((a, b) => a + b, 0),
      );
    // Pixel sums computed by Python from the original files.
    expect(sums(d.train)).toEqual([76247, 84598, 28662, 46649]);
    expect(sums(d.test)).toEqual([33456, 100994, 51520]);
    expect(d.train.classNames?.[9]).toBe('Ankle boot');
  });

  it('loads MNIST as 10 named digit classes', () => {
    const d = loadMnist(fresh());
    expect(d.name).toBe('mnist');
    expect(d.train.classes).toBe(10);
    expect(d.train.classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  });
});

describe('IDX bad input is a ConvlabError before any work', () => {
  it('missing file: says which file and where it looked', async () => {
    const dir = fresh();
    renameSync(join(dir, 't10k-labels-idx1-ubyte.gz'), join(dir, 'elsewhere'));
    await expectUserError(
      () => loadIdx(dir),
      'missing idx t10k labels',
      't10k-labels-idx1-ubyte.gz',
      't10k-labels-idx1-ubyte,',
      `in ${dir}`,
    );
    await expectUserError(
      () => loadFashionMnist(join(tmp, 'nowhere')),
      'missing fashion-mnist train images',
      'does not exist',
    );
  });

  it('wrong magic, wrong value type, wrong rank', async () => {
    const images = idxBytes([6, 3, 5], ramp(90));
    await expectUserError(
      () => parseIdx(Uint8Array.from([8, 3, 0, 0, ...images.subarray(4)]), 'f', 3),
      'not an IDX file',
      '08 03 00 00',
    );
    await expectUserError(
      () => parseIdx(idxBytes([6, 3, 5], ramp(360), 0x0d), 'f', 3),
      'float32 values',
      'unsigned bytes',
    );
    await expectUserError(
      () => parseIdx(idxBytes([6], ramp(6)), 'labels.idx', 3),
      'labels.idx',
      '1 dimensions',
      'expected 3',
    );
    await expectUserError(() => parseIdx(Uint8Array.from([0, 0]), 'f', 1), 'too short');
    const dir = fresh(false);
    copyFileSync(join(dir, 'train-labels-idx1-ubyte'), join(dir, 'train-images-idx3-ubyte'));
    await expectUserError(() => loadIdx(dir), 'train-images-idx3-ubyte', '1 dimensions');
  });

  it('truncated data or header, and trailing bytes', async () => {
    const full = idxBytes([6, 3, 5], ramp(90));
    await expectUserError(
      () => parseIdx(full.subarray(0, full.length - 1), 'img', 3),
      'img is truncated',
      '[6,3,5] = 90 bytes',
      'holds 89',
    );
    await expectUserError(() => parseIdx(full.subarray(0, 10), 'img', 3), 'truncated inside its IDX header');
    await expectUserError(() => parseIdx(Uint8Array.from([...full, 1, 2]), 'img', 3), '2 bytes after');
    await expectUserError(() => parseIdx(idxBytes([0, 3, 5], new Uint8Array()), 'img', 3), 'hold no values');
    const dir = fresh();
    const file = join(dir, 'train-images-idx3-ubyte.gz');
    writeFileSync(file, gzipSync(full.subarray(0, 50)));
    await expectUserError(() => loadIdx(dir), file, 'truncated');
  });

  it('image and label counts that differ', async () => {
    const dir = fresh(false);
    writeFileSync(join(dir, 'train-labels-idx1-ubyte'), idxBytes([5], Uint8Array.from([0, 1, 2, 3, 4])));
    await expectUserError(() => loadIdx(dir), 'holds 6 images but', 'holds 5 labels');
  });

  it('labels out of range for the class count', async () => {
    const t = tinyIdx();
    t.test.labels[3] = 10;
    const dir = writeIdx(join(tmp, 'range'), t, true);
    await expectUserError(
      () => loadMnist(dir),
      't10k-labels-idx1-ubyte.gz',
      'label 10 of sample 3',
      'out of range for 10 classes',
    );
    await expectUserError(() => loadIdx(dir, { classes: 10 }), 'label 10');
  });

  it('train and test images of different sizes', async () => {
    const t = tinyIdx();
    const dir = writeIdx(join(tmp, 'sizes'), t, false);
    writeFileSync(join(dir, 't10k-images-idx3-ubyte'), idxBytes([4, 5, 3], t.test.images));
    await expectUserError(() => loadIdx(dir), 'training images are 1x3x5 but test images are 1x5x3');
  });

  it('corrupt gzip: flipped bytes and a cut stream', async () => {
    const dir = fresh();
    const file = join(dir, 'train-images-idx3-ubyte.gz');
    const gz = readFileSync(file);
    const flipped = Uint8Array.from(gz);
    flipped[12] = (flipped[12]! + 77) % 256;
    flipped[gz.length - 6] = (flipped[gz.length - 6]! + 1) % 256; // the CRC or length trailer
    writeFileSync(file, flipped);
    await expectUserError(() => loadIdx(dir), file, 'not valid gzip');
    writeFileSync(file, gz.subarray(0, gz.length - 10));
    await expectUserError(() => loadIdx(dir), file, 'not valid gzip');
  });

  it('a gzip bomb stops at the output cap', async () => {
    const dir = fresh();
    const file = join(dir, 'train-images-idx3-ubyte.gz');
    const bomb = gzipSync(new Uint8Array(64 * 2 ** 20), { level: 9 });
    expect(bomb.length).toBeLessThan(100_000);
    writeFileSync(file, bomb);
    await expectUserError(
      () => loadIdx(dir, { maxBytes: 2 ** 20 }),
      file,
      'inflates to more than 1.0 MiB',
      'gzip bomb',
    );
  });

  it('fuzz: truncations and byte flips parse or throw ConvlabError, nothing else', () => {
    const t = tinyIdx();
    const files = [idxBytes([6, 3, 5], t.train.images), idxBytes([6], t.train.labels)];
    const random = mulberry32(1234);
    let parsed = 0;
    let rejected = 0;
    for (let i = 0; i < 3000; i++) {
      const rank = i % 2 === 0 ? 3 : 1;
      const base = files[i % 2]!;
      const bytes = mutate(i % 4 < 2 ? base : gzipSync(base), random);
      try {
        const a = parseIdx(inflate(bytes, 'fuzz', 2 ** 16), 'fuzz', rank);
        expect(a.data.length).toBe(a.dims.reduce((x, y) => x * y, 1));
        parsed++;
      } catch (e) {
        if (!(e instanceof ConvlabError)) throw e;
        rejected++;
      }
    }
    expect(parsed).toBeGreaterThan(100);
    expect(rejected).toBeGreaterThan(100);
  });

  it('fuzz: whole folders with one broken file load or throw ConvlabError', () => {
    const random = mulberry32(99);
    const dir = fresh();
    const names = readdirSync(dir);
    const originals = names.map((n) => readFileSync(join(dir, n)));
    for (let i = 0; i < 150; i++) {
      const k = i % names.length;
      const file = join(dir, names[k]!);
      const raw = inflate(originals[k]!, file);
      writeFileSync(file, random() < 0.5 ? mutate(raw, random) : gzipSync(mutate(raw, random)));
      try {
        const d = loadIdx(dir);
        expect(d.train.labels.every((l) => l >= 0 && l < d.train.classes)).toBe(true);
      } catch (e) {
        if (!(e instanceof ConvlabError)) throw e;
      }
      writeFileSync(file, originals[k]!);
    }
  });
});

describe.skipIf(!existsSync(FASHION_MNIST_DIR))('real Fashion-MNIST (Debian dataset-fashion-mnist)', () => {
  it('loads 60000 + 10000 images of 1x28x28 in 10 balanced classes', () => {
    const t0 = performance.now();
    const d = loadFashionMnist();
    const ms = performance.now() - t0;
    console.error(`Fashion-MNIST loaded in ${ms.toFixed(0)} ms`);
    expect(d.name).toBe('fashion-mnist');
    expect(d.train.count).toBe(60000);
    expect(d.test.count).toBe(10000);
    expect(d.train.shape).toEqual([1, 28, 28]);
    expect(d.train.images.length).toBe(60000 * 784);
    expect(d.train.classes).toBe(10);
    expect(d.train.classNames).toEqual(FASHION_MNIST_CLASSES);
    for (const [set, per] of [
      [d.train, 6000],
      [d.test, 1000],
    ] as const) {
      const counts = new Array<number>(10).fill(0);
      for (const l of set.labels) counts[l]!++;
      expect(counts).toEqual(new Array(10).fill(per));
    }
    // The committed fixture is the first samples of the real files.
    const tiny = loadIdx(join(ROOT, 'test', 'fixtures', 'data', 'fashion-mnist-tiny'));
    expect(d.train.images.subarray(0, 4 * 784)).toEqual(tiny.train.images);
    expect(d.test.images.subarray(0, 3 * 784)).toEqual(tiny.test.images);
  });

  it('finds the files in a copy given as fashion-mnist:DIR', () => {
    const dir = join(tmp, 'fm-copy');
    mkdirSync(dir);
    for (const f of readdirSync(FASHION_MNIST_DIR)) {
      if (f.endsWith('.gz')) copyFileSync(join(FASHION_MNIST_DIR, f), join(dir, f));
    }
    expect(loadFashionMnist(dir).test.count).toBe(10000);
  });
});
