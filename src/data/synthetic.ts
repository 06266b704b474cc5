import { ConvlabError } from '../ir/errors.js';
import { Rng } from '../ir/random.js';
import { type Dataset, dataset, type ImageSet, imageSet } from './dataset.js';

/**
 * A deterministic synthetic image set for tests and quick runs: class k of K is a Gabor patch (an
 * oriented grating under a Gaussian window) at orientation k*180/K degrees, placed, sized, phased
 * and tinted at random, on a random grey level, with uniform pixel noise. Only the orientation
 * carries the class, and orientation is what a convolution's first filters detect, so a tiny net
 * (two convs, global pooling, a linear layer) learns it within a few hundred steps, while a linear
 * model on raw pixels cannot (the random phase and position cancel any fixed template).
 *
 * The same options and seed give the same bytes (V8's Math.exp and Math.cos are deterministic
 * ports of fdlibm). Drawing the patches loops over pixels in JavaScript: it makes a dataset once
 * and is never on the training path.
 */

export interface SyntheticOptions {
  /** Number of classes (orientations); default 10. */
  readonly classes?: number;
  /** [C, H, W]; default [1, 28, 28]. With 3 channels each sample gets a random tint. */
  readonly shape?: readonly [number, number, number];
  /** Training samples; default 2000. */
  readonly train?: number;
  /** Test samples; default 500. */
  readonly test?: number;
  /** Default 0. */
  readonly seed?: number;
  /** Standard deviation of the (uniform) pixel noise, in grey levels; default 16. */
  readonly noise?: number;
}

export const SYNTHETIC_DEFAULTS = {
  classes: 10,
  shape: [1, 28, 28] as const,
  train: 2000,
  test: 500,
  seed: 0,
  noise: 16,
};

const positiveInt = (v: number, what: string) => {
  if (!Number.isInteger(v) || v < 1)
    throw new ConvlabError(`synthetic data: ${what} must be a positive integer, got ${v}`);
};

/** Draw one sample of class `label` into `out` (C*H*W bytes, CHW). */
function drawSample(out: Uint8Array, label: number, o: Required<SyntheticOptions>, rng: Rng): void {
  const [c, h, w] = o.shape;
  const size = Math.min(h, w);
  const step = Math.PI / o.classes;
  const theta = label * step + (rng.uniform() - 0.5) * 0.4 * step;
  const cos = Math.cos(theta);
  const sin = Math.sin(theta);
  const wavelength = size * (0.22 + 0.1 * rng.uniform());
  const sigma = size * (0.22 + 0.1 * rng.uniform());
  const cx = w * (0.35 + 0.3 * rng.uniform());
  const cy = h * (0.35 + 0.3 * rng.uniform());
  const phase = 2 * Math.PI * rng.uniform();
  const contrast = 70 + 40 * rng.uniform();
  const background = 100 + 50 * rng.uniform();
  const gains = Array.from({ length: c }, () => (c === 1 ? 1 : 0.5 + 0.5 * rng.uniform()));
  // The window and the grating are separable in x and y, so only H + W exponentials and cosines:
  // exp(-(dx²+dy²)/2σ²) = ex·ey, and cos(kx·dx + ky·dy + φ) = cos(kx·dx)·cos(ky·dy + φ) − sin(kx·dx)·sin(ky·dy + φ).
  const k = (2 * Math.PI) / wavelength;
  const ex = Float64Array.from({ length: w }, (_, x) =>
    Math.exp(-((x + 0.5 - cx) ** 2) / (2 * sigma * sigma)),
  );
  const cosX = Float64Array.from({ length: w }, (_, x) => Math.cos(k * cos * (x + 0.5 - cx)));
  const sinX = Float64Array.from({ length: w }, (_, x) => Math.sin(k * cos * (x + 0.5 - cx)));
  const pattern = new Float64Array(h * w);
  for (let y = 0; y < h; y++) {
    const dy = y + 0.5 - cy;
    const ey = Math.exp(-(dy * dy) / (2 * sigma * sigma));
    const cosY = Math.cos(k * sin * dy + phase);
    const sinY = Math.sin(k * sin * dy + phase);
    for (let x = 0; x < w; x++) pattern[y * w + x] = ex[x]! * ey * (cosX[x]! * cosY - sinX[x]! * sinY);
  }
  // Uniform noise of standard deviation o.noise: sqrt(12) * (u - 1/2) has unit variance.
  const spread = Math.sqrt(12) * o.noise;
  for (let ch = 0; ch < c; ch++) {
    const gain = contrast * gains[ch]!;
    for (let i = 0; i < h * w; i++) {
      const v = background + gain * pattern[i]! + spread * (rng.uniform() - 0.5);
      out[ch * h * w + i] = Math.min(255, Math.max(0, Math.round(v)));
    }
  }
}

function generate(name: string, count: number, seed: number, o: Required<SyntheticOptions>): ImageSet {
  const rng = new Rng(seed);
  const size = o.shape[0] * o.shape[1] * o.shape[2];
  const images = new Uint8Array(count * size);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    // Classes in rotation, so any prefix (`--limit N`) is balanced.
    labels[i] = i % o.classes;
    drawSample(images.subarray(i * size, (i + 1) * size), labels[i]!, o, rng);
  }
  return imageSet({
    name,
    images,
    labels,
    count,
    shape: [o.shape[0], o.shape[1], o.shape[2]],
    classes: o.classes,
    classNames: Array.from({ length: o.classes }, (_, k) => `${Math.round((k * 1800) / o.classes) / 10}deg`),
  });
}

export function synthetic(options: SyntheticOptions = {}): Dataset {
  const o: Required<SyntheticOptions> = { ...SYNTHETIC_DEFAULTS, ...stripUndefined(options) };
  positiveInt(o.classes, 'classes');
  positiveInt(o.train, 'train');
  positiveInt(o.test, 'test');
  for (const [i, d] of o.shape.entries()) positiveInt(d, ['channels', 'height', 'width'][i]!);
  if (!(o.noise >= 0)) throw new ConvlabError(`synthetic data: noise must be >= 0, got ${o.noise}`);
  if (!Number.isSafeInteger(o.seed))
    throw new ConvlabError(`synthetic data: seed must be an integer, got ${o.seed}`);
  // Separate streams: the test set does not change when the training set grows.
  const root = new Rng(o.seed);
  const trainSeed = root.nextUint32();
  const testSeed = root.nextUint32();
  return dataset(
    'synthetic',
    generate('synthetic/train', o.train, trainSeed, o),
    generate('synthetic/test', o.test, testSeed, o),
  );
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
