import { describe, expect, it } from 'vitest';
import { type ImageSet, sampleSize } from '../../src/data/dataset.js';
import { synthetic } from '../../src/data/synthetic.js';
import { expectUserError } from '../support/errors.js';

/**
 * An independent check that the label is the orientation: the structure tensor of each image's
 * gradients (summed over pixels and channels) gives its dominant orientation, and the nearest class
 * angle should be the label. No learning involved.
 */
function orientationAccuracy(set: ImageSet): number {
  const [c, h, w] = set.shape;
  const size = sampleSize(set);
  let right = 0;
  for (let n = 0; n < set.count; n++) {
    let xx = 0;
    let yy = 0;
    let xy = 0;
    for (let k = 0; k < c; k++) {
      const base = n * size + k * h * w;
      for (let y = 1; y < h - 1; y++) {
        for (let x = 1; x < w - 1; x++) {
          const at = base + y * w + x;
          const gx = (set.images[at + 1]! - set.images[at - 1]!) / 2;
          const gy = (set.images[at + w]! - set.images[at - w]!) / 2;
          xx += gx * gx;
          yy += gy * gy;
          xy += gx * gy;
        }
      }
    }
    const theta = 0.5 * Math.atan2(2 * xy, xx - yy); // the gradient's direction, the grating's wave vector
    const step = Math.PI / set.classes;
    const predicted = (((Math.round(theta / step) % set.classes) + set.classes) % set.classes) | 0;
    if (predicted === set.labels[n]) right++;
  }
  return right / set.count;
}

describe('synthetic data', () => {
  it('is the same bytes for the same options and seed, other bytes for another seed', () => {
    const a = synthetic({ train: 50, test: 20, seed: 3 });
    const b = synthetic({ train: 50, test: 20, seed: 3 });
    const c = synthetic({ train: 50, test: 20, seed: 4 });
    expect(a.train.images).toEqual(b.train.images);
    expect(a.test.images).toEqual(b.test.images);
    expect(a.train.images).not.toEqual(c.train.images);
    // The test split does not depend on the size of the training split.
    expect(synthetic({ train: 10, test: 20, seed: 3 }).test.images).toEqual(a.test.images);
  });

  it('defaults to 10 classes of 1x28x28, balanced in every prefix', () => {
    const d = synthetic();
    expect(d.train.count).toBe(2000);
    expect(d.test.count).toBe(500);
    expect(d.train.shape).toEqual([1, 28, 28]);
    expect(d.train.classes).toBe(10);
    expect(d.train.classNames?.slice(0, 3)).toEqual(['0deg', '18deg', '36deg']);
    expect(Array.from(d.train.labels.subarray(0, 12))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
  });

  it('any shape and class count; pixels use the range', () => {
    const d = synthetic({ shape: [3, 20, 12], classes: 4, train: 40, test: 8 });
    expect(d.train.shape).toEqual([3, 20, 12]);
    expect(d.train.images.length).toBe(40 * 3 * 20 * 12);
    const min = d.train.images.reduce((a, b) => Math.min(a, b), 255);
    const max = d.train.images.reduce((a, b) => Math.max(a, b), 0);
    expect(min).toBeLessThan(40);
    expect(max).toBeGreaterThan(215);
  });

  it('carries its label in the orientation, well above chance without any learning', () => {
    const gray = synthetic({ train: 400, test: 10 });
    expect(orientationAccuracy(gray.train)).toBeGreaterThan(0.8);
    const colour = synthetic({ shape: [3, 32, 32], classes: 4, train: 200, test: 10 });
    expect(orientationAccuracy(colour.train)).toBeGreaterThan(0.9);
  });

  it('rejects bad options', async () => {
    await expectUserError(() => synthetic({ classes: 0 }), 'classes must be a positive integer');
    await expectUserError(() => synthetic({ shape: [1, 0, 4] }), 'height must be a positive integer');
    await expectUserError(() => synthetic({ noise: -1 }), 'noise must be >= 0');
    await expectUserError(() => synthetic({ seed: 1.5 }), 'seed must be an integer');
  });
});
