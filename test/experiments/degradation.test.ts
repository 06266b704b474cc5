import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import {
  type DegradationMeasurement,
  effects,
  type NetRun,
  RULES,
} from '../../src/experiments/degradation.js';
import { judge } from '../../src/experiments/judge.js';
import { type QuickRun, removeRun, runQuick } from './quick.js';

let run: QuickRun<DegradationMeasurement> | undefined;
afterAll(() => removeRun(run));

/** A synthetic seed: each arm's final training error as given. */
const seed = (errors: Record<string, number>): DegradationMeasurement => ({
  batch: 128,
  runs: Object.entries(errors).map(
    ([arm, error]): NetRun => ({
      arm: arm as NetRun['arm'],
      model: arm,
      wrong: [],
      trainError: [0.5, error],
      testError: [0.5, error],
      loss: [1, 0.5],
      seconds: 1,
    }),
  ),
});

describe('degradation judge', () => {
  const seeds = (p20: number, p56: number, r20: number, r56: number) =>
    [-0.002, 0, 0.002].map((j) =>
      effects(
        seed({
          'plain-shallow': p20 + j,
          'plain-deep': p56 + j,
          'resnet-shallow': r20 + j / 2,
          'resnet-deep': r56 - j / 2,
        }),
      ),
    );

  it('holds when plain56 trains worse than plain20 and resnet56 at least as well as resnet20', () => {
    const held = judge(RULES, seeds(0.05, 0.1, 0.03, 0.025));
    expect(held.parts.map((p) => p.verdict)).toEqual(['held', 'held', 'held']);
    expect(held.verdict).toBe('held');
  });

  it('does not hold when the deeper plain net trains as well, or the deeper ResNet clearly worse', () => {
    expect(judge(RULES, seeds(0.05, 0.05, 0.03, 0.025)).verdict).toBe('did not hold');
    const worseResNet = judge(RULES, seeds(0.05, 0.1, 0.03, 0.05));
    expect(worseResNet.parts[2]!.verdict).toBe('did not hold');
    expect(worseResNet.verdict).toBe('did not hold');
  });
});

describe('experiment degradation (quick budget, 2 seeds)', () => {
  it('trains the four nets per seed and writes the report, plots and numbers', async () => {
    run = await runQuick<DegradationMeasurement>('degradation', ['training-error', 'test-error']);
    for (const m of run.seeds.full) {
      // The quick budget's smoke test: the same four arms at depths 8 and 14.
      expect(m.runs.map((r) => r.model)).toEqual(['plain8', 'plain14', 'resnet8', 'resnet14']);
      for (const r of m.runs) {
        expect(r.trainError).toHaveLength(2);
        expect(r.wrong).toHaveLength(4); // 128 images, batch 64, 2 epochs
        for (const w of r.wrong) expect(w).toBeGreaterThanOrEqual(0);
        expect(r.testError[0]).toBeGreaterThanOrEqual(0);
      }
    }
    // The half budget is the first cosine cycle: the first epoch.
    const part = run.results.parts.full.find((p) => p.key === 'degradation')!;
    for (const [i, m] of run.seeds.full.entries()) {
      expect(part.values[i]).toBeCloseTo(effects(m)['degradation'] as number, 12);
    }
  }, 600_000);

  it('rejects an unknown experiment, a missing --out, a bad budget or too few seeds with exit code 2', async () => {
    const errors: string[] = [];
    const io = { stdout: () => {}, stderr: (t: string) => errors.push(t) };
    expect(await main(['experiment', 'degradaton', '--out', '/tmp/x'], io)).toBe(2);
    expect(errors.join('\n')).toContain('the experiments are: degradation');
    expect(await main(['experiment', 'degradation'], io)).toBe(2);
    expect(errors.join('\n')).toContain('needs --out DIR');
    expect(await main(['experiment', 'degradation', '--out', '/tmp/x', '--budget', 'huge'], io)).toBe(2);
    expect(await main(['experiment', 'degradation', '--out', '/tmp/x', '--seeds', '1'], io)).toBe(2);
    expect(errors.join('\n')).toContain('--seeds must be an integer of at least 2');
    expect(await main(['experiment', 'degradation', '--out', '/tmp/x', '--backend', 'cuda'], io)).toBe(2);
  });
});
