import { describe, expect, it } from 'vitest';
import { googlenetAux, inceptionV3Aux } from '../../src/blocks/aux_head.js';
import { inceptionModule } from '../../src/blocks/inception.js';
import { inceptionA, inceptionB, inceptionC, inceptionD, inceptionE } from '../../src/blocks/inception_v3.js';
import { separableConv2d } from '../../src/blocks/separable.js';
import { entryFlowBlock, exitFlowBlock, middleFlowBlock } from '../../src/blocks/xception.js';
import {
  buildModel,
  conv2d,
  GraphBuilder,
  numel,
  type ResolvedGraph,
  resolveGraph,
  summariseGraph,
  type Tensor,
} from '../../src/index.js';

/** Build a one-block graph on a [C, H, W] input and resolve it. */
function block(shape: readonly [number, number, number], body: (x: Tensor) => Tensor): ResolvedGraph {
  const b = new GraphBuilder('t', 'test');
  b.output(body(b.input(shape)));
  return resolveGraph(b.build());
}

const outShape = (r: ResolvedGraph): readonly number[] => r.nodes[r.nodes.length - 1]!.ctx.output;

/** Learnable parameters of the nodes whose name starts with `prefix`. */
const paramsUnder = (r: ResolvedGraph, prefix = ''): number =>
  r.nodes
    .filter((n) => n.node.name.startsWith(prefix))
    .flatMap((n) => n.params.filter((p) => p.role === 'param'))
    .reduce((s, p) => s + numel(p.shape), 0);

const macsUnder = (r: ResolvedGraph, prefix = ''): number =>
  r.nodes.filter((n) => n.node.name.startsWith(prefix)).reduce((s, n) => s + n.macs, 0);

/** Parameters of a BasicConv2d: conv weight plus BN's weight and bias. */
const basic = (cin: number, cout: number, kh: number, kw = kh): number => cin * cout * kh * kw + 2 * cout;

describe('Inception v1 module', () => {
  const widths = { ch1x1: 64, ch3x3red: 96, ch3x3: 128, ch5x5red: 16, ch5x5: 32, poolProj: 32 };

  it('outputs the sum of its branches at the input resolution', () => {
    const r = block([192, 28, 28], (x) => inceptionModule(x, 'inception3a', widths));
    expect(outShape(r)).toEqual([1, 64 + 128 + 32 + 32, 28, 28]);
  });

  it('costs exactly its four branches, the 1x1 reductions included', () => {
    const r = block([192, 28, 28], (x) => inceptionModule(x, 'm', widths));
    const expected =
      basic(192, 64, 1) +
      basic(192, 96, 1) +
      basic(96, 128, 3) +
      basic(192, 16, 1) +
      basic(16, 32, 5) +
      basic(192, 32, 1);
    expect(paramsUnder(r)).toBe(expected);
  });

  it("keeps torchvision's 3x3 '5x5' branch when asked", () => {
    const r = block([192, 28, 28], (x) => inceptionModule(x, 'm', { ...widths, kernel5x5: 3 }));
    expect(r.byName.get('m.branch3.1.conv')!.params[0]!.shape).toEqual([32, 16, 3, 3]);
    expect(outShape(r)).toEqual([1, 256, 28, 28]);
  });

  it("names parameters as torchvision's state_dict, in its order", () => {
    const r = block([192, 28, 28], (x) => inceptionModule(x, 'inception3a', widths));
    const weights = r.nodes
      .flatMap((n) => n.params.map((p) => `${n.node.name}.${p.name}`))
      .filter((k) => k.endsWith('conv.weight'));
    expect(weights).toEqual([
      'inception3a.branch1.conv.weight',
      'inception3a.branch2.0.conv.weight',
      'inception3a.branch2.1.conv.weight',
      'inception3a.branch3.0.conv.weight',
      'inception3a.branch3.1.conv.weight',
      'inception3a.branch4.1.conv.weight',
    ]);
    expect(r.byName.get('inception3a.branch4.0')!.node.op).toBe('maxpool2d');
    expect(r.byName.get('inception3a.branch1.bn')!.node.attrs['eps']).toBe(0.001);
  });
});

describe('Inception v3 modules', () => {
  it('A, C and E output the sum of their branches at the input resolution', () => {
    expect(outShape(block([192, 35, 35], (x) => inceptionA(x, 'a', { poolFeatures: 32 })))).toEqual([
      1,
      64 + 64 + 96 + 32,
      35,
      35,
    ]);
    expect(outShape(block([768, 17, 17], (x) => inceptionC(x, 'c', { channels7x7: 128 })))).toEqual([
      1,
      4 * 192,
      17,
      17,
    ]);
    expect(outShape(block([1280, 8, 8], (x) => inceptionE(x, 'e')))).toEqual([
      1,
      320 + 2 * 384 + 2 * 384 + 192,
      8,
      8,
    ]);
  });

  it('B and D reduce the grid with a strided conv branch beside a pass-through max pool', () => {
    expect(outShape(block([288, 35, 35], (x) => inceptionB(x, 'b')))).toEqual([1, 384 + 96 + 288, 17, 17]);
    expect(outShape(block([768, 17, 17], (x) => inceptionD(x, 'd')))).toEqual([1, 320 + 192 + 768, 8, 8]);
  });

  it('a 1x7 then 7x1 costs 2*7*c*c weights where a 7x7 costs 49*c*c', () => {
    const c = 192;
    const r = block([768, 17, 17], (x) => inceptionC(x, 'c', { channels7x7: c }));
    const factorised =
      numel(r.byName.get('c.branch7x7_2.conv')!.params[0]!.shape) +
      numel(r.byName.get('c.branch7x7_3.conv')!.params[0]!.shape);
    const full = block([c, 17, 17], (x) => conv2d(x, { out: c, kernel: 7, padding: 3, bias: false }));
    expect(factorised).toBe(2 * 7 * c * c);
    expect(paramsUnder(full)).toBe(49 * c * c);
    // Same receptive field and output, 2/7 of the multiply-accumulates.
    const factorisedMacs = macsUnder(r, 'c.branch7x7_2.conv') + macsUnder(r, 'c.branch7x7_3.conv');
    expect(factorisedMacs / macsUnder(full)).toBeCloseTo(14 / 49, 12);
  });

  it('E concatenates its split 1x3 and 3x1 inside each 3x3 branch (asymmetric padding keeps 8x8)', () => {
    const r = block([1280, 8, 8], (x) => inceptionE(x, 'e'));
    expect(r.byName.get('e.branch3x3_2a.conv')!.node.attrs['padding']).toEqual([0, 1, 0, 1]);
    expect(r.byName.get('e.branch3x3_2b.conv')!.node.attrs['padding']).toEqual([1, 0, 1, 0]);
    expect(r.byName.get('e.branch3x3_cat')!.ctx.output).toEqual([1, 768, 8, 8]);
    expect(r.byName.get('e.branch3x3dbl_cat')!.ctx.output).toEqual([1, 768, 8, 8]);
  });
});

describe('depthwise-separable convolution', () => {
  it('costs depthwise + pointwise parameters and MACs', () => {
    const [c, out, k, h] = [728, 1024, 3, 19];
    const r = block([c, h, h], (x) => separableConv2d(x, 'sep', { out, kernel: k }));
    expect(paramsUnder(r)).toBe(c * k * k + c * out);
    expect(macsUnder(r)).toBe(h * h * (c * k * k + c * out));
    expect(outShape(r)).toEqual([1, out, h, h]);
    const full = block([c, h, h], (x) => conv2d(x, { out, kernel: k, padding: 1, bias: false }));
    expect(paramsUnder(full)).toBe(c * out * k * k);
  });

  it('is a depthwise conv (groups = channels) then a 1x1, both without bias', () => {
    const r = block([64, 16, 16], (x) => separableConv2d(x, 'sep', { out: 128, stride: 2 }));
    expect(r.byName.get('sep.depthwise')!.node.attrs).toMatchObject({ groups: 64, out: 64, bias: false });
    expect(r.byName.get('sep.depthwise')!.params.map((p) => p.shape)).toEqual([[64, 1, 3, 3]]);
    expect(r.byName.get('sep.pointwise')!.params.map((p) => p.shape)).toEqual([[128, 64, 1, 1]]);
    expect(outShape(r)).toEqual([1, 128, 8, 8]);
  });
});

describe('Xception blocks', () => {
  it('an entry-flow block halves the grid and projects its shortcut with a strided 1x1 conv + BN', () => {
    const r = block([64, 147, 147], (x) => entryFlowBlock(x, 'block1', { out: 128, startWithRelu: false }));
    expect(outShape(r)).toEqual([1, 128, 74, 74]);
    expect(r.byName.get('block1.shortcut.conv')!.ctx.output).toEqual([1, 128, 74, 74]);
    expect(r.byName.has('block1.relu1')).toBe(false);
    const sep = (cin: number, cout: number) => cin * 9 + cin * cout + 2 * cout;
    expect(paramsUnder(r)).toBe(64 * 128 + 2 * 128 + sep(64, 128) + sep(128, 128));
  });

  it('a middle-flow block keeps shape and uses the identity shortcut', () => {
    const r = block([728, 19, 19], (x) => middleFlowBlock(x, 'block1'));
    expect(outShape(r)).toEqual([1, 728, 19, 19]);
    expect(r.nodes.some((n) => n.node.name.includes('shortcut'))).toBe(false);
    expect(paramsUnder(r)).toBe(3 * (728 * 9 + 728 * 728 + 2 * 728));
  });

  it('the exit-flow block grows to 1024 in its last separable conv', () => {
    const r = block([728, 19, 19], (x) => exitFlowBlock(x, 'block1', { widths: [728, 1024] }));
    expect(outShape(r)).toEqual([1, 1024, 10, 10]);
    expect(r.byName.get('block1.sepconv1.pointwise')!.ctx.output[1]).toBe(728);
  });
});

describe('auxiliary heads', () => {
  it("GoogLeNet's head: 4x4 pool, 1x1 conv 128, FC 2048 -> 1024, FC to classes", () => {
    const r = block([512, 14, 14], (x) => googlenetAux(x, 'aux1', { classes: 1000 }));
    expect(outShape(r)).toEqual([1, 1000]);
    expect(paramsUnder(r)).toBe(basic(512, 128, 1) + 2048 * 1024 + 1024 + 1024 * 1000 + 1000);
  });

  it("Inception v3's head: 5x5/3 pool, 1x1 conv 128, 5x5 conv 768, FC to classes", () => {
    const r = block([768, 17, 17], (x) => inceptionV3Aux(x, 'AuxLogits', { classes: 1000 }));
    expect(r.byName.get('AuxLogits.conv1.conv')!.ctx.output).toEqual([1, 768, 1, 1]);
    expect(paramsUnder(r)).toBe(basic(768, 128, 1) + basic(128, 768, 5) + 768 * 1000 + 1000);
    expect(r.byName.get('AuxLogits.fc')!.node.init?.['weight']).toMatchObject({ std: 0.001 });
  });

  it('are aux outputs with their loss weight, left out of inference and of --no-aux builds', () => {
    const g = buildModel('googlenet');
    expect(g.outputs.filter((o) => o.role === 'aux')).toEqual([
      { node: 'aux1.fc2', role: 'aux', lossWeight: 0.3 },
      { node: 'aux2.fc2', role: 'aux', lossWeight: 0.3 },
    ]);
    const noAux = buildModel('googlenet', { aux: false });
    expect(noAux.outputs.map((o) => o.role)).toEqual(['main']);
    expect(summariseGraph(noAux).totals.macs).toBe(summariseGraph(g).totals.macs);
    expect(buildModel('inception_v3', { aux: false }).nodes.some((n) => n.name.startsWith('AuxLogits'))).toBe(
      false,
    );
  });
});
