import { describe, expect, it } from 'vitest';
import { Augmenter, type AugmentOptions, augmentGraph, channelStats } from '../../src/data/augment.js';
import { imageSet } from '../../src/data/dataset.js';
import { type AugmentParams, drawAugment, TrainLoader } from '../../src/data/loader.js';
import { synthetic } from '../../src/data/synthetic.js';
import { Rng } from '../../src/ir/random.js';

/** torchvision's RandomCrop(padding=pad, fill=0) -> RandomHorizontalFlip -> ToTensor -> Normalize, pixel by pixel. */
function reference(images: Uint8Array, batch: number, o: AugmentOptions, p?: AugmentParams): Float32Array {
  const [c, h, w] = o.shape;
  const pad = p ? (o.pad ?? 0) : 0;
  const out = new Float32Array(batch * c * h * w);
  for (let n = 0; n < batch; n++) {
    const top = p ? Number(p.crops[2 * n]) : pad;
    const left = p ? Number(p.crops[2 * n + 1]) : pad;
    const flip = p ? p.flips[n] === 1 : false;
    for (let k = 0; k < c; k++) {
      for (let i = 0; i < h; i++) {
        for (let j = 0; j < w; j++) {
          const y = top + i - pad;
          const x = left + (flip ? w - 1 - j : j) - pad;
          const v = y >= 0 && y < h && x >= 0 && x < w ? images[((n * c + k) * h + y) * w + x]! : 0;
          out[((n * c + k) * h + i) * w + j] = (v / 255 - o.mean[k]!) / o.std[k]!;
        }
      }
    }
  }
  return out;
}

function randomImages(rng: Rng, n: number): Uint8Array {
  const a = new Uint8Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.below(256);
  return a;
}

function expectClose(actual: Float32Array, expected: Float32Array): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  expect(worst).toBeLessThan(1e-5);
}

const cases: { label: string; o: AugmentOptions; batch: number }[] = [
  {
    label: 'Fashion-MNIST 1x28x28, pad 2, flips',
    o: { shape: [1, 28, 28], mean: [0.286], std: [0.353], pad: 2, flip: true },
    batch: 16,
  },
  {
    label: 'CIFAR 3x32x32, pad 4, flips',
    o: { shape: [3, 32, 32], mean: [0.49, 0.48, 0.45], std: [0.25, 0.24, 0.26], pad: 4, flip: true },
    batch: 9,
  },
  {
    label: 'non-square 2x5x7, pad 3, no flips',
    o: { shape: [2, 5, 7], mean: [0.5, 0.1], std: [0.5, 2], pad: 3 },
    batch: 6,
  },
  {
    label: 'flips only, 3x4x6',
    o: { shape: [3, 4, 6], mean: [0, 0, 0], std: [1, 1, 1], flip: true },
    batch: 8,
  },
];

describe('augmentation in onnxruntime', () => {
  for (const { label, o, batch } of cases) {
    it(`matches the pixel-by-pixel reference: ${label}`, async () => {
      const rng = new Rng(7);
      const [c, h, w] = o.shape;
      const aug = await Augmenter.create(o, 'train');
      try {
        for (let trial = 0; trial < 3; trial++) {
          const images = randomImages(rng, batch * c * h * w);
          const params = drawAugment(rng, batch, { pad: o.pad ?? 0, flip: o.flip ?? false });
          const out = await aug.run(images, batch, params);
          expect(out.dims).toEqual([batch, c, h, w]);
          expectClose(out.data as Float32Array, reference(images, batch, o, params));
        }
      } finally {
        await aug.release();
      }
    });
  }

  it('covers the extreme crop offsets and every flip, and any batch size in one session', async () => {
    const o: AugmentOptions = { shape: [1, 6, 6], mean: [0.25], std: [0.5], pad: 2, flip: true };
    const aug = await Augmenter.create(o, 'train');
    const offsets = [0, 4];
    const crops: number[] = [];
    const flips: number[] = [];
    for (const top of offsets) {
      for (const left of offsets) {
        for (const f of [0, 1]) {
          crops.push(top, left);
          flips.push(f);
        }
      }
    }
    const batch = flips.length;
    const images = randomImages(new Rng(3), batch * 36);
    const params = { crops: BigInt64Array.from(crops, BigInt), flips: Uint8Array.from(flips) };
    expectClose(
      (await aug.run(images, batch, params)).data as Float32Array,
      reference(images, batch, o, params),
    );
    const one = { crops: params.crops.subarray(0, 2), flips: params.flips.subarray(0, 1) };
    expectClose(
      (await aug.run(images.subarray(0, 36), 1, one)).data as Float32Array,
      reference(images, 1, o, one),
    );
    await aug.release();
  });

  it('evaluation variant only normalises', async () => {
    const o: AugmentOptions = {
      shape: [3, 8, 8],
      mean: [0.4, 0.5, 0.6],
      std: [0.2, 0.3, 0.4],
      pad: 4,
      flip: true,
    };
    const graph = augmentGraph(o, 'eval');
    expect(graph.inputs.map((i) => i.name)).toEqual(['images']);
    expect(graph.nodes.map((n) => n.opType)).toEqual(['Cast', 'Mul', 'Add']);
    const aug = await Augmenter.create(o, 'eval');
    const images = randomImages(new Rng(5), 4 * 3 * 64);
    expectClose((await aug.run(images, 4)).data as Float32Array, reference(images, 4, o));
    await aug.release();
  });

  it("runs on the loader's batches", async () => {
    const data = synthetic({ shape: [3, 16, 16], classes: 4, train: 64, test: 8 });
    const stats = await channelStats(data.train);
    const o: AugmentOptions = { shape: [3, 16, 16], ...stats, pad: 4, flip: true };
    const aug = await Augmenter.create(o, 'train');
    const loader = new TrainLoader(data.train, { batch: 16, seed: 1, augment: { pad: 4, flip: true } });
    let batches = 0;
    for await (const b of loader.epoch()) {
      const out = await aug.run(b.images, 16, b.augment);
      expectClose(out.data as Float32Array, reference(b.images, 16, o, b.augment));
      batches++;
    }
    expect(batches).toBe(4);
    await Promise.all([aug.release(), loader.close()]);
  });

  it('channel statistics equal the direct computation', async () => {
    const rng = new Rng(11);
    const count = 300;
    const images = randomImages(rng, count * 2 * 10 * 10);
    for (let i = 0; i < count * 100; i++)
      images[i + Math.floor(i / 100) * 100] = Math.floor(images[i + Math.floor(i / 100) * 100]! / 4);
    const set = imageSet({
      name: 't',
      images,
      labels: new Int32Array(count),
      count,
      shape: [2, 10, 10],
      classes: 1,
    });
    const { mean, std } = await channelStats(set);
    for (let k = 0; k < 2; k++) {
      let s = 0;
      let s2 = 0;
      for (let n = 0; n < count; n++) {
        for (let i = 0; i < 100; i++) {
          const v = images[(n * 2 + k) * 100 + i]! / 255;
          s += v;
          s2 += v * v;
        }
      }
      const m = s / (count * 100);
      expect(mean[k]).toBeCloseTo(m, 7);
      expect(std[k]).toBeCloseTo(Math.sqrt(s2 / (count * 100) - m * m), 6);
    }
    expect(mean[0]).toBeLessThan(mean[1]!);
  });
});
