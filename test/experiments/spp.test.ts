import '../../src/experiments/spp.js';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { buildSppNet, featuresOf, type SizeResult, verdictOf } from '../../src/experiments/spp.js';
import { resolveGraph } from '../../src/ir/resolve.js';

const root = mkdtempSync(join(tmpdir(), 'convlab-spp-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

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

  it('holds the claim only with one feature length and every size above twice chance', () => {
    const result = (head: number, accuracy: number) => ({ features: { head }, accuracy }) as SizeResult;
    expect(verdictOf([result(672, 0.9), result(672, 0.5)], 10)).toBe('held');
    expect(verdictOf([result(672, 0.9), result(672, 0.15)], 10)).toBe('inconclusive');
    expect(verdictOf([result(672, 0.9), result(800, 0.9)], 10)).toBe('did not hold');
  });
});

describe('convlab experiment spp', () => {
  it('runs the quick budget end to end and writes the report, figures and numbers', async () => {
    const out = join(root, 'quick');
    let stdout = '';
    const code = await main(['experiment', 'spp', '--out', out, '--budget', 'quick', '--json'], {
      stdout: (t) => (stdout += t),
      stderr: () => {},
    });
    expect(code).toBe(0);
    const summary = JSON.parse(stdout) as { verdict: string; finding: string };
    // The fixed length is exact whatever the training did; the quick net is above twice chance or not.
    expect(['held', 'inconclusive']).toContain(summary.verdict);
    expect(summary.finding).toContain('672 features at every input size');
    for (const file of ['report.md', 'results.json', 'accuracy-by-size.svg', 'feature-length.svg']) {
      expect(existsSync(join(out, file)), file).toBe(true);
    }
    expect(readFileSync(join(out, 'accuracy-by-size.svg'), 'utf8')).toMatch(/^<svg/);
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toContain('fixed-length representation');
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
      results: {
        trainingSize: number[];
        sizes: {
          size: number[];
          accuracy: number;
          loss: number;
          features: { head: number; convMap: number[] };
          flatten: { loads: boolean; error?: string };
        }[];
      };
    };
    const sizes = results.results.sizes;
    expect(sizes.map((s) => s.size)).toEqual([
      [20, 20],
      [28, 28],
      [40, 40],
    ]);
    for (const s of sizes) {
      expect(s.features.head).toBe(672);
      expect(s.accuracy).toBeGreaterThanOrEqual(0);
      expect(s.accuracy).toBeLessThanOrEqual(1);
      expect(Number.isFinite(s.loss)).toBe(true);
      // The flatten twin's 28x28 weights load only at 28x28, and the refusal says which weight.
      expect(s.flatten.loads).toBe(s.size[0] === 28);
      if (!s.flatten.loads) expect(s.flatten.error).toMatch(/fc1\.weight/);
    }
    expect(sizes.map((s) => s.features.convMap)).toEqual([
      [32, 5, 5],
      [32, 7, 7],
      [32, 10, 10],
    ]);
  }, 180_000);
});
