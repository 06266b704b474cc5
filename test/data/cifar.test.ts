import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CIFAR10_CLASSES, loadCifar10, loadCifar100, parseCifarRecords } from '../../src/data/cifar.js';
import { ConvlabError } from '../../src/ir/errors.js';
import { expectUserError } from '../support/errors.js';
import { mulberry32, mutate } from '../support/fuzz.js';
import { tempDir } from '../support/tmp.js';

const PIXELS = 3072;
const tmp = tempDir('cifar');
let dirs = 0;

/** Records of `labels.length` label bytes each + an image whose every byte is its sample id + k. */
function records(labels: number[][], first: number): Uint8Array {
  const labelBytes = labels[0]!.length;
  const out = new Uint8Array(labels.length * (labelBytes + PIXELS));
  labels.forEach((ls, i) => {
    const at = i * (labelBytes + PIXELS);
    out.set(ls, at);
    for (let p = 0; p < PIXELS; p++) out[at + labelBytes + p] = (first + i + p) % 256;
  });
  return out;
}

/** CIFAR-10 in the archive's layout: 5 training batches of 2 records, a test batch of 3. */
function writeCifar10(inner = false): string {
  const root = join(tmp, `c10-${dirs++}`);
  const dir = inner ? join(root, 'cifar-10-batches-bin') : root;
  mkdirSync(dir, { recursive: true });
  for (let b = 1; b <= 5; b++) {
    writeFileSync(join(dir, `data_batch_${b}.bin`), records([[b - 1], [b + 4]], 10 * b));
  }
  writeFileSync(join(dir, 'test_batch.bin'), records([[3], [1], [4]], 200));
  return root;
}

function writeCifar100(): string {
  const dir = join(tmp, `c100-${dirs++}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'train.bin'),
    records(
      [
        [0, 99],
        [19, 5],
        [7, 50],
      ],
      0,
    ),
  );
  writeFileSync(join(dir, 'test.bin'), records([[1, 2]], 9));
  return dir;
}

describe('CIFAR binary', () => {
  it('CIFAR-10: concatenates the 5 batches in order, images already CHW', () => {
    for (const inner of [false, true]) {
      const d = loadCifar10(writeCifar10(inner));
      expect(d.train.count).toBe(10);
      expect(d.test.count).toBe(3);
      expect(d.train.shape).toEqual([3, 32, 32]);
      expect([...d.train.labels]).toEqual([0, 5, 1, 6, 2, 7, 3, 8, 4, 9]);
      expect([...d.test.labels]).toEqual([3, 1, 4]);
      expect(d.train.classNames).toEqual(CIFAR10_CLASSES);
      // Sample 3 is batch 2's second record: bytes (20 + 1 + p) % 256; its green plane starts at 1024.
      const s3 = d.train.images.subarray(3 * PIXELS, 4 * PIXELS);
      expect(s3[0]).toBe(21);
      expect(s3[1024]).toBe((21 + 1024) % 256);
      expect(d.test.images[2 * PIXELS + 5]).toBe(207);
    }
  });

  it('CIFAR-10 class names from batches.meta.txt', () => {
    const dir = writeCifar10();
    writeFileSync(join(dir, 'batches.meta.txt'), `${'abcdefghij'.split('').join('\n')}\n\n`);
    expect(loadCifar10(dir).train.classNames).toEqual('abcdefghij'.split(''));
    writeFileSync(join(dir, 'batches.meta.txt'), 'a\nb\n');
    expect(() => loadCifar10(dir)).toThrow(/names 2 classes, expected 10/);
  });

  it('CIFAR-100: fine labels by default, coarse on request', () => {
    const dir = writeCifar100();
    const fine = loadCifar100(dir);
    expect(fine.train.classes).toBe(100);
    expect([...fine.train.labels]).toEqual([99, 5, 50]);
    expect([...fine.test.labels]).toEqual([2]);
    const coarse = loadCifar100(dir, { labels: 'coarse' });
    expect(coarse.name).toBe('cifar100-coarse');
    expect(coarse.train.classes).toBe(20);
    expect([...coarse.train.labels]).toEqual([0, 19, 7]);
    expect(coarse.train.images[2 * PIXELS]).toBe(2);
    writeFileSync(
      join(dir, 'coarse_label_names.txt'),
      Array.from({ length: 20 }, (_, i) => `super${i}`).join('\n'),
    );
    expect(loadCifar100(dir, { labels: 'coarse' }).train.classNames?.[19]).toBe('super19');
  });

  it('bad input: missing files, a size that is not whole records, empty files, labels out of range', async () => {
    const dir = writeCifar10();
    rmSync(join(dir, 'data_batch_4.bin'));
    await expectUserError(
      () => loadCifar10(dir),
      'missing CIFAR-10 training batch',
      'data_batch_4.bin',
      `in ${dir}`,
    );
    await expectUserError(() => loadCifar10(join(tmp, 'none')), 'does not exist');
    await expectUserError(() => loadCifar100(writeCifar10()), 'missing CIFAR-100 training file', 'train.bin');

    const cut = writeCifar10();
    const file = join(cut, 'data_batch_2.bin');
    writeFileSync(file, readFileSync(file).subarray(0, 3073 + 100));
    await expectUserError(
      () => loadCifar10(cut),
      file,
      '3173 bytes is not a whole number of 3073-byte records',
    );

    const c100 = writeCifar100();
    writeFileSync(join(c100, 'test.bin'), readFileSync(join(c100, 'test.bin')).subarray(1));
    await expectUserError(
      () => loadCifar100(c100),
      'test.bin',
      '3073 bytes is not a whole number of 3074-byte records',
    );

    const empty = writeCifar10();
    writeFileSync(join(empty, 'test_batch.bin'), new Uint8Array());
    await expectUserError(() => loadCifar10(empty), 'test_batch.bin is empty');

    const bad = writeCifar10();
    writeFileSync(join(bad, 'test_batch.bin'), records([[3], [10]], 0));
    await expectUserError(
      () => loadCifar10(bad),
      'test_batch.bin',
      'label 10 of sample 1',
      'out of range for 10 classes',
    );
    const bad100 = writeCifar100();
    writeFileSync(join(bad100, 'train.bin'), records([[0, 100]], 0));
    await expectUserError(() => loadCifar100(bad100), 'train.bin', 'label 100');
  });

  it('fuzz: truncations and byte flips load or throw ConvlabError, nothing else', () => {
    const random = mulberry32(77);
    const dir = writeCifar10();
    const names = ['data_batch_1.bin', 'data_batch_5.bin', 'test_batch.bin'];
    const originals = names.map((n) => readFileSync(join(dir, n)));
    let loaded = 0;
    let rejected = 0;
    for (let i = 0; i < 120; i++) {
      const k = i % names.length;
      const file = join(dir, names[k]!);
      writeFileSync(file, mutate(originals[k]!, random));
      try {
        const d = loadCifar10(dir);
        expect(d.train.labels.every((l) => l >= 0 && l < 10)).toBe(true);
        loaded++;
      } catch (e) {
        if (!(e instanceof ConvlabError)) throw e;
        rejected++;
      }
      writeFileSync(file, originals[k]!);
    }
    expect(loaded).toBeGreaterThan(5);
    expect(rejected).toBeGreaterThan(5);
    // And on bytes alone, both record sizes.
    for (let i = 0; i < 2000; i++) {
      const labelBytes = 1 + (i % 2);
      const bytes = mutate(records([[1, 2].slice(0, labelBytes), [3, 4].slice(0, labelBytes)], i), random);
      try {
        const r = parseCifarRecords([{ file: 'f', bytes }], labelBytes);
        expect(r.images.length).toBe(r.count * PIXELS);
      } catch (e) {
        if (!(e instanceof ConvlabError)) throw e;
      }
    }
  });
});
