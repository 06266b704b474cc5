import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import '../../src/experiments/aux_loss.js';
import { main } from '../../src/cli/main.js';
import { accuracyNoise, buildSmallGoogLeNet, partGradientNorms } from '../../src/experiments/aux_loss.js';
import { resolveGraph } from '../../src/ir/resolve.js';

const dir = mkdtempSync(join(tmpdir(), 'convlab-aux-loss-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PARTS = [
  'conv1',
  'conv2',
  'conv3',
  'inception3a',
  'inception3b',
  'inception4a',
  'inception4b',
  'inception4c',
  'inception4d',
  'inception4e',
  'inception5a',
  'inception5b',
];

interface Step {
  loss: number;
  mainLoss: number;
  gradientNorm: Record<string, number>;
}

describe('experiment aux-loss', () => {
  it('builds the same trunk with and without the two auxiliary heads', () => {
    const params = (aux: boolean) =>
      resolveGraph(buildSmallGoogLeNet({ input: [1, 28, 28], classes: 10, aux })).nodes.flatMap((n) =>
        n.params.map((p) => `${n.node.name}.${p.name}:${p.shape.join('x')}`),
      );
    const withAux = params(true);
    const trunk = params(false);
    // Same names and shapes, so a seeded run initialises the trunk identically in both.
    expect(withAux.filter((p) => !p.startsWith('aux'))).toEqual(trunk);
    expect(withAux.some((p) => p.startsWith('aux1.')) && withAux.some((p) => p.startsWith('aux2.'))).toBe(
      true,
    );
    const outputs = buildSmallGoogLeNet({ input: [1, 28, 28], classes: 10, aux: true }).outputs;
    expect(outputs.map((o) => [o.role, o.lossWeight])).toEqual([
      ['main', 1],
      ['aux', 0.3],
      ['aux', 0.3],
    ]);
  });

  it("combines a part's conv weight gradient norms into one L2 norm, ignoring BN and other parts", () => {
    const probes = [
      new Map([
        ['grad_norm/inception3a.branch1.conv.weight', 3],
        ['grad_norm/inception3a.branch2.1.conv.weight', 4],
        ['grad_norm/inception3a.branch1.bn.weight', 100],
        ['grad_norm/inception3b.branch1.conv.weight', 100],
      ]),
    ];
    expect(partGradientNorms(probes, 'inception3a')).toEqual([5]);
    expect(accuracyNoise(0.5, 2)).toBeCloseTo(2 * Math.sqrt(0.25), 12);
  });

  it('trains with and without the heads and writes the report, plots and raw numbers', async () => {
    const stdout: string[] = [];
    const io = { stdout: (t: string) => stdout.push(t), stderr: () => {} };
    const code = await main(['experiment', 'aux-loss', '--out', dir, '--budget', 'quick', '--json'], io);
    expect(code).toBe(0);
    const summary = JSON.parse(stdout.join('\n')) as { verdict: string };
    expect(['held', 'did not hold', 'inconclusive']).toContain(summary.verdict);
    const report = readFileSync(join(dir, 'report.md'), 'utf8');
    expect(report).toContain('Quick budget');
    expect(report).toContain('Going Deeper with Convolutions');
    for (const svg of ['main-loss', 'first-layer-gradient', 'gradient-ratio-by-depth', 'test-accuracy']) {
      expect(readFileSync(join(dir, `${svg}.svg`), 'utf8')).toMatch(
        /^<svg[\s\S]*<(path|circle) [\s\S]*<\/svg>\n$/,
      );
    }
    const { results } = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as {
      results: {
        ratioOverRun: number;
        partRatio: { part: string; init: number; run: number }[];
        runs: { aux: boolean; epochs: unknown[]; steps: Step[] }[];
      };
    };
    expect(results.partRatio.map((p) => p.part)).toEqual(PARTS);
    for (const p of results.partRatio) {
      expect(p.init).toBeGreaterThan(0);
      expect(Number.isFinite(p.run)).toBe(true);
    }
    expect(results.runs.map((r) => r.aux)).toEqual([true, false]);
    for (const r of results.runs) {
      expect(r.epochs).toHaveLength(1);
      expect(r.steps).toHaveLength(4); // 256 images, batch 64
      for (const s of r.steps) {
        expect(Object.keys(s.gradientNorm)).toEqual(PARTS);
        for (const norm of Object.values(s.gradientNorm)) expect(norm).toBeGreaterThan(0);
        // The optimised loss is the main head's plus 0.3 of each aux head's: equal without heads, larger with.
        if (r.aux) expect(s.loss).toBeGreaterThan(s.mainLoss);
        else expect(s.loss).toBeCloseTo(s.mainLoss, 5);
      }
    }
  }, 240_000);
});
