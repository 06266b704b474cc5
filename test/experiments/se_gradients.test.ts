import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import '../../src/experiments/se_gradients.js';
import { main } from '../../src/cli/main.js';
import { streamNodes, trunkConvs } from '../../src/experiments/se_gradients.js';
import { resolveGraph } from '../../src/ir/resolve.js';
import { buildCifarResNet } from '../../src/zoo/resnet_cifar.js';

const dir = mkdtempSync(join(tmpdir(), 'convlab-se-gradients-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const build = (se?: number) =>
  buildCifarResNet('r', 'resnet_cifar', 3, 'zero-pad', { input: [1, 28, 28], classes: 10, aux: false }, se);

describe('experiment se-gradients', () => {
  it('compares the same 19 trunk convs and 10 stream points in ResNet-20 and its SE twin', () => {
    const plain = build();
    const se = build(16);
    expect(trunkConvs(plain)).toHaveLength(19);
    expect(trunkConvs(se)).toEqual(trunkConvs(plain));
    expect(streamNodes(plain)).toEqual([
      'relu',
      ...[1, 2, 3].flatMap((l) => [0, 1, 2].map((b) => `layer${l}.${b}.relu_1`)),
    ]);
    expect(streamNodes(se)).toEqual(streamNodes(plain));
    // SE sits on each residual branch before the addition: the block's output is still add -> ReLU.
    const r = resolveGraph(se);
    expect(r.byName.get('layer1.0.relu_1')!.node.inputs).toEqual(['layer1.0.add']);
    expect(r.byName.get('layer1.0.add')!.node.inputs[0]).toBe('layer1.0.se.scale');
    // Reduction 16 on 16 channels squeezes to one unit.
    expect(r.byName.get('layer1.0.se.fc1')!.ctx.output[1]).toBe(1);
  });

  it('trains both nets and writes the report, plots and per-depth gradient norms', async () => {
    const stdout: string[] = [];
    const io = { stdout: (t: string) => stdout.push(t), stderr: () => {} };
    const code = await main(['experiment', 'se-gradients', '--out', dir, '--budget', 'quick', '--json'], io);
    expect(code).toBe(0);
    const summary = JSON.parse(stdout.join('\n')) as { verdict: string };
    expect(['held', 'did not hold', 'inconclusive']).toContain(summary.verdict);
    const report = readFileSync(join(dir, 'report.md'), 'utf8');
    expect(report).toContain('Quick budget');
    expect(report).toContain('Squeeze-and-Excitation Networks');
    for (const svg of ['gradient-by-depth', 'ratio-by-depth', 'stream-gradient-by-depth']) {
      expect(readFileSync(join(dir, `${svg}.svg`), 'utf8')).toMatch(
        /^<svg[\s\S]*<(path|circle) [\s\S]*<\/svg>\n$/,
      );
    }
    const { results } = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as {
      results: {
        nearInput: { init: number; trained: number };
        runs: {
          model: string;
          steps: unknown[];
          convs: { conv: string; gradNormAtInit: number; gradNormTrained: number }[];
          stream: { node: string; gradNormAtInit: number; gradNormTrained: number }[];
        }[];
      };
    };
    expect(results.runs.map((r) => r.model)).toEqual(['resnet20', 'se_resnet20']);
    for (const r of results.runs) {
      expect(r.steps).toHaveLength(4); // 256 images, batch 64
      expect(r.convs.map((c) => c.conv)).toEqual(trunkConvs(build()));
      for (const c of r.convs) {
        expect(c.gradNormAtInit).toBeGreaterThan(0);
        expect(c.gradNormTrained).toBeGreaterThan(0);
      }
      expect(r.stream).toHaveLength(10);
      for (const s of r.stream) expect(s.gradNormAtInit).toBeGreaterThan(0);
    }
    // The stage ratio is the norm of the stem's and first stage's gradients together, SE over plain.
    const [plain, se] = results.runs as [(typeof results.runs)[0], (typeof results.runs)[0]];
    const nearInput = (r: typeof plain) =>
      Math.hypot(
        ...r.convs
          .filter((c) => !c.conv.startsWith('layer2') && !c.conv.startsWith('layer3'))
          .map((c) => c.gradNormAtInit),
      );
    expect(results.nearInput.init).toBeCloseTo(nearInput(se) / nearInput(plain), 6);
  }, 240_000);
});
