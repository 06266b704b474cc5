import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { synthetic } from '../../src/data/synthetic.js';
import type { Experiment, HalfBudget, SeedContext } from '../../src/experiments/experiment.js';
import { type RunOptions, runExperiment } from '../../src/experiments/runner.js';
import { Stopped } from '../../src/experiments/training.js';
import { onnxruntimeBackend } from '../../src/train/step.js';
import { tempDir } from '../support/tmp.js';

const root = tempDir('runner');

interface Fake {
  readonly seed: number;
  readonly scale: string;
  readonly effect: number;
}

/** An experiment without training: each seed's effect is 1 + seed / 10, a stop request thrown on `stopAt`. */
function fake(half: 'rerun' | 'prefix', calls: string[], stopAt?: number): Experiment<Fake> {
  const how: HalfBudget<Fake> =
    half === 'rerun'
      ? { kind: 'rerun', describe: 'a run of its own' }
      : { kind: 'prefix', of: (m) => ({ ...m, effect: m.effect / 2 }), describe: 'the first half' };
  return {
    name: 'fake',
    title: 'A fake',
    claim: 'The effect is positive.',
    budgets: { quick: { steps: 1 }, full: { steps: 2 } },
    seeds: { quick: 2, full: 3 },
    half: how,
    rules: [
      {
        key: 'e',
        claim: 'positive',
        effect: 'the effect',
        test: { kind: 'greater', threshold: 0 },
        format: 'number',
      },
    ],
    async measure(ctx: SeedContext) {
      calls.push(`${ctx.seed}/${ctx.scale}`);
      if (ctx.seed === stopAt) {
        writeFileSync(join(ctx.work, 'partial'), 'x');
        throw new Stopped('SIGINT');
      }
      return { seed: ctx.seed, scale: ctx.scale, effect: 1 + ctx.seed / 10 };
    },
    effects: (m) => ({ e: m.effect }),
    report: () => ({ finding: '', setup: '', results: '', figures: [], raw: null }),
  };
}

const options = (out: string, seeds = [0, 1, 2]): RunOptions => ({
  out,
  data: synthetic({ train: 8, test: 8 }),
  source: 'synthetic',
  budget: 'quick',
  seeds,
  backend: onnxruntimeBackend,
  log: () => {},
  stop: () => undefined,
});

describe('the seed runner', () => {
  it('measures each seed once, writes it, judges full and half, and reads finished seeds back', async () => {
    const out = join(root, 'rerun');
    const calls: string[] = [];
    const first = await runExperiment(fake('rerun', calls), options(out));
    expect(calls).toEqual(['0/full', '0/half', '1/full', '1/half', '2/full', '2/half']);
    if (first.status !== 'completed') throw new Error('expected a completed run');
    expect(first.judgement.full.parts[0]!.values).toEqual([1, 1.1, 1.2]);
    expect(first.judgement.settled.verdict).toBe('held');
    expect(first.half.map((s) => s.measurement.scale)).toEqual(['half', 'half', 'half']);
    const stored = JSON.parse(readFileSync(join(out, 'seeds', 'full', 'seed-1.json'), 'utf8'));
    expect(stored.measurement).toEqual({ seed: 1, scale: 'full', effect: 1.1 });
    expect(stored.key).toMatchObject({
      experiment: 'fake',
      budget: 'quick',
      plan: { steps: 1 },
      scale: 'full',
    });
    // Again, with one seed more: only the new seed is measured.
    calls.length = 0;
    const second = await runExperiment(fake('rerun', calls), options(out, [0, 1, 2, 3]));
    expect(calls).toEqual(['3/full', '3/half']);
    expect(second.status).toBe('completed');
  });

  it('takes the half budget from the full measurement where it is a prefix', async () => {
    const calls: string[] = [];
    const r = await runExperiment(fake('prefix', calls), options(join(root, 'prefix')));
    expect(calls).toEqual(['0/full', '1/full', '2/full']);
    if (r.status !== 'completed') throw new Error('expected a completed run');
    expect(r.judgement.half.parts[0]!.values).toEqual([0.5, 0.55, 0.6]);
  });

  it('stops at a stop request, keeping finished seeds and the stopped seed’s work, and continues later', async () => {
    const out = join(root, 'stop');
    const calls: string[] = [];
    const stopped = await runExperiment(fake('prefix', calls, 1), options(out));
    expect(stopped).toEqual({ status: 'stopped', reason: 'SIGINT', done: 1 });
    expect(existsSync(join(out, 'seeds', 'full', 'seed-0.json'))).toBe(true);
    const work = join(out, 'seeds', 'full', 'seed-1.work');
    expect(existsSync(join(work, 'partial'))).toBe(true);
    expect(JSON.parse(readFileSync(join(work, 'elapsed.json'), 'utf8')).seconds).toBeGreaterThanOrEqual(0);
    calls.length = 0;
    const resumed = await runExperiment(fake('prefix', calls), options(out));
    expect(calls).toEqual(['1/full', '2/full']);
    expect(resumed.status).toBe('completed');
    expect(existsSync(work)).toBe(false);
    // A stop requested between seeds stops before the next one.
    const early = await runExperiment(fake('prefix', []), {
      ...options(join(root, 'early')),
      stop: () => 'SIGTERM',
    });
    expect(early).toEqual({ status: 'stopped', reason: 'SIGTERM', done: 0 });
  });

  it('refuses seeds measured with another setting, and fewer than two seeds', async () => {
    const out = join(root, 'mismatch');
    await runExperiment(fake('prefix', []), options(out));
    await expect(runExperiment(fake('prefix', []), { ...options(out), budget: 'full' })).rejects.toThrow(
      /seed-0\.json was measured with another setting .*use another --out/,
    );
    await expect(runExperiment(fake('prefix', []), options(out, [0]))).rejects.toThrow(/at least 2 seeds/);
  });
});
