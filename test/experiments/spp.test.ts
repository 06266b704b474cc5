import { afterAll, describe, expect, it } from 'vitest';
import { judge } from '../../src/experiments/judge.js';
import {
  buildSppNet,
  effects,
  featuresOf,
  RULES,
  type SizeResult,
  type SppMeasurement,
} from '../../src/experiments/spp.js';
import { resolveGraph } from '../../src/ir/resolve.js';
import { type QuickRun, removeRun, runQuick } from './quick.js';

let run: QuickRun<SppMeasurement> | undefined;
afterAll(() => removeRun(run));

describe('spp experiment net', () => {
  it('feeds fc1 the same 32 x 21 features at every input size, unlike a flatten head', () => {
    for (const [size, map] of [
      [16, 4],
      [28, 7],
      [41, 10],
      [56, 14],
    ] as const) {
      const spp = featuresOf(resolveGraph(buildSppNet([1, size, size], 10)));
      expect(spp.convMap).toEqual([32, map, map]);
      expect(spp.head).toBe(32 * (16 + 4 + 1));
      expect(spp.fc1Weight).toEqual([64, 672]);
      const flat = featuresOf(resolveGraph(buildSppNet([1, size, size], 10, 'flatten')));
      expect(flat.head).toBe(32 * map * map);
      expect(flat.fc1Weight).toEqual([64, 32 * map * map]);
    }
  });

  it('holds the claim only with one feature length and every size above twice chance on every seed', () => {
    const result = (size: number, head: number, accuracy: number) =>
      ({
        size: [size, size],
        features: { head },
        accuracy,
        flatten: { loads: size === 28 },
      }) as unknown as SizeResult;
    const seed = (sizes: SizeResult[]): SppMeasurement => ({
      trainingSize: [28, 28],
      classes: 10,
      epochs: 4,
      trainAccuracy: 0.9,
      testAccuracy: 0.9,
      sizes,
    });
    const good = [0.5, 0.52, 0.48].map((a) => seed([result(28, 672, 0.9), result(16, 672, a)]));
    expect(effects(good[0]!)['above-twice-chance']).toBeCloseTo(0.3, 12);
    expect(judge(RULES, good.map(effects)).verdict).toBe('held');
    const nearChance = [0.15, 0.3, 0.2].map((a) => seed([result(28, 672, 0.9), result(16, 672, a)]));
    expect(judge(RULES, nearChance.map(effects)).verdict).toBe('inconclusive');
    const varies = seed([result(28, 672, 0.9), result(16, 800, 0.9)]);
    expect(judge(RULES, [good[0]!, varies].map(effects)).verdict).toBe('did not hold');
  });
});

describe('convlab experiment spp (quick budget, 2 seeds)', () => {
  it('trains per seed, evaluates at every size and writes the report, figures and numbers', async () => {
    run = await runQuick<SppMeasurement>('spp', ['accuracy-by-size', 'feature-length']);
    expect(run.report).toContain('fixed-length representation');
    expect(run.results.parts.full.find((p) => p.key === 'fixed-length')!.verdict).toBe('held');
    // The half budget is a run of its own: half the epochs.
    expect(run.seeds.half.map((m) => m.epochs)).toEqual([1, 1]);
    expect(run.seeds.full.map((m) => m.epochs)).toEqual([2, 2]);
    for (const m of run.seeds.full) {
      expect(m.sizes.map((s) => s.size)).toEqual([
        [20, 20],
        [28, 28],
        [40, 40],
      ]);
      for (const s of m.sizes) {
        expect(s.features.head).toBe(672);
        expect(s.accuracy).toBeGreaterThanOrEqual(0);
        expect(s.accuracy).toBeLessThanOrEqual(1);
        expect(Number.isFinite(s.loss)).toBe(true);
        // The flatten twin's 28x28 weights load only at 28x28, and the refusal says which weight.
        expect(s.flatten.loads).toBe(s.size[0] === 28);
        if (!s.flatten.loads) expect(s.flatten.error).toMatch(/fc1\.weight/);
      }
      expect(m.sizes.map((s) => s.features.convMap)).toEqual([
        [32, 5, 5],
        [32, 7, 7],
        [32, 10, 10],
      ]);
    }
  }, 600_000);
});
