import { describe, expect, it } from 'vitest';
import { spatialPyramidPool } from '../../src/blocks/spp.js';
import {
  adaptiveAvgpool2d,
  adaptiveMaxpool2d,
  add,
  avgpool2d,
  batchnorm2d,
  channelShuffle,
  concat,
  conv2d,
  dropout,
  flatten,
  GraphBuilder,
  hardswish,
  l2norm,
  linear,
  maxpool2d,
  mul,
  opKinds,
  padChannels,
  relu,
  relu6,
  sigmoid,
  slice,
  softmax,
  type Tensor,
} from '../../src/index.js';
import { onnxModel } from '../../src/onnx/export.js';
import {
  adaptiveRef,
  at,
  type ConvRef,
  concatRef,
  convRef,
  elementwise,
  expectClose,
  flat,
  map4,
  type PoolRef,
  param,
  poolRef,
  randomT,
  runGraph,
  zeros,
} from './reference.js';

describe('every op lowers to ONNX that computes what the op means', () => {
  it('every registered op has a lowering covered below', () => {
    expect(opKinds()).toEqual(
      [
        'adaptive_avgpool2d',
        'adaptive_maxpool2d',
        'add',
        'avgpool2d',
        'batchnorm2d',
        'channel_shuffle',
        'concat',
        'conv2d',
        'dropout',
        'flatten',
        'hardswish',
        'input',
        'l2norm',
        'linear',
        'maxpool2d',
        'mul',
        'pad_channels',
        'relu',
        'relu6',
        'sigmoid',
        'slice',
        'softmax',
        // The ops of modern CNNs (issue 14) are checked against PyTorch in test/ops/torch_parity.test.ts,
        // against ONNX's own backend node tests in test/ops/onnx_backend_nodes.test.ts, and in
        // test/ops/elementwise.test.ts and structure.test.ts.
        ...['clip', 'constant', 'div', 'gelu', 'hardsigmoid', 'identity', 'layernorm', 'layernorm2d'],
        ...['pad', 'parameter', 'pow', 'reducemean', 'reshape', 'resize', 'silu', 'sqrt', 'sub', 'transpose'],
      ].sort(),
    );
  });

  const x = randomT([2, 4, 9, 7], 1);

  it('conv2d: stride, asymmetric padding, dilation, groups, bias', async () => {
    const cases: [string, Parameters<typeof conv2d>[1], ConvRef['stride'], ConvRef['pad'], ConvRef['dil']][] =
      [
        ['plain 3x3', { out: 6, kernel: 3, padding: 1 }, [1, 1], [1, 1, 1, 1], [1, 1]],
        [
          'asymmetric padding, strided',
          { out: 4, kernel: [3, 2], stride: [2, 1], padding: [0, 1, 2, 0], bias: false },
          [2, 1],
          [0, 1, 2, 0],
          [1, 1],
        ],
        [
          'dilated, grouped',
          { out: 6, kernel: 3, dilation: 2, groups: 2, padding: 2 },
          [1, 1],
          [2, 2, 2, 2],
          [2, 2],
        ],
        ['depthwise', { out: 4, kernel: 3, groups: 4, stride: 2, padding: 1 }, [2, 2], [1, 1, 1, 1], [1, 1]],
      ];
    for (const [, attrs, stride, pad, dil] of cases) {
      const { out, weights } = await runGraph((t) => conv2d(t, attrs, 'conv'), x);
      const groups = attrs.groups ?? 1;
      const k = typeof attrs.kernel === 'number' ? [attrs.kernel, attrs.kernel] : attrs.kernel;
      const w = param(weights, 'conv.weight', [attrs.out, 4 / groups, k[0]!, k[1]!]);
      const b = attrs.bias === false ? undefined : param(weights, 'conv.bias', [attrs.out]);
      expectClose(out, convRef(x, { w, ...(b ? { b } : {}), stride, pad, dil, groups }));
    }
  });

  it('batchnorm2d at inference: (x - mean) / sqrt(var + eps) * weight + bias', async () => {
    const { out, weights } = await runGraph((t) => batchnorm2d(t, { eps: 1e-3 }, 'bn'), x, {
      weights: (w) => w.set('bn.running_var', new Float32Array([0.5, 1, 2, 3])),
    });
    const g = (p: string) => weights.get(`bn.${p}`) as Float32Array;
    expectClose(
      out,
      map4(
        x.shape,
        (n, c, h, w) =>
          ((at(x, n, c, h, w) - g('running_mean')[c]!) / Math.sqrt(g('running_var')[c]! + 1e-3)) *
            g('weight')[c]! +
          g('bias')[c]!,
      ),
    );
  });

  it('batchnorm2d in training: batch statistics, running statistics as extra outputs', async () => {
    const b = new GraphBuilder('t', 'test');
    b.output(batchnorm2d(b.input([4, 9, 7]), {}, 'bn'));
    const model = onnxModel(b.build(), { mode: 'train' });
    // The fused kernel normalises with the batch's own statistics, computed in the graph because
    // backward needs them; the updated running statistics are outputs for the training step to keep.
    const bn = model.graph.nodes.find((n) => n.opType === 'BatchNormalization')!;
    expect(bn.attributes['training_mode']).toBeUndefined();
    expect(model.graph.outputs.map((o) => o.name)).toEqual([
      'bn',
      'next/bn.running_mean',
      'next/bn.running_var',
      'next/bn.num_batches_tracked',
    ]);
    const { out } = await runGraph((t) => batchnorm2d(t, {}, 'bn'), x, {
      mode: 'train',
      weights: (w) => {
        w.set('bn.weight', new Float32Array(4).fill(1));
        w.set('bn.bias', new Float32Array(4));
      },
    });
    const mean = [0, 1, 2, 3].map((c) => {
      let s = 0;
      for (let n = 0; n < 2; n++)
        for (let h = 0; h < 9; h++) for (let w = 0; w < 7; w++) s += at(x, n, c, h, w);
      return s / (2 * 63);
    });
    const variance = [0, 1, 2, 3].map((c) => {
      let s = 0;
      for (let n = 0; n < 2; n++)
        for (let h = 0; h < 9; h++) for (let w = 0; w < 7; w++) s += (at(x, n, c, h, w) - mean[c]!) ** 2;
      return s / (2 * 63);
    });
    expectClose(
      out,
      map4(x.shape, (n, c, h, w) => (at(x, n, c, h, w) - mean[c]!) / Math.sqrt(variance[c]! + 1e-5)),
    );
  });

  it('maxpool2d: padding, dilation and ceil_mode, including a window PyTorch drops', async () => {
    const cases: PoolRef[] = [
      { k: [3, 3], s: [2, 2], pad: [1, 1, 1, 1], ceil: false },
      { k: [3, 3], s: [2, 2], pad: [0, 0, 0, 0], ceil: true },
      { k: [2, 2], s: [3, 3], pad: [1, 1, 1, 1], ceil: true },
      { k: [3, 2], s: [2, 1], pad: [0, 1, 1, 0], ceil: true },
      { k: [3, 3], s: [1, 2], pad: [1, 1, 1, 1], dil: [2, 1], ceil: false },
      { k: [1, 1], s: [2, 2], pad: [0, 0, 0, 0], ceil: false },
    ];
    for (const input of [x, randomT([2, 3, 8, 6], 8)])
      for (const p of cases) {
        const attrs = {
          kernel: p.k,
          stride: p.s,
          padding: p.pad,
          dilation: p.dil ?? [1, 1],
          ceilMode: p.ceil,
        } as const;
        const { out } = await runGraph((t) => maxpool2d(t, attrs, 'pool'), input);
        expectClose(out, poolRef(input, 'max', p));
      }
  });

  it('avgpool2d: count_include_pad with and without ceil_mode, asymmetric padding', async () => {
    const shapes: PoolRef[] = [
      { k: [3, 3], s: [2, 2], pad: [1, 1, 1, 1], ceil: false },
      { k: [3, 3], s: [2, 2], pad: [1, 1, 1, 1], ceil: true },
      { k: [2, 2], s: [2, 2], pad: [0, 0, 0, 0], ceil: true },
      { k: [3, 3], s: [1, 1], pad: [1, 1, 1, 1], ceil: false },
      { k: [3, 2], s: [2, 3], pad: [1, 0, 0, 1], ceil: true },
    ];
    // On 8x6 the last ceil_mode window overhangs the padding: PyTorch does not count the overhang.
    for (const input of [x, randomT([2, 3, 8, 6], 8)])
      for (const p of shapes) {
        for (const countIncludePad of [true, false]) {
          const attrs = {
            kernel: p.k,
            stride: p.s,
            padding: p.pad,
            ceilMode: p.ceil,
            countIncludePad,
          } as const;
          const { out } = await runGraph((t) => avgpool2d(t, attrs, 'pool'), input);
          expectClose(out, poolRef(input, 'avg', { ...p, countIncludePad }));
        }
      }
  });

  it('adaptive pooling: global, uniform bins, and PyTorch bins of unequal size', async () => {
    const sizes: [number, number][] = [
      [1, 1],
      [3, 7], // H uneven, W identity
      [4, 3], // both uneven
      [2, 2],
      [6, 5], // output larger than half the input: overlapping bins
      [9, 1],
    ];
    const even = randomT([2, 3, 8, 6], 2);
    for (const size of sizes) {
      for (const [kind, op] of [
        ['max', adaptiveMaxpool2d],
        ['avg', adaptiveAvgpool2d],
      ] as const) {
        expectClose(
          (await runGraph((t) => op(t, { output: size }, 'pool'), x)).out,
          adaptiveRef(x, kind, size),
        );
      }
    }
    for (const size of [
      [4, 3],
      [2, 6],
      [4, 4],
    ] as [number, number][]) {
      expectClose(
        (await runGraph((t) => adaptiveAvgpool2d(t, { output: size }, 'pool'), even)).out,
        adaptiveRef(even, 'avg', size),
      );
    }
  });

  it('spatial pyramid pooling: levels 4, 2, 1 over a 13x13 map', async () => {
    const m = randomT([2, 3, 13, 13], 3);
    const { out } = await runGraph((t) => spatialPyramidPool(t, 'spp', [4, 2, 1]), m);
    expectClose(out, concatRef([4, 2, 1].map((n) => flat(adaptiveRef(m, 'max', [n, n])))));
  });

  it('linear and flatten: Flatten then Gemm with transB', async () => {
    const { out, weights } = await runGraph((t) => linear(flatten(t, 'flatten'), { out: 5 }, 'fc'), x);
    const W = weights.get('fc.weight') as Float32Array;
    const B = weights.get('fc.bias') as Float32Array;
    const f = flat(x);
    const F = f.shape[1]!;
    const ref = zeros([2, 5]);
    for (let n = 0; n < 2; n++)
      for (let o = 0; o < 5; o++) {
        let s = B[o]!;
        for (let i = 0; i < F; i++) s += f.data[n * F + i]! * W[o * F + i]!;
        ref.data[n * 5 + o] = s;
      }
    expectClose(out, ref);
  });

  it('add, mul with broadcasting (squeeze-and-excitation), concat and slice', async () => {
    const { out } = await runGraph((t) => {
      const a = slice(t, { start: 0, end: 2 }, 'a');
      const gate = adaptiveAvgpool2d(slice(t, { start: 2, end: 4 }, 'b'), { output: 1 }, 'squeeze');
      return concat(
        [add(a, gate, 'add'), mul(a, gate, 'mul'), slice(t, { start: 1, end: 3 }, 'c')],
        {},
        'cat',
      );
    }, x);
    const gate = adaptiveRef(
      map4([2, 2, 9, 7], (n, c, h, w) => at(x, n, c + 2, h, w)),
      'avg',
      [1, 1],
    );
    const a = map4([2, 2, 9, 7], (n, c, h, w) => at(x, n, c, h, w));
    expectClose(
      out,
      concatRef([
        map4(a.shape, (n, c, h, w) => at(a, n, c, h, w) + at(gate, n, c, 0, 0)),
        map4(a.shape, (n, c, h, w) => at(a, n, c, h, w) * at(gate, n, c, 0, 0)),
        map4([2, 2, 9, 7], (n, c, h, w) => at(x, n, c + 1, h, w)),
      ]),
    );
  });

  it('channel_shuffle: output channel j*g + i is input channel i*(C/g) + j', async () => {
    const c = randomT([3, 12, 2, 3], 4);
    const { out } = await runGraph((t) => channelShuffle(t, { groups: 3 }, 'shuffle'), c);
    expectClose(
      out,
      map4(c.shape, (n, ch, h, w) => at(c, n, (ch % 3) * 4 + Math.floor(ch / 3), h, w)),
    );
  });

  it('pad_channels: zero channels before and after', async () => {
    const { out } = await runGraph((t) => padChannels(t, { before: 2, after: 3 }, 'pad'), x);
    expectClose(
      out,
      map4([2, 9, 9, 7], (n, c, h, w) => (c >= 2 && c < 6 ? at(x, n, c - 2, h, w) : 0)),
    );
  });

  it('l2norm: x / sqrt(sum_c x^2 + eps), with and without a learnable scale', async () => {
    const norm = (n: number, h: number, w: number, eps: number) => {
      let s = 0;
      for (let c = 0; c < 4; c++) s += at(x, n, c, h, w) ** 2;
      return Math.sqrt(s + eps);
    };
    expectClose(
      (await runGraph((t) => l2norm(t, { eps: 0.5 }, 'norm'), x)).out,
      map4(x.shape, (n, c, h, w) => at(x, n, c, h, w) / norm(n, h, w, 0.5)),
    );
    const { out, weights } = await runGraph((t) => l2norm(t, { scale: true }, 'norm'), x);
    const scale = weights.get('norm.weight') as Float32Array;
    expectClose(
      out,
      map4(x.shape, (n, c, h, w) => (at(x, n, c, h, w) / norm(n, h, w, 1e-10)) * scale[c]!),
    );
  });

  it('softmax over classes', async () => {
    const { out } = await runGraph((t) => softmax(flatten(t, 'flatten'), {}, 'softmax'), x);
    const f = flat(x);
    const F = f.shape[1]!;
    const ref = zeros(f.shape);
    for (let n = 0; n < 2; n++) {
      const row = f.data.subarray(n * F, (n + 1) * F);
      const m = Math.max(...row);
      const sum = row.reduce((s, v) => s + Math.exp(v - m), 0);
      for (let i = 0; i < F; i++) ref.data[n * F + i] = Math.exp(row[i]! - m) / sum;
    }
    expectClose(out, ref);
  });

  it('activations: relu, relu6, sigmoid, hardswish; dropout is the identity at inference', async () => {
    const big = elementwise(x, (v) => v * 5);
    const cases: [(t: Tensor) => Tensor, (v: number) => number][] = [
      [(t) => relu(t, 'act'), (v) => Math.max(v, 0)],
      [(t) => relu6(t, 'act'), (v) => Math.min(Math.max(v, 0), 6)],
      [(t) => sigmoid(t, 'act'), (v) => 1 / (1 + Math.exp(-v))],
      [(t) => hardswish(t, 'act'), (v) => (v * Math.min(Math.max(v + 3, 0), 6)) / 6],
      [(t) => dropout(t, { p: 0.5 }, 'drop'), (v) => v],
    ];
    for (const [build, f] of cases) expectClose((await runGraph(build, big)).out, elementwise(big, f));
  });

  it('dropout in training zeroes elements and scales the rest by 1 / (1 - p)', async () => {
    const ones = elementwise(randomT([2, 4, 16, 16], 5), () => 1);
    const { out } = await runGraph((t) => dropout(t, { p: 0.25 }, 'drop'), ones, { mode: 'train' });
    const values = new Set(out.data);
    expect([...values].sort()).toEqual([0, Math.fround(1 / 0.75)]);
    const zerosFraction = out.data.filter((v) => v === 0).length / out.data.length;
    expect(Math.abs(zerosFraction - 0.25)).toBeLessThan(0.05);
  });
});
