import { afterAll, describe, expect, it } from 'vitest';
import {
  type AuxMeasurement,
  type AuxRun,
  buildSmallGoogLeNet,
  effects,
  partGradientNorms,
  partRatios,
  RULES,
} from '../../src/experiments/aux_loss.js';
import { judge } from '../../src/experiments/judge.js';
import { resolveGraph } from '../../src/ir/resolve.js';
import { type QuickRun, removeRun, runQuick } from './quick.js';

let run: QuickRun<AuxMeasurement> | undefined;
afterAll(() => removeRun(run));

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
  });

  /** A synthetic seed: conv1's gradient `boost` times larger with the heads; final accuracies as given. */
  const synthetic = (boost: number, accuracy: [number, number]): AuxMeasurement => {
    const arm = (aux: boolean, acc: number): AuxRun => ({
      aux,
      mainLoss: [2, 1],
      gradients: [1, 2].map((g) => PARTS.map((_, j) => (aux && j === 0 ? g * boost : g))),
      testAccuracy: [0.5, acc],
      testLoss: [1, 0.5],
      seconds: 1,
    });
    return { stepsPerEpoch: 1, runs: [arm(true, accuracy[0]), arm(false, accuracy[1])] };
  };

  it('judges the conv1 gradient ratio (the claim) and the accuracy gain (secondary)', () => {
    const m = synthetic(1.25, [0.9, 0.89]);
    expect(partRatios(m)[0]).toEqual({ part: 'conv1', init: 1.25, run: 1.25 });
    expect(partRatios(m)[1]!.run).toBe(1);
    expect(effects(m)['test-accuracy']).toBeCloseTo(0.01, 12);
    const seeds = (boost: number, gap: number) =>
      [0.98, 1, 1.02].map((j) => effects(synthetic(boost * j, [0.9 + gap * j, 0.9])));
    const boosted = judge(RULES, seeds(1.25, 0.0001));
    expect(boosted.verdict).toBe('held');
    // A gain far below GoogLeNet's 0.5 points: the secondary part does not hold, the claim still does.
    expect(boosted.parts[1]!.verdict).toBe('did not hold');
    expect(judge(RULES, seeds(1.02, 0.01)).verdict).toBe('did not hold');
  });

  it('trains with and without the heads per seed and writes the report, plots and numbers', async () => {
    run = await runQuick<AuxMeasurement>('aux-loss', [
      'main-loss',
      'first-layer-gradient',
      'gradient-ratio-by-depth',
      'test-accuracy',
    ]);
    expect(run.report).toContain('Going Deeper with Convolutions');
    for (const m of run.seeds.full) {
      expect(m.runs.map((r) => r.aux)).toEqual([true, false]);
      expect(partRatios(m).map((p) => p.part)).toEqual(PARTS);
      for (const p of partRatios(m)) {
        expect(p.init).toBeGreaterThan(0);
        expect(Number.isFinite(p.run)).toBe(true);
      }
      for (const r of m.runs) {
        expect(r.testAccuracy).toHaveLength(2);
        expect(r.mainLoss).toHaveLength(4); // 128 images, batch 64, 2 epochs
        for (const row of r.gradients) {
          expect(row).toHaveLength(PARTS.length);
          for (const norm of row) expect(norm).toBeGreaterThan(0);
        }
      }
      // At the first step both arms have the same trunk weights and batch: the heads only add gradient.
      expect(m.runs[0].mainLoss[0]).toBeCloseTo(m.runs[1].mainLoss[0]!, 5);
    }
  }, 600_000);
});
