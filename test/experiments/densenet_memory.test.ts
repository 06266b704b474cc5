import '../../src/experiments/densenet_memory.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { depthGrowth, relativeError } from '../../src/experiments/densenet_memory.js';
import { measureInFreshProcess, residentMemory, writeBatch } from '../../src/experiments/measure_memory.js';
import { buildModel, resolveGraph } from '../../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'convlab-densenet-memory-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Measurement {
  peak: number;
  peakAfterStep: number[];
  state: number;
  losses: number[];
}

interface ModelResult {
  model: string;
  family: string;
  depth: number;
  params: number;
  estimate: { peak: number; params: number };
  measured: Measurement;
  arena?: Measurement;
  error: number;
  testAccuracy?: number;
}

describe('experiment densenet-memory (quick budget)', () => {
  it('measures, estimates and trains both nets and writes the report, plots and raw numbers', async () => {
    const stdout: string[] = [];
    const io = { stdout: (t: string) => stdout.push(t), stderr: () => {} };
    const code = await main(
      ['experiment', 'densenet-memory', '--out', dir, '--budget', 'quick', '--json'],
      io,
    );
    expect(code).toBe(0);
    const summary = JSON.parse(stdout.join('\n')) as { verdict: string };
    // One depth per family cannot tell linear from quadratic growth.
    expect(summary.verdict).toBe('inconclusive');
    const report = readFileSync(join(dir, 'report.md'), 'utf8');
    expect(report).toContain('Quick budget');
    expect(report).toContain('| resnet20 | 20 |');
    for (const svg of ['peak-vs-depth.svg', 'peak-per-layer.svg']) {
      expect(readFileSync(join(dir, svg), 'utf8')).toMatch(/^<svg[\s\S]*<(path|circle) [\s\S]*<\/svg>\n$/);
    }
    const { results } = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as {
      results: { batch: number; models: ModelResult[] };
    };
    expect(results.models.map((m) => m.model)).toEqual(['resnet20', 'densenet_bc_40_k12']);
    for (const m of results.models) {
      const { measured } = m;
      expect(measured.peakAfterStep).toHaveLength(1);
      for (const loss of measured.losses) expect(Number.isFinite(loss)).toBe(true);
      // The state alone is 3 copies of the weights (weights, velocities, BN buffers aside).
      expect(measured.state).toBeGreaterThanOrEqual(2 * m.estimate.params);
      expect(measured.peak).toBeGreaterThan(measured.state);
      // A broken baseline shows as a peak near zero or far off; the estimate is within 2x either way.
      expect(measured.peak / m.estimate.peak).toBeGreaterThan(0.5);
      expect(measured.peak / m.estimate.peak).toBeLessThan(2);
      expect(m.error).toBeCloseTo(relativeError(m.estimate.peak, measured.peak), 12);
      expect(m.arena).toBeUndefined();
      expect(m.testAccuracy).toBeGreaterThanOrEqual(0);
      expect(m.testAccuracy).toBeLessThanOrEqual(1);
    }
    const [resnet, densenet] = results.models as [ModelResult, ModelResult];
    // DenseNet-BC-40 has fewer parameters than ResNet-20 but far more feature maps to keep.
    expect(densenet.params).toBeLessThan(resnet.params);
    expect(densenet.measured.peak).toBeGreaterThan(2 * resnet.measured.peak);
  }, 180_000);

  it('a measuring child that fails says which model and why', async () => {
    const batchFile = join(dir, 'one.bin');
    writeBatch(batchFile, new Uint8Array(28 * 28), Int32Array.of(3));
    await expect(
      measureInFreshProcess({
        model: 'no_such_net',
        input: [1, 28, 28],
        classes: 10,
        batch: 1,
        steps: 1,
        seed: 0,
        allocator: 'system',
        batchFile,
      }),
    ).rejects.toThrow(/measuring the training peak of no_such_net .*failed: .*no_such_net/);
  }, 60_000);
});

describe('densenet-memory: depth growth', () => {
  it('tells linear growth (constant bytes per layer) from quadratic', () => {
    const linear = depthGrowth([20, 56, 110].map((depth) => ({ depth, bytes: 5e6 + 3e6 * depth })));
    expect(linear.perLayer).toEqual([3e6, 3e6]);
    expect(linear.rise).toBeCloseTo(1, 12);
    const quadratic = depthGrowth([40, 64, 100].map((depth) => ({ depth, bytes: 1e5 * depth * depth })));
    expect(quadratic.perLayer[0]).toBeCloseTo(1e5 * (40 + 64), 6);
    expect(quadratic.rise).toBeCloseTo((64 + 100) / (40 + 64), 12);
    expect(quadratic.exponent).toBeCloseTo(2, 12);
    expect(relativeError(90, 100)).toBeCloseTo(-0.1, 12);
  });

  it('DenseNet-BC-L has L weighted layers (6n + 4), as the zoo builds it', () => {
    for (const depth of [40, 64, 100]) {
      const r = resolveGraph(buildModel(`densenet_bc_${depth}_k12`, { input: [1, 28, 28], classes: 10 }));
      const weighted = r.nodes.filter((n) => n.node.op === 'conv2d' || n.node.op === 'linear');
      expect(weighted).toHaveLength(depth);
    }
  });

  it('reads VmRSS and VmHWM from a /proc status text', () => {
    const status = 'Name:\tnode\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t7\n';
    expect(residentMemory(status)).toEqual({ rss: 100 * 2 ** 20, peak: 200 * 2 ** 20 });
  });
});
