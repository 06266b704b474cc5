import { describe, expect, it } from 'vitest';
import { Rng } from '../../../src/ir/init.js';
import { binding, bindingBuilt } from '../../../src/native/binding.js';

/**
 * The binding's batch normalisation kernels (native/batch_norm.cc) against a float64 reference on
 * the nChw16c layout: 20 channels (a second, partly padded block of 16), 7 pixels, batch 3. The
 * input sits at 1000 + N(0, 1), where one-pass float32 sums of squares lose the variance entirely:
 * the kernels' statistics match the exact ones of the same float32 inputs to float32 rounding.
 */
const N = 3;
const C = 20;
const P = 7;
const BLOCKS = Math.ceil(C / 16);
const EPS = 1e-5;
const at = (n: number, c: number, p: number) => ((n * BLOCKS + Math.floor(c / 16)) * P + p) * 16 + (c % 16);

function blocked(value: (n: number, c: number, p: number) => number): Float32Array {
  const a = new Float32Array(N * BLOCKS * P * 16);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) for (let p = 0; p < P; p++) a[at(n, c, p)] = value(n, c, p);
  return a;
}

/** Largest difference over the real (unpadded) channels, relative to the reference's largest value. */
function relative(ours: ArrayLike<number>, ref: ArrayLike<number>, index: (i: number) => number[]): number {
  let diff = 0;
  let scale = 1e-30;
  for (const i of index(ref.length)) {
    diff = Math.max(diff, Math.abs(ours[i]! - ref[i]!));
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  return diff / scale;
}
const channels = () => Array.from({ length: C }, (_, c) => c);
const elements = () => {
  const out: number[] = [];
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let p = 0; p < P; p++) out.push(at(n, c, p));
  return out;
};
const padding = (a: Float32Array) => {
  const real = new Set(elements());
  return a.filter((_, i) => !real.has(i));
};

describe.skipIf(!bindingBuilt())('native batch normalisation kernels', () => {
  const rng = new Rng(5, 'bn');
  const normal = () => Math.sqrt(-2 * Math.log(1 - rng.uniform())) * Math.cos(2 * Math.PI * rng.uniform());
  const x = blocked(() => 1000 + normal());
  const dy = blocked(() => normal());
  const gamma = Float32Array.from({ length: C }, () => 0.5 + rng.uniform());
  const beta = Float32Array.from({ length: C }, () => normal());

  for (const relu of [false, true]) {
    it(`matches the float64 reference${relu ? ', ReLU fused' : ''}`, () => {
      const b = binding();
      const [y, dx] = [new Float32Array(x.length), new Float32Array(x.length).fill(7)];
      const [mean, variance, dgamma, dbeta] = [0, 1, 2, 3].map(() => new Float32Array(C)) as [
        Float32Array,
        Float32Array,
        Float32Array,
        Float32Array,
      ];
      b.bnForward(x, y, gamma, beta, mean, variance, N, C, P, EPS, relu);
      b.bnBackward(x, dy, dx, gamma, beta, mean, variance, dgamma, dbeta, N, C, P, EPS, relu);

      const count = N * P;
      const refMean = new Float64Array(C);
      const refVar = new Float64Array(C);
      const refY = new Float64Array(x.length);
      const refDx = new Float64Array(x.length);
      const refDgamma = new Float64Array(C);
      const refDbeta = new Float64Array(C);
      const each = (c: number, f: (i: number) => void) => {
        for (let n = 0; n < N; n++) for (let p = 0; p < P; p++) f(at(n, c, p));
      };
      for (let c = 0; c < C; c++) {
        let sum = 0;
        each(c, (i) => {
          sum += x[i]!;
        });
        refMean[c] = sum / count;
        let squares = 0;
        each(c, (i) => {
          squares += (x[i]! - refMean[c]!) ** 2;
        });
        refVar[c] = squares / count;
        // Past the statistics, the reference takes them as the kernels keep them: rounded to float32.
        const [m, inv] = [Math.fround(refMean[c]!), 1 / Math.sqrt(Math.fround(refVar[c]!) + EPS)];
        const g = (i: number) => (relu && !(refY[i]! > 0) ? 0 : dy[i]!);
        each(c, (i) => {
          const v = gamma[c]! * (x[i]! - m) * inv + beta[c]!;
          refY[i] = relu ? Math.max(v, 0) : v;
        });
        let sumG = 0;
        let sumGx = 0;
        each(c, (i) => {
          sumG += g(i);
          sumGx += g(i) * (x[i]! - m) * inv;
        });
        refDbeta[c] = sumG;
        refDgamma[c] = sumGx;
        each(c, (i) => {
          const xhat = (x[i]! - m) * inv;
          refDx[i] = gamma[c]! * inv * (g(i) - refDbeta[c]! / count - (xhat * refDgamma[c]!) / count);
        });
      }
      expect(relative(mean, refMean, channels), 'mean').toBeLessThan(1e-7);
      expect(relative(variance, refVar, channels), 'variance').toBeLessThan(1e-6);
      expect(relative(y, refY, elements), 'y').toBeLessThan(1e-5);
      expect(relative(dgamma, refDgamma, channels), 'dgamma').toBeLessThan(1e-5);
      expect(relative(dbeta, refDbeta, channels), 'dbeta').toBeLessThan(1e-5);
      expect(relative(dx, refDx, elements), 'dx').toBeLessThan(1e-4);
      // Lanes past the 20 channels are the layout's padding: written zero, as oneDNN requires.
      expect(padding(y).every((v) => v === 0)).toBe(true);
      expect(padding(dx).every((v) => v === 0)).toBe(true);
    });
  }

  it('rejects arrays shorter than the shape says', () => {
    const b = binding();
    const short = new Float32Array(10);
    const stats = new Float32Array(C);
    expect(() => b.bnForward(short, short, gamma, beta, stats, stats, N, C, P, EPS, false)).toThrow(
      /too short/,
    );
  });
});
