import { describe, expect, it } from 'vitest';
import { adaptiveRuns } from '../../../src/native/ops/adaptive_pooling.js';
import { adaptiveBins } from '../../../src/ops/adaptive.js';

/** The bins a list of runs covers, in order. */
const binsOf = (runs: ReturnType<typeof adaptiveRuns>) =>
  runs.flatMap((r) =>
    Array.from({ length: r.count }, (_, k) => [r.start + k * r.step, r.start + k * r.step + r.size]),
  );

describe('adaptive pooling runs (one oneDNN window per run)', () => {
  it.each([
    [8, 3, 3],
    [8, 6, 2],
    [5, 3, 3],
    [2, 3, 3],
    [14, 4, 2],
    [7, 7, 1],
    [1, 7, 7],
    [3, 7, 7],
    [12, 4, 1],
  ])('%i into %i: PyTorch bins exactly, in %i runs', (length, n, runs) => {
    const r = adaptiveRuns(length, n);
    expect(binsOf(r)).toEqual(adaptiveBins(length, n).map(([a, b]) => [a, b]));
    expect(r.map((x) => x.first)).toEqual(r.map((_, i) => r.slice(0, i).reduce((s, x) => s + x.count, 0)));
    expect(r).toHaveLength(runs);
  });
});
