import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { judge } from '../../src/experiments/judge.js';
import {
  buildPoolNet,
  effects,
  learned,
  oscillation,
  oscillationRatio,
  type PoolMeasurement,
  RULES,
  ratioAt,
} from '../../src/experiments/maxpool_l2norm.js';
import { resolveGraph } from '../../src/ir/resolve.js';
import { ROOT } from '../support/paths.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';
import { type QuickRun, removeRun, runQuick } from './quick.js';

let run: QuickRun<PoolMeasurement> | undefined;
afterAll(() => removeRun(run));

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
    expect(oscillationRatio({ learned: false }, plainCollapsed)).toBeNaN();
  });

  /** A synthetic seed: at each rate, the plain net's loss zigzags by 1 and the normalised nets' by `swing`. */
  const synthetic = (swing: Record<string, number>, plainDiverged = false): PoolMeasurement => ({
    classes: 10,
    steps: 40,
    settle: 0.25,
    window: 3,
    runs: [0.02, 0.1].flatMap((lr) =>
      (['none', 'l2', 'l2-scaled'] as const).map((normalisation) => {
        const amplitude = normalisation === 'none' ? 1 : swing[normalisation]!;
        const diverged = plainDiverged && normalisation === 'none' && lr === 0.1;
        return {
          normalisation,
          lr,
          losses: diverged
            ? []
            : Array.from({ length: 40 }, (_, i) => 1 + (i % 2 ? amplitude / 2 : -amplitude / 2)),
          diverged,
          accuracy: null,
          testAccuracy: null,
          seconds: 1,
        };
      }),
    ),
  });

  it('judges the variance ratios per seed: halved swings hold, equal swings do not', () => {
    // Swings scaled by a factor scale the variance of the change by its square.
    const m = synthetic({ l2: 0.5, 'l2-scaled': 0.8 });
    expect(ratioAt(m, 'l2', 0.1)).toBeCloseTo(0.25, 12);
    expect(Math.exp(effects(m)['l2-scaled@0.1'] as number)).toBeCloseTo(0.64, 12);
    const seeds = (l2: number, scaled: number) =>
      [0.98, 1, 1.02].map((j) => effects(synthetic({ l2: l2 * j, 'l2-scaled': scaled * j })));
    expect(judge(RULES, seeds(0.5, 0.7)).verdict).toBe('held');
    expect(judge(RULES, seeds(0.5, 1)).verdict).toBe('did not hold');
    // A seed whose plain net diverged has no finite ratio: it is left out of the interval.
    const left = judge(RULES, [...seeds(0.5, 0.7), effects(synthetic({ l2: 0.5, 'l2-scaled': 0.7 }, true))]);
    expect(left.parts[0]!.summary.left).toBe(1);
    expect(left.verdict).toBe('held');
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

describe('convlab experiment maxpool-l2norm (quick budget, 2 seeds)', () => {
  it('runs end to end and writes the report, figures and numbers', async () => {
    run = await runQuick<PoolMeasurement>('maxpool-l2norm', [
      'training-loss-lr0.1',
      'training-loss-lr0.02',
      'oscillation',
    ]);
    expect(run.report).toContain('ParseNet');
    expect(run.results.parts.full.map((p) => p.key)).toEqual([
      'l2@0.1',
      'l2-scaled@0.1',
      'l2@0.02',
      'l2-scaled@0.02',
    ]);
    for (const m of run.seeds.full) {
      // Three nets at two rates; 256 images in batches of 32 are 8 steps.
      expect(m.runs.map((r) => `${r.normalisation}@${r.lr}`)).toEqual([
        'none@0.02',
        'l2@0.02',
        'l2-scaled@0.02',
        'none@0.1',
        'l2@0.1',
        'l2-scaled@0.1',
      ]);
      for (const r of m.runs.filter((x) => !x.diverged)) {
        expect(r.losses).toHaveLength(8);
        expect(r.losses.every(Number.isFinite)).toBe(true);
        const o = oscillation(r.losses, m.settle, m.window);
        expect(o.steps).toBe(6);
        expect(o.differenceVariance).toBeGreaterThan(0);
      }
    }
    // The ratios in the report are the stored losses' (seed by seed).
    const part = run.results.parts.full.find((p) => p.key === 'l2@0.1')!;
    // (A seed where a net learned nothing in the quick budget's 8 steps has no finite ratio: JSON's null.)
    for (const [i, m] of run.seeds.full.entries()) {
      const log = Math.log(ratioAt(m, 'l2', 0.1));
      if (Number.isFinite(log)) expect(part.values[i]).toBeCloseTo(log, 12);
      else expect(part.values[i]).toBeNull();
    }
  }, 600_000);
});

/** A measurement without its timings (which differ from run to run), for comparing results. */
const untimed = (value: unknown): unknown =>
  JSON.parse(JSON.stringify(value, (key, v) => (key === 'seconds' ? undefined : v)));

/**
 * The CLI in a real process, as a user runs it (tsx as a loader in the one process: tsx's own
 * wrapper SIGKILLs a child that does not answer a forwarded signal within 60 ms), interrupted by
 * `signal` once its stderr matches `when` or, given a path, once that file exists; resolves with
 * its exit code (or signal) and stderr.
 */
async function interrupted(out: string, when: RegExp | string, signal: NodeJS.Signals) {
  const script = join(out, '..', 'experiment-cli.mts');
  writeFileSync(
    script,
    [
      `import { main } from ${JSON.stringify(join(ROOT, 'src/cli/main.ts'))};`,
      'process.exitCode = await main(process.argv.slice(2));',
    ].join('\n'),
  );
  const args = ['experiment', 'maxpool-l2norm', '--out', out, '--budget', 'quick', '--seeds', '2'];
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT, detached: true });
  let stderr = '';
  let sent = false;
  const send = () => {
    if (sent) return;
    sent = true;
    // Ctrl-C signals the whole process group; a wrapper such as npx forwards it as well.
    process.kill(-child.pid!, signal);
    if (signal === 'SIGINT') process.kill(child.pid!, signal);
  };
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    if (typeof when !== 'string' && when.test(stderr)) send();
  });
  const poll =
    typeof when === 'string'
      ? setInterval(() => {
          if (existsSync(when)) send();
        }, 20)
      : undefined;
  const [code, killedBy] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on('exit', (c, s) => resolve([c, s])),
  );
  clearInterval(poll);
  return { code, killedBy, stderr };
}

describe('an interrupted experiment resumes where it stopped', () => {
  it('after SIGINT and after a kill, re-running finishes every seed exactly as an uninterrupted run', async () => {
    expect(run, 'the quick run above is the uninterrupted reference').toBeDefined();
    const out = join(makeTempDir('resume'), 'out');
    const seedFile = (s: number) => join(out, 'seeds', 'full', `seed-${s}.json`);
    const work = join(out, 'seeds', 'full', 'seed-1.work');

    // Ctrl-C in the second seed's second run: the finished seed is kept, the run checkpoints.
    const first = await interrupted(out, /training max-pool \+ L2 at lr 0\.02, seed 1/, 'SIGINT');
    expect(first.code, first.stderr).toBe(130);
    expect(first.stderr).toMatch(/stopped by SIGINT after 1 of 2 seeds; .* the same command continues/);
    expect(existsSync(seedFile(0))).toBe(true);
    expect(existsSync(seedFile(1))).toBe(false);
    expect(existsSync(join(work, 'none-lr0.02', 'run.json'))).toBe(true);
    expect(existsSync(join(work, 'elapsed.json'))).toBe(true);
    const seed0 = readFileSync(seedFile(0), 'utf8');

    // Started again: it resumes the stopped run from its checkpoint; killed outright in the next run,
    // once that run's first checkpoint is written.
    const scaled = join(work, 'l2-scaled-lr0.02', 'checkpoint.safetensors');
    const second = await interrupted(out, scaled, 'SIGKILL');
    expect(second.killedBy).toBe('SIGKILL');
    expect(second.stderr).toMatch(/seed 0: measured before/);
    expect(second.stderr).toMatch(/none-lr0\.02: finished before/);
    expect(second.stderr).toMatch(/l2-lr0\.02: resuming at step [1-7]\b/);

    // The same command once more finishes without redoing seed 0 or seed 1's finished runs.
    const log: string[] = [];
    const code = await main(
      ['experiment', 'maxpool-l2norm', '--out', out, '--budget', 'quick', '--seeds', '2'],
      {
        stdout: () => {},
        stderr: (t) => log.push(t),
      },
    );
    const text = log.join('\n');
    expect(code, text).toBe(0);
    expect(text).toMatch(/seed 0: measured before/);
    expect(text).toMatch(/none-lr0\.02: finished before/);
    expect(text).toMatch(/l2-lr0\.02: finished before/);
    expect(text).toMatch(/l2-scaled-lr0\.02: resuming at step \d+/);
    expect(readFileSync(seedFile(0), 'utf8')).toBe(seed0);
    expect(existsSync(work)).toBe(false);
    const measured = (s: number) =>
      (JSON.parse(readFileSync(seedFile(s), 'utf8')) as { measurement: unknown }).measurement;
    expect(untimed(measured(1))).toEqual(untimed(run!.seeds.full[1]));
    expect(untimed(measured(0))).toEqual(untimed(run!.seeds.full[0]));
    removeTempDir(join(out, '..'));
  }, 600_000);
});
