import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';

const dir = mkdtempSync(join(tmpdir(), 'convlab-degradation-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Epoch {
  epoch: number;
  accuracy: number;
  testAccuracy: number;
  loss: number;
}

describe('experiment degradation (quick budget)', () => {
  it('trains the four nets and writes the report, plots and raw numbers', async () => {
    const stdout: string[] = [];
    const io = { stdout: (t: string) => stdout.push(t), stderr: () => {} };
    const code = await main(['experiment', 'degradation', '--out', dir, '--budget', 'quick', '--json'], io);
    expect(code).toBe(0);
    const summary = JSON.parse(stdout.join('\n')) as { verdict: string; files: string[] };
    expect(['held', 'did not hold', 'inconclusive']).toContain(summary.verdict);
    const report = readFileSync(join(dir, 'report.md'), 'utf8');
    expect(report).toContain('Quick budget');
    expect(report).toContain('![');
    for (const svg of ['training-error.svg', 'test-error.svg']) {
      expect(readFileSync(join(dir, svg), 'utf8')).toMatch(/^<svg[\s\S]*<(path|circle) [\s\S]*<\/svg>\n$/);
    }
    const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as {
      results: { model: string; epochs: Epoch[]; steps: { loss: number }[] }[];
    };
    expect(results.results.map((r) => r.model)).toEqual(['plain20', 'plain56', 'resnet20', 'resnet56']);
    for (const r of results.results) {
      expect(r.epochs).toHaveLength(1);
      expect(r.steps).toHaveLength(4); // 256 images, batch 64
      for (const s of r.steps) expect(Number.isFinite(s.loss)).toBe(true);
      expect(r.epochs[0]!.testAccuracy).toBeGreaterThanOrEqual(0);
    }
  }, 240_000);

  it('rejects an unknown experiment and a missing --out with exit code 2', async () => {
    const errors: string[] = [];
    const io = { stdout: () => {}, stderr: (t: string) => errors.push(t) };
    expect(await main(['experiment', 'degradaton', '--out', dir], io)).toBe(2);
    expect(errors.join('\n')).toContain('the experiments are: degradation');
    expect(await main(['experiment', 'degradation'], io)).toBe(2);
    expect(errors.join('\n')).toContain('needs --out DIR');
    expect(await main(['experiment', 'degradation', '--out', dir, '--budget', 'huge'], io)).toBe(2);
  });
});
