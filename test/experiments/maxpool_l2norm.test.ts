import '../../src/experiments/maxpool_l2norm.js';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import {
  buildPoolNet,
  learned,
  oscillation,
  oscillationRatio,
  verdictOf,
} from '../../src/experiments/maxpool_l2norm.js';
import { resolveGraph } from '../../src/ir/resolve.js';

const root = mkdtempSync(join(tmpdir(), 'convlab-maxpool-l2norm-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('maxpool-l2norm oscillation measure', () => {
  it('measures the step-to-step change after the settling steps, blind to a steady trend', () => {
    // A steep first quarter is left out; then a straight descent has no oscillation at all.
    const descent = [9, 8, 7, 2, 1.9, 1.8, 1.7, 1.6, 1.5, 1.4, 1.3, 1.2];
    const steady = oscillation(descent, 0.25, 3);
    expect(steady.steps).toBe(9);
    expect(steady.differenceVariance).toBeCloseTo(0, 12);
    // Alternating 1.5, 0.5, ..., 1.5: eight changes of -1 and +1, mean 0, variance 1.
    const zigzag = oscillation([1.5, 0.5, 1.5, 0.5, 1.5, 0.5, 1.5, 0.5, 1.5], 0, 2);
    expect(zigzag.differenceVariance).toBeCloseTo(1, 12);
    expect(zigzag.meanLoss).toBeCloseTo(9.5 / 9, 12);
    expect(zigzag.relative).toBeCloseTo(9 / 9.5, 12);
    // Around a 2-step moving average every point but the first is 0.5 off.
    expect(zigzag.residualVariance).toBeGreaterThan(0.2);
    expect(() => oscillation([1, 2, 3], 0.5, 2)).toThrow(/at least 3 steps/);
  });

  it('counts a run that learned nothing or diverged as unstable, not as calm', () => {
    const chance = Math.LN10;
    const calm = oscillation([chance, chance - 1e-4, chance, chance - 1e-4], 0, 2);
    expect(learned(calm, 10)).toBe(false);
    const plainCollapsed = { oscillation: calm, learned: false };
    const normalised = { oscillation: oscillation([0.6, 0.5, 0.7, 0.5], 0, 2), learned: true };
    expect(oscillationRatio(normalised, plainCollapsed)).toBe(0);
    expect(oscillationRatio({ learned: false }, normalised)).toBe(Number.POSITIVE_INFINITY);
    expect(verdictOf([oscillationRatio({ learned: false }, plainCollapsed), 0.5])).toBe('inconclusive');
    expect(verdictOf([0.5, 0.7])).toBe('held');
    expect(verdictOf([1.2, 3])).toBe('did not hold');
    expect(verdictOf([0.5, 3])).toBe('inconclusive');
  });

  it('builds the three nets with the normalisation only where asked', () => {
    const nodes = (n: 'none' | 'l2' | 'l2-scaled') => resolveGraph(buildPoolNet([1, 28, 28], 10, n)).byName;
    expect([...nodes('none').values()].some((n) => n.node.op === 'l2norm')).toBe(false);
    const plainL2 = nodes('l2');
    expect(plainL2.get('pool1_norm')?.params).toEqual([]);
    expect(plainL2.get('pool2_norm')?.ctx.output).toEqual([1, 32, 7, 7]);
    const scaled = nodes('l2-scaled').get('pool2_norm')!;
    expect(scaled.params.map((p) => p.shape)).toEqual([[32]]);
    expect(scaled.node.attrs['scaleInit']).toBeCloseTo(Math.sqrt(32), 12);
  });
});

describe('convlab experiment maxpool-l2norm', () => {
  it('runs the quick budget end to end and writes the report, figures and numbers', async () => {
    const out = join(root, 'quick');
    let stdout = '';
    const code = await main(['experiment', 'maxpool-l2norm', '--out', out, '--budget', 'quick', '--json'], {
      stdout: (t) => (stdout += t),
      stderr: () => {},
    });
    expect(code).toBe(0);
    const summary = JSON.parse(stdout) as { verdict: string; finding: string };
    expect(['held', 'did not hold', 'inconclusive']).toContain(summary.verdict);
    expect(summary.finding).toMatch(/lr 0\.1/);
    for (const file of [
      'report.md',
      'results.json',
      'training-loss-lr0.1.svg',
      'training-loss-lr0.02.svg',
      'oscillation.svg',
    ]) {
      expect(existsSync(join(out, file)), file).toBe(true);
    }
    expect(readFileSync(join(out, 'oscillation.svg'), 'utf8')).toMatch(/^<svg/);
    const report = readFileSync(join(out, 'report.md'), 'utf8');
    expect(report).toContain('ParseNet');
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
      results: {
        runs: {
          normalisation: string;
          lr: number;
          diverged: boolean;
          losses: number[];
          oscillation: { differenceVariance: number; steps: number } | null;
        }[];
      };
    };
    const runs = results.results.runs;
    // Three nets at two rates; 256 images in batches of 32 are 8 steps, 6 measured after the first quarter.
    expect(runs.map((r) => `${r.normalisation}@${r.lr}`)).toEqual([
      'none@0.02',
      'l2@0.02',
      'l2-scaled@0.02',
      'none@0.1',
      'l2@0.1',
      'l2-scaled@0.1',
    ]);
    for (const r of runs.filter((x) => !x.diverged)) {
      expect(r.losses).toHaveLength(8);
      expect(r.losses.every(Number.isFinite)).toBe(true);
      expect(r.oscillation!.steps).toBe(6);
      expect(r.oscillation!.differenceVariance).toBeGreaterThan(0);
      // The measure recomputed from the recorded losses.
      expect(r.oscillation!.differenceVariance).toBeCloseTo(
        oscillation(r.losses, 0.25, 3).differenceVariance,
        12,
      );
    }
  }, 180_000);
});
