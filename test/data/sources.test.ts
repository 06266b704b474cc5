import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dataset, imageSet, limit } from '../../src/data/dataset.js';
import { FASHION_MNIST_DIR } from '../../src/data/idx.js';
import { loadDataset, parseSource } from '../../src/data/sources.js';
import { expectUserError } from '../support/errors.js';
import { tinyIdx, writeIdx } from '../support/idx.js';
import { ROOT } from '../support/paths.js';
import { tempDir } from '../support/tmp.js';

const tmp = tempDir('sources');

describe('--data SOURCE', () => {
  it('parses every form of the contract', () => {
    expect(parseSource('fashion-mnist')).toEqual({ kind: 'fashion-mnist', dir: FASHION_MNIST_DIR });
    expect(parseSource('fashion-mnist:/d')).toEqual({ kind: 'fashion-mnist', dir: '/d' });
    expect(parseSource('mnist:data/mnist')).toEqual({ kind: 'mnist', dir: 'data/mnist' });
    expect(parseSource('idx:/x:y')).toEqual({ kind: 'idx', dir: '/x:y' });
    expect(parseSource('cifar10:/c')).toEqual({ kind: 'cifar10', dir: '/c' });
    expect(parseSource('cifar100:/c')).toEqual({ kind: 'cifar100', dir: '/c' });
    expect(parseSource('folder:imgs')).toEqual({ kind: 'folder', dir: 'imgs' });
    expect(parseSource('synthetic')).toEqual({ kind: 'synthetic', options: {} });
    expect(parseSource('synthetic:classes=4,shape=3x16x16,train=64,test=16,seed=2,noise=0')).toEqual({
      kind: 'synthetic',
      options: { classes: 4, shape: [3, 16, 16], train: 64, test: 16, seed: 2, noise: 0 },
    });
  });

  it('rejects anything else with the list of accepted forms', async () => {
    const e = await expectUserError(
      () => parseSource('imagenet:/data'),
      "unknown data source 'imagenet'",
      'accepted forms',
    );
    for (const form of [
      'fashion-mnist[:DIR]',
      'mnist:DIR',
      'idx:DIR',
      'cifar10:DIR',
      'folder:DIR',
      'synthetic',
    ]) {
      expect(e.message).toContain(form);
    }
    await expectUserError(() => parseSource('mnist'), "'mnist' needs a folder, as mnist:DIR");
    await expectUserError(() => parseSource('cifar10:'), 'needs a folder');
    await expectUserError(() => parseSource('fashion-mnist:'), 'needs a folder');
    await expectUserError(() => parseSource(''), 'unknown data source');
    await expectUserError(() => parseSource('synthetic:colour=1'), "unknown key 'colour'");
    await expectUserError(() => parseSource('synthetic:classes'), 'is not key=value');
    await expectUserError(() => parseSource('synthetic:shape=28x28'), 'shape must be CxHxW');
    await expectUserError(() => parseSource('synthetic:train=many'), 'train must be a number');
  });

  it('loads a source string, with the model input for synthetic data and --limit', async () => {
    const d = await loadDataset('synthetic:train=40,test=8', { shape: [3, 8, 8], classes: 3, limit: 10 });
    expect(d.train.shape).toEqual([3, 8, 8]);
    expect(d.train.classes).toBe(3);
    expect(d.train.count).toBe(10);
    expect(d.test.count).toBe(8);
    // The source string wins over the model's hints.
    expect((await loadDataset('synthetic:classes=5,train=10,test=5', { classes: 3 })).train.classes).toBe(5);
  });

  it('loads IDX folders, checks labels against the model classes for idx:DIR', async () => {
    const dir = writeIdx(join(tmp, 'idx'), tinyIdx(), true);
    expect((await loadDataset(`idx:${dir}`)).train.classes).toBe(10);
    expect((await loadDataset(`mnist:${dir}`, { limit: 2 })).train.count).toBe(2);
    await expectUserError(
      () => loadDataset(`idx:${dir}`, { classes: 5 }),
      'label 9 of sample 5',
      'out of range for 5 classes',
    );
    const fixture = join(ROOT, 'test', 'fixtures', 'data', 'fashion-mnist-tiny');
    expect((await loadDataset(`fashion-mnist:${fixture}`)).train.classNames?.[0]).toBe('T-shirt/top');
  });
});

describe('dataset checks', () => {
  const base = {
    name: 's',
    images: new Uint8Array(12),
    labels: Int32Array.from([0, 1, 2]),
    count: 3,
    shape: [1, 2, 2] as const,
    classes: 3,
  };

  it('refuses inconsistent sets', async () => {
    expect(imageSet(base).count).toBe(3);
    await expectUserError(
      () => imageSet({ ...base, images: new Uint8Array(11) }),
      '11 pixel bytes for 3 images',
    );
    await expectUserError(
      () => imageSet({ ...base, labels: Int32Array.from([0, 1]) }),
      '3 images but 2 labels',
    );
    await expectUserError(
      () => imageSet({ ...base, labels: Int32Array.from([0, 1, 3]) }),
      'label 3 of sample 2',
    );
    await expectUserError(
      () => imageSet({ ...base, labels: Int32Array.from([0, -1, 2]) }),
      'label -1 of sample 1',
    );
    await expectUserError(() => imageSet({ ...base, classNames: ['a'] }), '1 class names for 3 classes');
    await expectUserError(
      () => imageSet({ ...base, count: 0, images: new Uint8Array(), labels: new Int32Array() }),
      'holds no images',
    );
    const other = imageSet({ ...base, name: 't', images: new Uint8Array(6), shape: [1, 1, 2] });
    await expectUserError(
      () => dataset('d', imageSet(base), other),
      'training images are 1x2x2 but test images are 1x1x2',
    );
  });

  it('limit keeps the first N samples without copying', async () => {
    const set = imageSet({ ...base, images: Uint8Array.from({ length: 12 }, (_, i) => i) });
    const two = limit(set, 2);
    expect(two.count).toBe(2);
    expect(Array.from(two.images)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(two.images.buffer).toBe(set.images.buffer);
    expect(limit(set, 10)).toBe(set);
    await expectUserError(() => limit(set, 0), '--limit must be a positive integer');
  });
});
