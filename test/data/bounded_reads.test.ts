import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCifar10 } from '../../src/data/cifar.js';
import { loadIdx } from '../../src/data/idx.js';
import { ConvlabError } from '../../src/ir/errors.js';
import { tempDir } from '../support/tmp.js';

/** Issue #18: the data set readers read bounded amounts, and empty files or devices are user errors. */

const root = tempDir('bounded');

const IDX = [
  'train-images-idx3-ubyte',
  'train-labels-idx1-ubyte',
  't10k-images-idx3-ubyte',
  't10k-labels-idx1-ubyte',
];
const CIFAR = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`).concat('test_batch.bin');

function userError(load: () => unknown, pattern: RegExp): void {
  let error: unknown;
  try {
    load();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ConvlabError);
  expect((error as ConvlabError).exitCode).toBe(2);
  expect((error as Error).message).not.toContain('\n');
  expect((error as Error).message).toMatch(pattern);
}

describe('data set readers', () => {
  it('empty IDX and CIFAR files are named, not internal errors', () => {
    const idx = join(root, 'empty-idx');
    mkdirSync(idx);
    for (const f of IDX) writeFileSync(join(idx, f), '');
    userError(() => loadIdx(idx), /train-images-idx3-ubyte: 0 bytes is too short for an IDX header/);
    const cifar = join(root, 'empty-cifar');
    mkdirSync(cifar);
    for (const f of CIFAR) writeFileSync(join(cifar, f), '');
    userError(() => loadCifar10(cifar), /data_batch_1\.bin is empty/);
  });

  it('/dev/zero behind a data file name is refused, never read', () => {
    const idx = join(root, 'zero-idx');
    mkdirSync(idx);
    for (const f of IDX) symlinkSync('/dev/zero', join(idx, f));
    userError(() => loadIdx(idx), /train-images-idx3-ubyte is not a file/);
  });

  it('/dev/zero as CIFAR class names is read only up to its bound', () => {
    const cifar = join(root, 'zero-names');
    mkdirSync(cifar);
    const record = new Uint8Array(1 + 3 * 32 * 32);
    for (const f of CIFAR) writeFileSync(join(cifar, f), record);
    symlinkSync('/dev/zero', join(cifar, 'batches.meta.txt'));
    userError(
      () => loadCifar10(cifar),
      /class names file '.*batches\.meta\.txt' is more than 1048576 bytes, above the limit/,
    );
  });
});
