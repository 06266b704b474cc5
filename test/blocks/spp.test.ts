import { describe, expect, it } from 'vitest';
import { spatialPyramidPool } from '../../src/blocks/spp.js';
import { buildModel, GraphBuilder, resolveGraph, summariseGraph } from '../../src/index.js';

const SIZES = [
  [32, 32],
  [224, 224],
  [300, 200],
] as const;

describe('spatialPyramidPool', () => {
  it('gives C * sum(n^2) features whatever the map size, odd and non-square included', () => {
    for (const [h, w] of [
      [1, 1],
      [3, 5],
      [7, 7],
      [13, 9],
      [56, 56],
    ] as const) {
      const b = new GraphBuilder('spp', 'spp');
      const y = spatialPyramidPool(b.input([8, h, w]), 'spp', [4, 2, 1]);
      expect(y.shape).toEqual([1, 8 * (16 + 4 + 1)]);
    }
  });

  it('is made of one adaptive max pool and one flatten per level, then a concat', () => {
    const b = new GraphBuilder('spp', 'spp');
    b.output(spatialPyramidPool(b.input([4, 10, 10]), 'spp', [3, 1]));
    expect(b.build().nodes.map((n) => [n.name, n.op])).toEqual([
      ['input', 'input'],
      ['spp.pool3', 'adaptive_maxpool2d'],
      ['spp.flatten3', 'flatten'],
      ['spp.pool1', 'adaptive_maxpool2d'],
      ['spp.flatten1', 'flatten'],
      ['spp.concat', 'concat'],
    ]);
  });
});

describe('vgg16_spp', () => {
  it.each(SIZES)('feeds 512 * 21 = 10752 features to the classifier at %ix%i', (h, w) => {
    const r = resolveGraph(buildModel('vgg16_spp', { input: [3, h, w] }));
    expect(r.byName.get('spp.concat')!.ctx.output).toEqual([1, 10752]);
    expect(r.byName.get('classifier.6')!.ctx.output).toEqual([1, 1000]);
  });

  it('has the same parameters at every input size; only the conv MACs change', () => {
    const [small, std, wide] = SIZES.map(([h, w]) =>
      summariseGraph(buildModel('vgg16_spp', { input: [3, h, w] })),
    );
    expect(small!.totals.params).toBe(79_637_288);
    expect(std!.totals.params).toBe(small!.totals.params);
    expect(wide!.totals.params).toBe(small!.totals.params);
    // Checked against PyTorch: VGG-16 features[:-1] + adaptive_max_pool2d pyramid + the VGG classifier.
    expect([small!.totals.macs, std!.totals.macs, wide!.totals.macs]).toEqual([
      378_109_952, 15_411_544_064, 18_212_489_216,
    ]);
  });

  it('replaces pool5: the features stop at features.29', () => {
    const names = buildModel('vgg16_spp').nodes.map((n) => n.name);
    expect(names).toContain('features.29');
    expect(names).not.toContain('features.30');
  });
});
