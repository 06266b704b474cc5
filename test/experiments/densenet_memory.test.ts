import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  depthGrowth,
  effects,
  type MemoryMeasurement,
  type MemoryRow,
  RULES,
  relativeError,
} from '../../src/experiments/densenet_memory.js';
import { judge } from '../../src/experiments/judge.js';
import { measureInFreshProcess, residentMemory, writeBatch } from '../../src/experiments/measure_memory.js';
import { buildModel, resolveGraph } from '../../src/index.js';
import { tempDir } from '../support/tmp.js';
import { type QuickRun, removeRun, runQuick } from './quick.js';

const tmp = tempDir('memory');
let run: QuickRun<MemoryMeasurement> | undefined;
afterAll(() => removeRun(run));

describe('experiment densenet-memory (quick budget, 2 repeats)', () => {
  it('measures, estimates and trains and writes the report, plots and numbers', async () => {
    run = await runQuick<MemoryMeasurement>('densenet-memory', ['peak-vs-depth', 'peak-per-layer']);
    // One depth per family cannot tell linear from quadratic growth.
    expect(run.summary.verdict).toBe('inconclusive');
    expect(run.report).toMatch(/\| resnet20 \| 20 \|/);
    // The half budget measures again at half the batch.
    expect(run.seeds.full.map((m) => m.batch)).toEqual([16, 16]);
    expect(run.seeds.half.map((m) => m.batch)).toEqual([8, 8]);
    for (const m of [...run.seeds.full, ...run.seeds.half]) {
      expect(m.rows.map((r) => r.model)).toEqual(['resnet20', 'densenet_bc_40_k12']);
      for (const r of m.rows) {
        const { measured } = r;
        expect(measured.peakAfterStep).toHaveLength(1);
        for (const loss of measured.losses) expect(Number.isFinite(loss)).toBe(true);
        // The state alone is 3 copies of the weights (weights, velocities, BN buffers aside).
        expect(measured.state).toBeGreaterThanOrEqual(2 * r.estimate.params);
        expect(measured.peak).toBeGreaterThan(measured.state);
        // A broken baseline shows as a peak near zero or far off; the estimate is within 2x either way.
        expect(measured.peak / r.estimate.peak).toBeGreaterThan(0.5);
        expect(measured.peak / r.estimate.peak).toBeLessThan(2);
        expect(r.arena).toBeUndefined();
      }
      const [resnet, densenet] = m.rows;
      // DenseNet-BC-40 has fewer parameters than ResNet-20 but far more feature maps to keep.
      expect(densenet!.params).toBeLessThan(resnet!.params);
      expect(densenet!.measured.peak).toBeGreaterThan(2 * resnet!.measured.peak);
    }
    // The full budget trains the shallowest ResNet for its accuracy; the half budget does not.
    expect(run.seeds.full[0]!.rows[0]!.testAccuracy).toBeGreaterThanOrEqual(0);
    expect(run.seeds.half[0]!.rows[0]!.testAccuracy).toBeUndefined();
  }, 600_000);

  it('a measuring child that fails says which model and why', async () => {
    const batchFile = join(tmp, 'one.bin');
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

  it('judges quadratic DenseNet growth and linear ResNet growth over repeats', () => {
    const row = (model: string, family: string, depth: number, peak: number) =>
      ({ model, family, depth, measured: { peak } }) as unknown as MemoryRow;
    const repeat = (noise: number, denseSquare: number): MemoryMeasurement => ({
      batch: 64,
      input: [1, 28, 28],
      classes: 10,
      backend: 'onnxruntime',
      rows: [
        ...[20, 56, 110].map((d) => row(`resnet${d}`, 'ResNet', d, (5e6 + 3e6 * d) * (1 + noise))),
        ...[40, 64, 100].map((d) =>
          row(`densenet${d}`, 'DenseNet-BC', d, (1e7 * d + denseSquare * d * d) * (1 + noise)),
        ),
      ],
    });
    const quadratic = [0, 0.002, -0.002].map((n) => effects(repeat(n, 1e6)));
    // Per added layer 1e7 + 1e6 (40 + 64) bytes, then 1e7 + 1e6 (64 + 100).
    expect(Math.exp(quadratic[0]!['DenseNet-BC-rise'] as number)).toBeCloseTo(1.74e8 / 1.14e8, 9);
    expect(quadratic[0]!['ResNet-rise']).toBeCloseTo(0, 9);
    expect(judge(RULES, quadratic).verdict).toBe('held');
    // DenseNet growing linearly too: the claim does not hold.
    expect(
      judge(
        RULES,
        [0, 0.002, -0.002].map((n) => effects(repeat(n, 0))),
      ).verdict,
    ).toBe('did not hold');
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
