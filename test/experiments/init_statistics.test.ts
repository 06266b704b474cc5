import '../../src/experiments/init_statistics.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import {
  buildNet,
  type ConvLayer,
  effectiveFans,
  geometricMean,
  MEASURABLE,
  measuredRatio,
  predictedProfile,
  predictedRatios,
} from '../../src/experiments/init_statistics.js';

const dir = mkdtempSync(join(tmpdir(), 'convlab-init-statistics-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const KAIMING = { kind: 'kaiming_normal', mode: 'fan_in' } as const;
const XAVIER = { kind: 'xavier_normal' } as const;
const SMALL = { kind: 'normal', std: 0.01, mean: 0 } as const;

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

interface Profile {
  net: string;
  init: string;
  layers: string[];
  actStd: number[];
  gradStd: number[];
  loss: number;
}
interface Ratio {
  net: string;
  init: string;
  forward?: { ratio: number };
  backward?: { ratio: number };
  predictedForward?: number;
  predictedBackward?: number;
}

describe('experiment init-statistics (quick budget)', () => {
  it('measures six nets at initialisation and writes the report, plots and raw numbers', async () => {
    const stdout: string[] = [];
    const io = { stdout: (t: string) => stdout.push(t), stderr: () => {} };
    const code = await main(
      ['experiment', 'init-statistics', '--out', dir, '--budget', 'quick', '--json'],
      io,
    );
    expect(code).toBe(0);
    const summary = JSON.parse(stdout.join('\n')) as { verdict: string };
    expect(['held', 'did not hold', 'inconclusive']).toContain(summary.verdict);
    const report = readFileSync(join(dir, 'report.md'), 'utf8');
    expect(report).toContain('Quick budget');
    expect(report).toContain('Delving Deep into Rectifiers');
    for (const svg of [
      'activation-std',
      'gradient-std',
      'plain-forward-vs-prediction',
      'plain-backward-vs-prediction',
    ]) {
      expect(readFileSync(join(dir, `${svg}.svg`), 'utf8')).toMatch(/^<svg[\s\S]*<path [\s\S]*<\/svg>\n$/);
    }
    const { results } = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as {
      results: { layers: { name: string }[]; profiles: Profile[]; ratios: Ratio[] };
    };
    // Quick: a stem and two blocks in each of two stages, nine convs.
    expect(results.layers.map((l) => l.name)).toEqual([
      'conv1',
      'layer1.0.conv1',
      'layer1.0.conv2',
      'layer1.1.conv1',
      'layer1.1.conv2',
      'layer2.0.conv1',
      'layer2.0.conv2',
      'layer2.1.conv1',
      'layer2.1.conv2',
    ]);
    expect(results.profiles.map((p) => `${p.net}/${p.init}`)).toEqual([
      'plain/normal',
      'plain/xavier',
      'plain/kaiming',
      'residual/normal',
      'residual/xavier',
      'residual/kaiming',
    ]);
    for (const p of results.profiles) {
      expect(p.actStd).toHaveLength(9);
      expect(p.gradStd).toHaveLength(9);
      // Nine layers are too few for even N(0, 0.01) to leave float32's reach.
      for (const s of [...p.actStd, ...p.gradStd]) expect(s).toBeGreaterThan(MEASURABLE);
      expect(Number.isFinite(p.loss)).toBe(true);
    }
    // Both nets start from the same weights: the stem (before any shortcut) sees the same signal.
    const plain = results.profiles[2]!;
    const residual = results.profiles[5]!;
    expect(residual.actStd[0]).toBeCloseTo(plain.actStd[0]!, 6);
    // The plain net under N(0, 0.01) loses about a factor 10 per layer; under Kaiming it keeps its scale.
    const ratio = (net: string, init: string) =>
      results.ratios.find((r) => r.net === net && r.init === init)!;
    expect(ratio('plain', 'normal').forward!.ratio).toBeLessThan(0.2);
    expect(ratio('plain', 'kaiming').forward!.ratio).toBeGreaterThan(0.8);
    expect(ratio('plain', 'kaiming').forward!.ratio).toBeLessThan(1.25);
    expect(ratio('plain', 'kaiming').predictedForward).toBeGreaterThan(0.9);
    expect(ratio('residual', 'kaiming').predictedForward).toBeUndefined();
  }, 120_000);
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
