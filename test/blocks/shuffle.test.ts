import { describe, expect, it } from 'vitest';
import { type ShuffleV1Options, shuffleUnitV1, shuffleUnitV2 } from '../../src/blocks/shuffle.js';
import {
  buildModel,
  GraphBuilder,
  GraphError,
  type ResolvedGraph,
  type ResolvedNode,
  resolveGraph,
  type Tensor,
} from '../../src/index.js';

/** One unit, named `unit`, on an input of [C, H, W], made the graph's output and resolved. */
function build(input: [number, number, number], make: (x: Tensor) => Tensor): ResolvedGraph {
  const b = new GraphBuilder('unit', 'test');
  b.output(make(b.input(input)));
  return resolveGraph(b.build());
}

const v1 = (input: [number, number, number], o: ShuffleV1Options) =>
  build(input, (x) => shuffleUnitV1(x, 'unit', o));
const v2 = (input: [number, number, number], o: { out: number; stride: number }) =>
  build(input, (x) => shuffleUnitV2(x, 'unit', o));

const node = (r: ResolvedGraph, name: string): ResolvedNode => {
  const n = r.byName.get(name);
  if (!n) throw new Error(`no node '${name}'`);
  return n;
};
const output = (r: ResolvedGraph) => node(r, r.outputs[0]!.node);
const weight = (r: ResolvedGraph, name: string) =>
  node(r, name).params.find((p) => p.name === 'weight')!.shape;
const paramKeys = (r: ResolvedGraph) =>
  r.nodes.flatMap((n) => n.params.map((p) => `${n.node.name}.${p.name}`));

describe('ShuffleNet v2 unit', () => {
  it('stride 1: split -> branch2 on one half -> concat with the other -> shuffle in 2 groups', () => {
    const r = v2([116, 28, 28], { out: 116, stride: 1 });
    const out = output(r);
    expect(out.node.name).toBe('unit.channel_shuffle');
    expect(out.ctx.output).toEqual([1, 116, 28, 28]);
    expect(out.node.attrs['groups']).toBe(2);
    const cat = node(r, 'unit.concat');
    expect(out.node.inputs).toEqual(['unit.concat']);
    expect(cat.node.inputs).toEqual(['unit.split.0', 'unit.branch2.7']);
    expect(node(r, 'unit.split.0').node.op).toBe('slice');
    expect(node(r, 'unit.split.0').node.attrs).toMatchObject({ start: 0, end: 58 });
    expect(node(r, 'unit.split.1').node.attrs).toMatchObject({ start: 58, end: 116 });
    expect(node(r, 'unit.branch2.0').node.inputs).toEqual(['unit.split.1']);
    expect(r.byName.has('unit.branch1.0')).toBe(false);
  });

  it('stride 1: branch2 is 1x1 -> BN -> ReLU -> dw 3x3 -> BN -> 1x1 -> BN -> ReLU at half width', () => {
    const r = v2([116, 28, 28], { out: 116, stride: 1 });
    const branch = r.nodes.filter((n) => n.node.name.startsWith('unit.branch2.'));
    expect(branch.map((n) => [n.node.name.slice('unit.'.length), n.node.op])).toEqual([
      ['branch2.0', 'conv2d'],
      ['branch2.1', 'batchnorm2d'],
      ['branch2.2', 'relu'],
      ['branch2.3', 'conv2d'],
      ['branch2.4', 'batchnorm2d'],
      ['branch2.5', 'conv2d'],
      ['branch2.6', 'batchnorm2d'],
      ['branch2.7', 'relu'],
    ]);
    expect(weight(r, 'unit.branch2.0')).toEqual([58, 58, 1, 1]);
    expect(weight(r, 'unit.branch2.3')).toEqual([58, 1, 3, 3]);
    expect(node(r, 'unit.branch2.3').node.attrs['groups']).toBe(58);
    expect(weight(r, 'unit.branch2.5')).toEqual([58, 58, 1, 1]);
  });

  it('stride 2: both branches read the whole input, halve the map and double the width', () => {
    const r = v2([24, 56, 56], { out: 116, stride: 2 });
    expect(output(r).ctx.output).toEqual([1, 116, 28, 28]);
    expect(node(r, 'unit.branch1.0').node.inputs).toEqual(['input']);
    expect(node(r, 'unit.branch2.0').node.inputs).toEqual(['input']);
    expect(node(r, 'unit.concat').node.inputs).toEqual(['unit.branch1.4', 'unit.branch2.7']);
    expect(node(r, 'unit.concat').ctx.output).toEqual([1, 116, 28, 28]);
    expect(r.nodes.some((n) => n.node.op === 'slice')).toBe(false);
    expect(weight(r, 'unit.branch1.0')).toEqual([24, 1, 3, 3]);
    expect(weight(r, 'unit.branch1.2')).toEqual([58, 24, 1, 1]);
    expect(weight(r, 'unit.branch2.0')).toEqual([58, 24, 1, 1]);
    // torchvision's state_dict order: branch1 is registered before branch2.
    const keys = paramKeys(r);
    expect(keys.indexOf('unit.branch1.3.num_batches_tracked')).toBeLessThan(
      keys.indexOf('unit.branch2.0.weight'),
    );
  });

  it('stride 1 refuses a width change, naming the split', () => {
    expect(() => v2([48, 28, 28], { out: 116, stride: 1 })).toThrow(GraphError);
    expect(() => v2([48, 28, 28], { out: 116, stride: 1 })).toThrow(/unit\.split/);
  });
});

describe('ShuffleNet v1 unit', () => {
  it('stride 1, g=3: grouped 1x1 -> BN -> ReLU -> shuffle -> dw 3x3 -> BN -> grouped 1x1 -> BN, add, ReLU', () => {
    const r = v1([240, 28, 28], { out: 240, stride: 1, groups: 3, groupedInput: true });
    expect(r.nodes.slice(1).map((n) => [n.node.name.slice('unit.'.length), n.node.op])).toEqual([
      ['gconv1', 'conv2d'],
      ['bn1', 'batchnorm2d'],
      ['relu1', 'relu'],
      ['shuffle', 'channel_shuffle'],
      ['dwconv', 'conv2d'],
      ['bn2', 'batchnorm2d'],
      ['gconv2', 'conv2d'],
      ['bn3', 'batchnorm2d'],
      ['add', 'add'],
      ['relu', 'relu'],
    ]);
    expect(node(r, 'unit.add').node.inputs).toEqual(['unit.bn3', 'input']);
    expect(output(r).ctx.output).toEqual([1, 240, 28, 28]);
    // Bottleneck of out/4 = 60; both 1x1s in 3 groups, the shuffle in 3 groups, the 3x3 depthwise.
    expect(node(r, 'unit.gconv1').node.attrs['groups']).toBe(3);
    expect(weight(r, 'unit.gconv1')).toEqual([60, 80, 1, 1]);
    expect(node(r, 'unit.shuffle').node.attrs['groups']).toBe(3);
    expect(node(r, 'unit.dwconv').node.attrs['groups']).toBe(60);
    expect(weight(r, 'unit.dwconv')).toEqual([60, 1, 3, 3]);
    expect(node(r, 'unit.gconv2').node.attrs['groups']).toBe(3);
    expect(weight(r, 'unit.gconv2')).toEqual([240, 20, 1, 1]);
  });

  it("stride 2, stage 2's first unit: plain first 1x1, branch of out - in channels concatenated to a pooled shortcut", () => {
    const r = v1([24, 56, 56], { out: 240, stride: 2, groups: 3, groupedInput: false });
    expect(output(r).ctx.output).toEqual([1, 240, 28, 28]);
    expect(node(r, 'unit.gconv1').node.attrs['groups']).toBe(1);
    expect(weight(r, 'unit.gconv1')).toEqual([60, 24, 1, 1]);
    expect(node(r, 'unit.dwconv').ctx.output).toEqual([1, 60, 28, 28]);
    expect(node(r, 'unit.gconv2').node.attrs['groups']).toBe(3);
    expect(weight(r, 'unit.gconv2')).toEqual([216, 20, 1, 1]);
    const pool = node(r, 'unit.shortcut');
    expect(pool.node.op).toBe('avgpool2d');
    expect(pool.node.attrs).toMatchObject({ kernel: [3, 3], stride: [2, 2] });
    expect(pool.ctx.output).toEqual([1, 24, 28, 28]);
    expect(node(r, 'unit.concat').node.inputs).toEqual(['unit.shortcut', 'unit.bn3']);
    expect(output(r).node.inputs).toEqual(['unit.concat']);
    expect(r.byName.has('unit.add')).toBe(false);
  });

  it('stride 2, later stages: both 1x1s grouped', () => {
    const r = v1([240, 28, 28], { out: 480, stride: 2, groups: 3, groupedInput: true });
    expect(output(r).ctx.output).toEqual([1, 480, 14, 14]);
    expect(weight(r, 'unit.gconv1')).toEqual([120, 80, 1, 1]);
    expect(weight(r, 'unit.gconv2')).toEqual([240, 40, 1, 1]);
  });

  it('g=1 has nothing to shuffle', () => {
    const r = v1([144, 28, 28], { out: 144, stride: 1, groups: 1, groupedInput: true });
    expect(r.nodes.some((n) => n.node.op === 'channel_shuffle')).toBe(false);
  });

  it('shufflenet_v1_g3 groups every 1x1 in 3 but the very first', () => {
    const r = resolveGraph(buildModel('shufflenet_v1_g3'));
    const pointwise = r.nodes.filter((n) => /\.gconv[12]$/.test(n.node.name));
    expect(pointwise).toHaveLength(2 * 16);
    const ungrouped = pointwise.filter((n) => n.node.attrs['groups'] !== 3).map((n) => n.node.name);
    expect(ungrouped).toEqual(['stage2.0.gconv1']);
    expect(output(r).ctx.output).toEqual([1, 1000]);
    expect(node(r, 'stage4.3.relu').ctx.output).toEqual([1, 960, 7, 7]);
  });
});
