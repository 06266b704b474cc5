import { describe, expect, it } from 'vitest';
import { sampleSd, seedsToDecide, summarise, tCdf, tQuantile } from '../../src/experiments/stats.js';

/** A seeded standard normal generator (xorshift32 + Box-Muller), for the Monte Carlo checks. */
function normals(seed: number): () => number {
  let s = seed >>> 0 || 1;
  const uniform = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return (s + 0.5) / 2 ** 32;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

describe('Student t', () => {
  it('reproduces the printed table of quantiles', () => {
    // Two-sided 95% and one-sided 80% points, from any t table (to the table's digits).
    const table: [number, number, number][] = [
      [1, 12.7062, 1.3764],
      [2, 4.3027, 1.0607],
      [4, 2.7764, 0.941],
      [9, 2.2622, 0.8834],
      [29, 2.0452, 0.8542],
    ];
    for (const [df, t975, t80] of table) {
      expect(tQuantile(0.975, df)).toBeCloseTo(t975, 3);
      expect(tQuantile(0.8, df)).toBeCloseTo(t80, 3);
    }
    expect(tQuantile(0.975, 1e6)).toBeCloseTo(1.96, 2);
    expect(tQuantile(0.025, 4)).toBeCloseTo(-2.7764, 3);
  });

  it('has the CDF of the Cauchy distribution at one degree of freedom, and is symmetric', () => {
    for (const t of [-3, -0.5, 0, 0.7, 10]) expect(tCdf(t, 1)).toBeCloseTo(0.5 + Math.atan(t) / Math.PI, 10);
    expect(tCdf(1.3, 6) + tCdf(-1.3, 6)).toBeCloseTo(1, 12);
    expect(tCdf(tQuantile(0.9, 7), 7)).toBeCloseTo(0.9, 10);
  });
});

describe('summaries over seeds', () => {
  it('gives the mean, the sample sd and the t interval, leaving out non-finite values', () => {
    const s = summarise([1, 2, 3, Number.NaN]);
    expect(s.n).toBe(3);
    expect(s.left).toBe(1);
    expect(s.mean).toBe(2);
    expect(s.sd).toBeCloseTo(1, 12);
    expect(s.hi - s.mean).toBeCloseTo((4.30265 * 1) / Math.sqrt(3), 4);
    expect(s.lo).toBeCloseTo(2 * s.mean - s.hi, 12);
    const one = summarise([5]);
    expect([one.lo, one.hi]).toEqual([-Infinity, Infinity]);
    expect(sampleSd([2, 4, 4, 4, 5, 5, 7, 9])).toBeCloseTo(Math.sqrt(32 / 7), 12);
  });

  it('covers the true mean in about 95% of samples of three', () => {
    const draw = normals(7);
    let covered = 0;
    const trials = 20_000;
    for (let i = 0; i < trials; i++) {
      const s = summarise([draw(), draw(), draw()]);
      if (s.lo < 0 && s.hi > 0) covered++;
    }
    expect(covered / trials).toBeGreaterThan(0.94);
    expect(covered / trials).toBeLessThan(0.96);
  });
});

describe('seeds needed to decide', () => {
  it('matches the t-table calculation', () => {
    // sd = distance: n = 9 gives (2.306 + 0.889) / 3 = 1.065 > 1; n = 10 gives (2.262 + 0.883) / sqrt(10) = 0.995.
    expect(seedsToDecide(1, 1)).toBe(10);
    expect(seedsToDecide(0.5, 1)).toBe(5); // (2.776 + 0.941) / sqrt(5) * 0.5 = 0.831; n = 4: 1.08
    expect(seedsToDecide(0, 0.1)).toBe(2);
    expect(seedsToDecide(1, 0)).toBeUndefined();
    expect(seedsToDecide(Number.NaN, 1)).toBeUndefined();
    expect(seedsToDecide(1, 1e-4)).toBeUndefined(); // about 8e8 seeds: no budget at all
    // More spread, more seeds: about (2.8 sd / distance)^2 for large n.
    expect(seedsToDecide(1, 0.1)).toBeGreaterThan(780);
    expect(seedsToDecide(1, 0.1)).toBeLessThan(800);
  });

  it('gives intervals that clear the boundary in about 80% of simulated experiments', () => {
    // A true effect 0.6 above the boundary, seeds spread with sd 1.
    const n = seedsToDecide(1, 0.6)!;
    const draw = normals(11);
    let cleared = 0;
    const trials = 5000;
    for (let i = 0; i < trials; i++) {
      const s = summarise(Array.from({ length: n }, () => 0.6 + draw()));
      if (s.lo > 0) cleared++;
    }
    expect(cleared / trials).toBeGreaterThan(0.78);
    expect(cleared / trials).toBeLessThan(0.86);
    // One seed fewer falls short of 80%.
    let fewer = 0;
    for (let i = 0; i < trials; i++) {
      const s = summarise(Array.from({ length: n - 1 }, () => 0.6 + draw()));
      if (s.lo > 0) fewer++;
    }
    expect(fewer / trials).toBeLessThan(cleared / trials);
  });
});
