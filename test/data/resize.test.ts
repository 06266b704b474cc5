import { describe, expect, it } from 'vitest';
import { imageSet } from '../../src/data/dataset.js';
import { resizeImages } from '../../src/data/resize.js';
import { ConvlabError } from '../../src/ir/errors.js';
import { Rng } from '../../src/ir/random.js';

const set = (images: Uint8Array, shape: [number, number, number], count: number) =>
  imageSet({
    name: 'test',
    images,
    labels: Int32Array.from({ length: count }, (_, i) => i % 3),
    count,
    shape,
    classes: 3,
  });

/** ONNX Round: halves go to the even neighbour. */
const roundHalfEven = (v: number) => {
  const f = Math.floor(v);
  if (v - f !== 0.5) return Math.round(v);
  return f % 2 === 0 ? f : f + 1;
};

describe('resizeImages', () => {
  it('is the identity at the same size', async () => {
    const rng = new Rng(7);
    const images = Uint8Array.from({ length: 5 * 2 * 9 * 7 }, () => rng.below(256));
    const out = await resizeImages(set(images, [2, 9, 7], 5), [9, 7]);
    expect(out.shape).toEqual([2, 9, 7]);
    expect(Array.from(out.images)).toEqual(Array.from(images));
  });

  it('halves a size by averaging each 2x2 block (half-pixel bilinear)', async () => {
    const rng = new Rng(3);
    const [n, c, h, w] = [3, 2, 4, 6];
    const images = Uint8Array.from({ length: n * c * h * w }, () => rng.below(256));
    const out = await resizeImages(set(images, [c, h, w], n), [2, 3]);
    const expected: number[] = [];
    for (let plane = 0; plane < n * c; plane++) {
      for (let i = 0; i < 2; i++) {
        for (let j = 0; j < 3; j++) {
          const at = (y: number, x: number) => images[plane * h * w + y * w + x]!;
          const [y, x] = [2 * i, 2 * j];
          expected.push(roundHalfEven((at(y, x) + at(y, x + 1) + at(y + 1, x) + at(y + 1, x + 1)) / 4));
        }
      }
    }
    expect(Array.from(out.images)).toEqual(expected);
    expect(out.count).toBe(n);
    expect(Array.from(out.labels)).toEqual([0, 1, 2]);
    expect(out.name).toBe('test@2x3');
  });

  it('doubles a size with interpolated pixels between clamped edges', async () => {
    // Output column j samples input x = (j + 0.5) / 2 - 0.5: -0.25, 0.25, 0.75, 1.25, clamped at the edges.
    const out = await resizeImages(set(Uint8Array.of(0, 100, 200, 40), [1, 2, 2], 1), [4, 4]);
    const rows = Array.from({ length: 4 }, (_, i) => Array.from(out.images.subarray(4 * i, 4 * i + 4)));
    expect(rows[0]).toEqual([0, 25, 75, 100]);
    expect(rows[3]).toEqual([200, 160, 80, 40]);
    // Row 1 samples y = 0.25: three quarters of row 0, a quarter of row 1.
    expect(rows[1]).toEqual([50, 59, 76, 85]);
  });

  it('refuses a size that is not a positive integer', async () => {
    await expect(resizeImages(set(new Uint8Array(4), [1, 2, 2], 1), [0, 3])).rejects.toThrow(ConvlabError);
  });
});
