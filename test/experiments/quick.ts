import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { main } from '../../src/cli/main.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';

/** What a finished run left in its folder. */
export interface QuickRun<M> {
  readonly dir: string;
  readonly summary: {
    verdict: string;
    seeds: number[];
    files: string[];
    settled: { full: string; half: string };
  };
  readonly report: string;
  readonly results: {
    parts: {
      full: { key: string; values: number[]; verdict: string }[];
      half: { key: string; verdict: string }[];
    };
    results: unknown;
  };
  /** Each seed's stored measurement, by scale. */
  readonly seeds: { readonly full: M[]; readonly half: M[] };
}

/**
 * Run an experiment's quick budget with 2 seeds through the CLI, as CI does, and check what every
 * report must have: the verdict, the decision rule before the results, every part judged at the
 * full and the half budget over both seeds, the figures, and one stored measurement per seed.
 */
export async function runQuick<M>(name: string, figures: readonly string[]): Promise<QuickRun<M>> {
  const dir = makeTempDir(name);
  const stdout: string[] = [];
  const code = await main(['experiment', name, '--out', dir, '--budget', 'quick', '--seeds', '2', '--json'], {
    stdout: (t) => stdout.push(t),
    stderr: () => {},
  });
  expect(code).toBe(0);
  const summary = JSON.parse(stdout.join('\n')) as QuickRun<M>['summary'];
  expect(['held', 'did not hold', 'inconclusive']).toContain(summary.verdict);
  expect(summary.seeds).toEqual([0, 1]);
  const report = readFileSync(join(dir, 'report.md'), 'utf8');
  expect(report).toContain('Quick budget');
  const rule = report.indexOf('## Decision rule');
  expect(rule).toBeGreaterThan(0);
  expect(rule).toBeLessThan(report.indexOf('## Results'));
  expect(report).toMatch(/\| full budget \| half budget \|/);
  for (const svg of figures) {
    expect(readFileSync(join(dir, `${svg}.svg`), 'utf8')).toMatch(
      /^<svg[\s\S]*<(path|circle) [\s\S]*<\/svg>\n$/,
    );
    expect(report).toContain(`(${svg}.svg)`);
  }
  const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as QuickRun<M>['results'];
  for (const p of results.parts.full) expect(p.values).toHaveLength(2);
  expect(results.parts.half.map((p) => p.key)).toEqual(results.parts.full.map((p) => p.key));
  const read = (scale: string): M[] => {
    const folder = join(dir, 'seeds', scale);
    if (!existsSync(folder)) return [];
    // Finished seeds leave no working folder behind.
    expect(readdirSync(folder).sort()).toEqual(['seed-0.json', 'seed-1.json']);
    return [0, 1].map(
      (s) =>
        (JSON.parse(readFileSync(join(folder, `seed-${s}.json`), 'utf8')) as { measurement: M }).measurement,
    );
  };
  return { dir, summary, report, results, seeds: { full: read('full'), half: read('half') } };
}

export const removeRun = (run: { dir: string } | undefined) => {
  if (run) removeTempDir(run.dir);
};
