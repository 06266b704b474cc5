import { afterAll, describe, expect, it } from 'vitest';
import {
  buildNet,
  effects,
  factorsOf,
  type InitMeasurement,
  meanProfile,
  RULES,
} from '../../src/experiments/init_statistics.js';
import { judge } from '../../src/experiments/judge.js';
import {
  type ConvLayer,
  effectiveFans,
  geometricMean,
  MEASURABLE,
  measuredRatio,
  predictedProfile,
  predictedRatios,
} from '../../src/experiments/variance_analysis.js';
import type { Init } from '../../src/ir/op.js';
import { type QuickRun, removeRun, runQuick } from './quick.js';

const KAIMING = { kind: 'kaiming_normal', mode: 'fan_in' } as const;
const XAVIER = { kind: 'xavier_normal' } as const;
const SMALL = { kind: 'normal', std: 0.01, mean: 0 } as const;
const INIT: Record<string, Init> = { normal: SMALL, xavier: XAVIER, kaiming: KAIMING };

/** A 3x3, padding-1 conv; `size` is the input map's side. */
const layer = (inChannels: number, outChannels: number, size: number, stride = 1): ConvLayer => ({
  name: 'conv',
  inChannels,
  outChannels,
  kernel: 3,
  stride,
  padding: 1,
  inSize: [size, size],
  outSize: [Math.ceil(size / stride), Math.ceil(size / stride)],
});

const LAYERS = [
  'conv1',
  'layer1.0.conv1',
  'layer1.0.conv2',
  'layer1.1.conv1',
  'layer1.1.conv2',
  'layer2.0.conv1',
  'layer2.0.conv2',
  'layer2.1.conv1',
  'layer2.1.conv2',
];

let run: QuickRun<InitMeasurement> | undefined;
afterAll(() => removeRun(run));

describe('experiment init-statistics (quick budget, 2 seeds)', () => {
  it('measures six nets at initialisation per seed and writes the report, plots and numbers', async () => {
    run = await runQuick<InitMeasurement>('init-statistics', [
      'activation-std',
      'gradient-std',
      'plain-forward-vs-prediction',
      'plain-backward-vs-prediction',
    ]);
    expect(run.report).toContain('Delving Deep into Rectifiers');
    expect(run.results.parts.full.map((p) => p.key)).toEqual(RULES.map((r) => r.key));
    expect(run.seeds.half).toEqual([]); // the half budget is the first half of the batches
    for (const m of run.seeds.full) {
      // Quick: a stem and two blocks in each of two stages, nine convs; two batches.
      expect(m.convs.map((l) => l.name)).toEqual(LAYERS);
      expect(m.runs.map((r) => `${r.net}/${r.init}`)).toEqual([
        'plain/normal',
        'plain/xavier',
        'plain/kaiming',
        'residual/normal',
        'residual/xavier',
        'residual/kaiming',
      ]);
      for (const r of m.runs) {
        expect(r.actStd).toHaveLength(2);
        // Nine layers are too few for even N(0, 0.01) to leave float32's reach.
        for (const s of [...r.actStd.flat(), ...r.gradStd.flat()]) expect(s).toBeGreaterThan(MEASURABLE);
        expect(r.loss.every(Number.isFinite)).toBe(true);
      }
      // Both nets start from the same weights: the stem (before any shortcut) sees the same signal.
      expect(meanProfile(m.runs[5]!).actStd[0]).toBeCloseTo(meanProfile(m.runs[2]!).actStd[0]!, 6);
      // The plain net under N(0, 0.01) loses about a factor 10 per layer; under Kaiming it keeps its scale.
      expect(factorsOf(m, 'plain', 'normal').forward!.ratio).toBeLessThan(0.2);
      const kaiming = factorsOf(m, 'plain', 'kaiming');
      expect(kaiming.forward!.ratio).toBeGreaterThan(0.8);
      expect(kaiming.forward!.ratio).toBeLessThan(1.25);
      expect(kaiming.predictedForward).toBeGreaterThan(0.9);
      expect(factorsOf(m, 'residual', 'kaiming').predictedForward).toBeUndefined();
    }
    // The two seeds draw different weights and read different images.
    expect(run.seeds.full[0]!.runs[0]!.loss).not.toEqual(run.seeds.full[1]!.runs[0]!.loss);
  }, 600_000);
});

describe('init-statistics judge', () => {
  const convs = buildNet('plain', SMALL, [2, 2], [1, 28, 28], 10).convs;
  const geometric = (f: number) => convs.map((_, i) => f ** i);
  /** A synthetic seed: each net and init's std profiles given by `profile` (activations; gradients mirrored). */
  const synthetic = (profile: (net: string, init: string) => number[]): InitMeasurement => ({
    batch: 16,
    convs,
    runs: (['plain', 'residual'] as const).flatMap((net) =>
      (['normal', 'xavier', 'kaiming'] as const).map((init) => {
        const act = profile(net, init);
        const grad =
          net === 'plain' ? predictedProfile(INIT[init]!, convs, 1, 1).gradStd : act.slice().reverse();
        return { net, init, actStd: [act], gradStd: [grad], loss: [2.3] };
      }),
    ),
  });

  it("measures He's factors, vanishing in decades and the residual trunk from the profiles", () => {
    const m = synthetic((net, init) =>
      geometric(net === 'residual' ? 1.2 : init === 'normal' ? 0.01 : init === 'xavier' ? 0.7 : 1),
    );
    const e = effects(m);
    expect(Math.exp(e['kaiming-constant-forward'] as number)).toBeCloseTo(1, 9);
    // 0.01 per layer over 8 layers: 16 decades.
    expect(e['small-vanishes-forward']).toBeCloseTo(16, 9);
    expect(e['residual-grows']).toBeCloseTo(Math.log(1.2), 9);
    // Layers 2 to 8 (each block's first conv): 1.2^6.
    expect(e['residual-keeps-forward']).toBeCloseTo(6 * Math.log(1.2), 9);
    // A measured factor against the prediction for the same layers.
    const f = factorsOf(m, 'plain', 'xavier');
    expect(e['he-forward-xavier']).toBeCloseTo(Math.log(0.7 / f.predictedForward!), 9);
  });

  it('judges seeds that follow the analysis as held, and a Kaiming net that fades as not held', () => {
    // Each plain profile exactly He's chained prediction, off by a small per-layer jitter.
    const follows = (jitter: number) =>
      synthetic((net, init) =>
        net === 'residual'
          ? geometric(init === 'normal' ? 0.99 : 1.2)
          : predictedProfile(INIT[init]!, convs, 1, 1).actStd.map((v, i) => v * (1 + jitter) ** i),
      );
    const held = judge(RULES, [follows(0.01), follows(-0.01), follows(0.02)].map(effects));
    expect(held.parts.filter((p) => p.verdict !== 'held').map((p) => p.rule.key)).toEqual([]);
    expect(held.verdict).toBe('held');
    // Kaiming's plain net fading by 0.8 a layer: neither constant nor as predicted.
    const fades = (jitter: number) =>
      synthetic((net, init) =>
        net === 'residual' ? geometric(1.2) : geometric(init === 'kaiming' ? 0.8 + jitter : 0.01),
      );
    const failed = judge(RULES, [fades(0), fades(0.01), fades(-0.01)].map(effects));
    expect(failed.parts.find((p) => p.rule.key === 'kaiming-constant-forward')!.verdict).toBe('did not hold');
    expect(failed.verdict).toBe('did not hold');
  });
});

describe('init-statistics variance analysis', () => {
  it('counts the taps that fall inside the map as the effective fans', () => {
    // 28x28, stride 1: along an axis 28 * 3 - 2 of the taps land inside.
    const s1 = effectiveFans(layer(16, 16, 28));
    expect(s1.fanIn).toBeCloseTo((16 * 82 * 82) / (28 * 28), 9);
    expect(s1.fanOut).toBeCloseTo(s1.fanIn, 9);
    // Stride 2 to 14x14: only the first output's left tap falls outside; an input gets 9/4 taps per channel.
    const s2 = effectiveFans(layer(16, 32, 28, 2));
    expect(s2.fanIn).toBeCloseTo((16 * 41 * 41) / (14 * 14), 9);
    expect(s2.fanOut).toBeCloseTo((32 * 41 * 41) / (28 * 28), 9);
  });

  it("gives He et al.'s per-layer factors away from the borders", () => {
    const wide = layer(16, 16, 10_000);
    expect(predictedRatios(KAIMING, wide).forward).toBeCloseTo(1, 3);
    expect(predictedRatios(KAIMING, wide).backward).toBeCloseTo(1, 3);
    expect(predictedRatios(XAVIER, wide).forward).toBeCloseTo(Math.SQRT1_2, 3);
    expect(predictedRatios(SMALL, wide).forward).toBeCloseTo(0.01 * Math.sqrt(144 / 2), 4);
    // Kaiming over fan_in widening 16 -> 32 at stride 2: forward kept, backward halved in variance.
    const widen = layer(16, 32, 10_000, 2);
    expect(predictedRatios(KAIMING, widen).forward).toBeCloseTo(1, 3);
    expect(predictedRatios(KAIMING, widen).backward).toBeCloseTo(Math.SQRT1_2, 3);
  });

  it('takes geometric-mean ratios over the measurable layers only', () => {
    expect(geometricMean([1, 4])).toBeCloseTo(2, 12);
    expect(measuredRatio([1, 0.5, 0.25, 0, 0], 0, 4, 'forward')).toEqual({ ratio: 0.5, from: 0, to: 2 });
    const back = measuredRatio([0, 1e-40, 1e-3, 1e-2, 1e-1], 0, 4, 'backward')!;
    expect(back.from).toBe(2);
    expect(back.ratio).toBeCloseTo(0.1, 12);
    expect(measuredRatio([0, 0, 0], 0, 2, 'forward')).toBeUndefined();
  });

  it('chains the predicted profile from the measured ends', () => {
    const net = buildNet('plain', SMALL, [1, 1], [1, 28, 28], 10);
    expect(net.convs).toHaveLength(5);
    const p = predictedProfile(SMALL, net.convs, 2, 3);
    expect(p.actStd[0]).toBe(2);
    expect(p.gradStd[4]).toBe(3);
    const second = predictedRatios(SMALL, net.convs[1]!);
    expect(p.actStd[1]).toBeCloseTo(2 * second.forward, 12);
    const backward = net.convs.slice(1).reduce((f, l) => f * predictedRatios(SMALL, l).backward, 1);
    expect(p.gradStd[0]).toBeCloseTo(3 * backward, 12);
  });
});
