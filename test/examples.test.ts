import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  fromSpec,
  type Graph,
  numel,
  parseSpec,
  type ResolvedGraph,
  resolveGraph,
  summariseGraph,
  toSpec,
  withInputShape,
  withoutAux,
} from '../src/index.js';
import { golden } from './support/golden.js';
import { ROOT } from './support/paths.js';

const DIR = join(ROOT, 'examples');
const FILES = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();

const load = (file: string): Graph => parseSpec(readFileSync(join(DIR, file), 'utf8'), file);
const totals = (file: string) => summariseGraph(load(file)).totals;

/** Weights of the conv and linear layers: the figures the papers compare (no biases, no BN). */
const weights = (r: ResolvedGraph, nodes?: readonly string[]): number =>
  r.nodes
    .filter((n) => ['conv2d', 'linear'].includes(n.node.op) && (!nodes || nodes.includes(n.node.name)))
    .reduce((sum, n) => sum + numel(n.params.find((p) => p.name === 'weight')!.shape), 0);

const learnable = (r: ResolvedGraph, prefix: string): number =>
  r.nodes
    .filter((n) => n.node.name.startsWith(prefix))
    .flatMap((n) => n.params.filter((p) => p.role === 'param'))
    .reduce((sum, p) => sum + numel(p.shape), 0);

/**
 * Receptive field [h, w] of the main output, propagated node by node from the ops' own spatial
 * transfer (rf grows by (k-1)*dilation*jump, jump by the stride); a merge takes the widest input.
 */
function receptiveField(r: ResolvedGraph): [number, number] {
  const state = new Map<string, { rf: [number, number]; jump: [number, number] }>();
  for (const n of r.nodes) {
    const ins = n.node.inputs.map((i) => state.get(i)!);
    const rf: [number, number] = ins.length
      ? [Math.max(...ins.map((s) => s.rf[0])), Math.max(...ins.map((s) => s.rf[1]))]
      : [1, 1];
    const jump: [number, number] = ins.length ? ins[0]!.jump : [1, 1];
    const t = n.def.spatial(n.ctx as never);
    if (t.kind === 'window') {
      for (const a of [0, 1] as const) {
        rf[a] += (t.kernel[a] - 1) * t.dilation[a] * jump[a];
        jump[a] *= t.stride[a];
      }
    } else if (t.kind !== 'identity') {
      throw new Error(`${n.node.name}: receptiveField handles window and identity transfers only`);
    }
    state.set(n.node.name, { rf, jump: [...jump] });
  }
  return state.get(r.outputs.find((o) => o.role === 'main')!.node)!.rf;
}

describe('examples: every spec loads, resolves and round-trips', () => {
  it('has every example the README lists, and nothing else', () => {
    const readme = readFileSync(join(DIR, 'README.md'), 'utf8');
    const listed = [...readme.matchAll(/^\| \[([\w.]+\.json)\]/gm)].map((m) => m[1]);
    expect(listed.sort()).toEqual(FILES);
  });

  for (const file of FILES) {
    it(file, () => {
      const raw = JSON.parse(readFileSync(join(DIR, file), 'utf8')) as Record<string, unknown>;
      expect(raw['name']).toBe(file.replace(/\.json$/, ''));
      expect(typeof raw['description']).toBe('string');
      const graph = load(file);
      expect(() => resolveGraph(graph)).not.toThrow();
      const spec = toSpec(fromSpec(raw, file));
      const reloaded = parseSpec(JSON.stringify(spec), `${file} (written back)`);
      expect(toSpec(reloaded)).toEqual(spec);
    });
  }

  it('lists every example in examples/README.md with the totals convlab summary prints', () => {
    const readme = readFileSync(join(DIR, 'README.md'), 'utf8');
    const en = (n: number) => n.toLocaleString('en-US');
    for (const file of FILES) {
      const row = readme.split('\n').find((l) => l.startsWith(`| [${file}](${file})`));
      expect(row, `README row for ${file}`).toBeDefined();
      const t = totals(file);
      const cells = row!.split('|').map((c) => c.trim());
      expect(cells).toContain(en(t.params));
      expect(cells).toContain(en(t.macs));
    }
  });
});

describe('examples: the canon claims, as numbers', () => {
  it('inception (3a): 1x1 reductions cut the MACs to 319/756 (0.422) of the naive module', () => {
    const naive = totals('inception_3a_naive.json');
    const reduced = totals('inception_3a_reduced.json');
    expect(naive.macs).toBe(303_464_448);
    expect(reduced.macs).toBe(128_049_152);
    // 784 positions * (192*64 + 192*96 + 96*128*9 + 192*16 + 16*32*25 + 192*32) = the paper's "128M".
    expect(reduced.macs).toBe(
      28 * 28 * (192 * 64 + 192 * 96 + 96 * 128 * 9 + 192 * 16 + 16 * 32 * 25 + 192 * 32),
    );
    // 319/756 = 0.42196 exactly.
    expect(reduced.macs * 756).toBe(naive.macs * 319);
    expect(reduced.params).toBe(163_696);
    expect(naive.params).toBe(387_296);
    // The naive module also passes the pool's 192 channels on: 416 channels out against 256.
    expect(summariseGraph(load('inception_3a_naive.json')).outputs[0]!.shape).toEqual([1, 416, 28, 28]);
    expect(summariseGraph(load('inception_3a_reduced.json')).outputs[0]!.shape).toEqual([1, 256, 28, 28]);
  });

  it('two stacked 3x3 see the 5x5 window with 18/25 of its weights', () => {
    const five = resolveGraph(load('conv5x5.json'));
    const two = resolveGraph(load('conv3x3x2.json'));
    expect(receptiveField(five)).toEqual([5, 5]);
    expect(receptiveField(two)).toEqual([5, 5]);
    expect(weights(five)).toBe(64 * 64 * 25);
    expect(weights(two) * 25).toBe(weights(five) * 18);
    expect(totals('conv3x3x2.json').macs * 25).toBe(totals('conv5x5.json').macs * 18);
  });

  it('3x1 followed by 1x3 covers a 3x3 with 6/9 of its weights', () => {
    const asym = resolveGraph(load('conv3x1_1x3.json'));
    const one3x3 = weights(resolveGraph(load('conv3x3x2.json')), ['conv1']);
    expect(receptiveField(asym)).toEqual([3, 3]);
    expect(weights(asym)).toBe(64 * 64 * (3 + 3));
    expect(weights(asym) * 9).toBe(one3x3 * 6);
    expect(totals('conv3x1_1x3.json').macs * 9 * 2).toBe(totals('conv3x3x2.json').macs * 6);
  });

  it('a bottleneck carries 4x the channels of a basic block for fewer parameters and MACs', () => {
    const basic = totals('basic_block.json');
    const bottleneck = totals('bottleneck_block.json');
    // Basic: two 3x3 64->64 and two BNs; bottleneck: 1x1 256->64, 3x3 64->64, 1x1 64->256, three BNs.
    expect(basic.params).toBe(2 * 64 * 64 * 9 + 2 * 2 * 64);
    expect(bottleneck.params).toBe(256 * 64 + 64 * 64 * 9 + 64 * 256 + 2 * (64 + 64 + 256));
    expect(basic.params).toBe(73_984);
    expect(bottleneck.params).toBe(70_400);
    expect(bottleneck.macs).toBe(218_365_952);
    expect(basic.macs).toBe(231_211_008);
    expect(bottleneck.macs).toBeLessThan(basic.macs);
    // ResNeXt's 32 groups of 4 channels keep a 128-wide bottleneck at the same budget.
    const resnext = totals('resnext_block.json');
    expect(resnext.params).toBe(256 * 128 + (128 / 32) * 128 * 9 + 128 * 256 + 2 * (128 + 128 + 256));
    expect(resnext.params / bottleneck.params).toBeCloseTo(1.0109, 4);
    expect(resnext.macs / bottleneck.macs).toBeCloseTo(1.00735, 5);
  });

  it('a depthwise-separable conv costs 1/out + 1/k^2 = 265/2304 of a standard one', () => {
    const standard = totals('standard_conv.json');
    const separable = totals('separable_conv.json');
    expect(standard.params).toBe(128 * 256 * 9);
    expect(separable.params).toBe(128 * 9 + 128 * 256);
    // separable / standard = (9 + 256) / (9 * 256) = 1/256 + 1/9, exactly.
    expect(separable.params * 2304).toBe(standard.params * 265);
    expect(separable.macs * 2304).toBe(standard.macs * 265);
  });

  it('spatial pyramid pooling gives 256 * (16 + 4 + 1) features at any input size', () => {
    const spp = load('spp_head.json');
    for (const shape of [
      [3, 224, 224],
      [3, 64, 64],
      [3, 100, 80],
    ] as const) {
      const r = resolveGraph(withInputShape(spp, shape));
      expect(r.byName.get('spp.concat')!.ctx.output).toEqual([1, 5376]);
    }
    const small = summariseGraph(withInputShape(spp, [3, 64, 64]));
    const odd = summariseGraph(withInputShape(spp, [3, 100, 80]));
    expect(small.totals.params).toBe(odd.totals.params);
    expect(small.totals.macs).not.toBe(odd.totals.macs);
  });

  it('squeeze-and-excitation costs 2*C*C/16 + C/16 + C parameters and almost no MACs', () => {
    const r = resolveGraph(load('se_block.json'));
    const c = 256;
    const overhead = 2 * c * (c / 16) + c / 16 + c;
    expect(learnable(r, 'se.')).toBe(overhead);
    expect(
      summariseGraph(load('se_block.json')).totals.params - learnable(r, 'conv3') - learnable(r, 'bn3'),
    ).toBe(overhead);
    expect(overhead).toBe(8464);
    const seMacs = r.nodes.filter((n) => n.node.name.startsWith('se.')).reduce((s, n) => s + n.macs, 0);
    expect(seMacs).toBe(2 * c * (c / 16));
    expect(r.byName.get('se.scale_activation')!.ctx.output).toEqual([1, c, 1, 1]);
    expect(r.byName.get('se.scale')!.ctx.output).toEqual([1, c, 56, 56]);
  });

  it('a dense layer reads the concatenation of every earlier map of its block', () => {
    const r = resolveGraph(load('dense_block.json'));
    for (let i = 1; i <= 4; i++) {
      const cat = r.byName.get(`features.denseblock1.denselayer${i}.concated_features`)!;
      expect(cat.node.inputs).toHaveLength(i);
      expect(cat.ctx.output[1]).toBe(64 + 32 * (i - 1));
    }
    expect(r.byName.get('features.denseblock1.concat')!.ctx.output).toEqual([1, 64 + 4 * 32, 56, 56]);
  });

  it('auxiliary heads count as parameters but not as inference MACs', () => {
    const graph = load('googlenet_aux.json');
    expect(graph.outputs.filter((o) => o.role === 'aux').map((o) => o.lossWeight)).toEqual([0.3, 0.3]);
    const all = summariseGraph(graph).totals;
    const main = summariseGraph(withoutAux(graph)).totals;
    expect(all.macs).toBe(main.macs);
    expect(all.params - main.params).toBe(2_124_938 + 2_141_322);
  });

  it('the learnable L2-norm scale is one parameter per channel', () => {
    const r = resolveGraph(load('maxpool_l2norm.json'));
    const norm = r.byName.get('pool4_norm')!;
    expect(norm.params.map((p) => [p.name, [...p.shape], p.init])).toEqual([
      ['weight', [512], { kind: 'constant', value: 20 }],
    ]);
    expect(norm.macs).toBe(0);
  });

  it('ShuffleNet units keep their width; the v2 split halves are free views', () => {
    const v1 = resolveGraph(load('shufflenet_unit.json'));
    expect(v1.outputs.map((o) => v1.byName.get(o.node)!.ctx.output)).toEqual([[1, 240, 28, 28]]);
    // Grouped 1x1s cost 1/3 of dense ones.
    expect(weights(v1, ['stage2.1.gconv1'])).toBe((240 * 60) / 3);
    const v2 = resolveGraph(load('shufflenet_v2_unit.json'));
    expect(v2.byName.get('stage2.1.split.0')!.def.memory.view).toBe(true);
    expect(v2.byName.get('stage2.1.channel_shuffle')!.ctx.output).toEqual([1, 116, 28, 28]);
  });
});

describe('examples: names map onto torchvision state_dicts', () => {
  const cases: [file: string, model: string, prefix: string][] = [
    ['basic_block.json', 'resnet18', 'layer1.0.'],
    ['bottleneck_block.json', 'resnet50', 'layer1.1.'],
    ['resnext_block.json', 'resnext50_32x4d', 'layer1.1.'],
    ['mobilenet_v2_block.json', 'mobilenet_v2', 'features.3.'],
    ['shufflenet_v2_unit.json', 'shufflenet_v2_x1_0', 'stage2.1.'],
  ];
  for (const [file, model, prefix] of cases) {
    it(`${file} is ${model}'s ${prefix.slice(0, -1)}`, () => {
      const ours = resolveGraph(load(file)).nodes.flatMap((n) =>
        n.params.map((p) => [`${n.node.name}.${p.name}`, [...p.shape]]),
      );
      expect(ours).toEqual(golden.models[model]!.state_dict.filter(([k]) => k.startsWith(prefix)));
    });
  }

  it("dense_block.json is densenet121's first four dense layers", () => {
    const ours = resolveGraph(load('dense_block.json')).nodes.flatMap((n) =>
      n.params.map((p) => [`${n.node.name}.${p.name}`, [...p.shape]]),
    );
    const layers = [1, 2, 3, 4].map((i) => `features.denseblock1.denselayer${i}.`);
    expect(ours).toEqual(
      golden.models['densenet121']!.state_dict.filter(([k]) => layers.some((l) => k.startsWith(l))),
    );
  });
});
