import { describe, expect, it } from 'vitest';
import { trainingGraph } from '../../src/autodiff/training_graph.js';
import { GraphBuilder, type Tensor } from '../../src/ir/builder.js';
import { opKinds } from '../../src/ir/registry.js';
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
  hardswish,
  l2norm,
  linear,
  maxpool2d,
  mul,
  padChannels,
  relu,
  relu6,
  sigmoid,
  slice,
  softmax,
} from '../../src/ops/index.js';
import { nchwcBlockSize, nchwcTarget } from '../../src/runtime/nchwc.js';
import { gradientCheck } from './gradcheck.js';
import { modernCases } from './modern_cases.js';

/** A conv with parameters before the op (so dX is checked through its weights), a linear head after. */
function around(body: (x: Tensor) => Tensor, input: [number, number, number] = [3, 6, 6], channels = 4) {
  const b = new GraphBuilder('check', 'test');
  const x = conv2d(b.input(input), { out: channels, kernel: 1 }, 'pre');
  let y = body(x);
  if (y.shape.length === 4) y = flatten(y, 'flatten_head');
  b.output(linear(y, { out: 3 }, 'head'));
  return b.build();
}

const cases: [string, ReturnType<typeof around>, { inputScale?: number }?][] = [
  [
    'conv2d 3x3 stride 2 pad 1 with bias',
    around((x) => conv2d(x, { out: 5, kernel: 3, stride: 2, padding: 1 })),
  ],
  [
    'conv2d grouped 2, dilation 2, no bias',
    around((x) => conv2d(x, { out: 6, kernel: 3, groups: 2, dilation: 2, bias: false })),
  ],
  ['conv2d depthwise', around((x) => conv2d(x, { out: 4, kernel: 3, padding: 1, groups: 4 }))],
  [
    'conv2d asymmetric padding, 1x3',
    around((x) => conv2d(x, { out: 4, kernel: [1, 3], padding: [0, 1, 1, 0] })),
  ],
  [
    'conv2d stride 2, even input (output padding)',
    around((x) => conv2d(x, { out: 4, kernel: 3, stride: 2 }), [3, 8, 8]),
  ],
  // Output maps of 64..256 positions, or more when strided, take the unfolded weight gradient.
  [
    'conv2d 3x3 pad 1 on a 9x9 map (dW unfolded)',
    around((x) => conv2d(x, { out: 5, kernel: 3, padding: 1 }), [3, 9, 9]),
  ],
  [
    'conv2d grouped 2, dilation 2, stride 2, asymmetric padding, 3x2 (dW unfolded)',
    around(
      (x) => conv2d(x, { out: 6, kernel: [3, 2], stride: 2, dilation: 2, groups: 2, padding: [1, 0, 2, 1] }),
      [4, 35, 35],
      4,
    ),
  ],
  ['batchnorm2d (training statistics)', around((x) => batchnorm2d(x))],
  ['relu', around((x) => relu(x))],
  ['relu6', around((x) => relu6(x)), { inputScale: 12 }],
  ['sigmoid', around((x) => sigmoid(x))],
  ['hardswish', around((x) => hardswish(x)), { inputScale: 8 }],
  [
    'maxpool2d 3x3 stride 2 pad 1 ceil_mode',
    around((x) => maxpool2d(x, { kernel: 3, stride: 2, padding: 1, ceilMode: true })),
  ],
  ['maxpool2d 1x1 stride 2 (option-A subsample)', around((x) => maxpool2d(x, { kernel: 1, stride: 2 }))],
  [
    'maxpool2d 1x1 stride 2x3 on 7x7 (strides that do not divide the map)',
    around((x) => maxpool2d(x, { kernel: 1, stride: [2, 3] }), [3, 7, 7]),
  ],
  [
    'avgpool2d ceil_mode, padding not counted',
    around(
      (x) => avgpool2d(x, { kernel: 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false }),
      [3, 7, 7],
    ),
  ],
  ['avgpool2d 2x2 (DenseNet transition)', around((x) => avgpool2d(x, { kernel: 2, stride: 2 }))],
  ['adaptive_avgpool2d global', around((x) => adaptiveAvgpool2d(x, { output: 1 }))],
  ['adaptive_avgpool2d uneven bins', around((x) => adaptiveAvgpool2d(x, { output: 4 }))],
  ['adaptive_maxpool2d uneven bins (SPP level)', around((x) => adaptiveMaxpool2d(x, { output: 4 }))],
  ['adaptive_maxpool2d uniform bins', around((x) => adaptiveMaxpool2d(x, { output: 2 }))],
  ['linear', around((x) => linear(flatten(x), { out: 5 }))],
  ['dropout p = 0', around((x) => dropout(x, { p: 0 }))],
  ['dropout p = 0.5 (the same mask in every evaluation of a step)', around((x) => dropout(x, { p: 0.5 }))],
  ['add (residual)', around((x) => add(conv2d(x, { out: 4, kernel: 3, padding: 1 }), x))],
  [
    'mul (SE broadcast)',
    around((x) => mul(x, sigmoid(conv2d(adaptiveAvgpool2d(x, { output: 1 }), { out: 4, kernel: 1 })))),
  ],
  [
    'concat',
    around((x) => concat([conv2d(x, { out: 2, kernel: 1 }, 'a'), x, conv2d(x, { out: 3, kernel: 1 }, 'c')])),
  ],
  ['slice (channel split)', around((x) => slice(x, { start: 1, end: 3 }))],
  [
    'channel_shuffle',
    around((x) =>
      conv2d(channelShuffle(conv2d(x, { out: 6, kernel: 1 }), { groups: 3 }), {
        out: 6,
        kernel: 1,
        groups: 3,
      }),
    ),
  ],
  ['pad_channels', around((x) => padChannels(x, { before: 1, after: 2 }))],
  ['l2norm with a learnable scale', around((x) => l2norm(x, { scale: true, scaleInit: 2 }))],
  ['softmax over channels', around((x) => softmax(x))],
  ...modernCases(around),
];

describe('every gradient rule agrees with finite differences', () => {
  it('covers every op', () => {
    const covered = new Set(cases.flatMap(([, g]) => g.nodes.map((n) => n.op)));
    expect(opKinds().filter((k) => !covered.has(k))).toEqual([]);
  });
  for (const [name, graph, options] of cases) {
    it(name, async () => {
      const report = await gradientCheck(graph, options);
      for (const r of report) expect(r.worst, r.name).toBeLessThan(2e-2);
      // Kinks may hide a coordinate or two, never most of them.
      const checked = report.reduce((s, r) => s + r.checked, 0);
      const sampled = report.reduce((s, r) => s + r.sampled, 0);
      expect(checked).toBeGreaterThanOrEqual(0.75 * sampled);
    });
  }
});

const block = await nchwcBlockSize();

describe("convolutions through onnxruntime's NCHWc kernels (weights as graph inputs) agree with finite differences", () => {
  // The convolution under test reads `block` channels; `pre` maps the 3 input channels to them.
  const blocked = (body: (x: Tensor) => Tensor, size = 6) => around(body, [3, size, size], block);
  const nchwcCases: [string, ReturnType<typeof around>][] = [
    // 5 output channels: padded to a whole block with zero filters, dropped again after.
    ['3x3 pad 1 with bias, 5 output channels', blocked((x) => conv2d(x, { out: 5, kernel: 3, padding: 1 }))],
    [
      'a block-to-block chain (dX of the second through NCHWc too)',
      blocked((x) =>
        conv2d(
          conv2d(x, { out: block, kernel: 3, padding: 1, bias: false }, 'c1'),
          { out: 3, kernel: 1 },
          'c2',
        ),
      ),
    ],
    [
      '3x2, stride 2, dilation 2, asymmetric padding',
      blocked(
        (x) => conv2d(x, { out: block, kernel: [3, 2], stride: 2, dilation: 2, padding: [1, 0, 2, 1] }),
        9,
      ),
    ],
  ];
  it.skipIf(!block).each(nchwcCases)('%s', async (_, graph) => {
    const model = trainingGraph(graph, {
      batch: 2,
      optimizer: { kind: 'sgd', momentum: 0, nesterov: false, weightDecay: 0 },
      target: nchwcTarget(block),
    }).model;
    expect(Buffer.from(model).includes('ReorderInput')).toBe(true);
    const report = await gradientCheck(graph, { target: nchwcTarget(block) });
    for (const r of report) expect(r.worst, r.name).toBeLessThan(2e-2);
    const checked = report.reduce((s, r) => s + r.checked, 0);
    const sampled = report.reduce((s, r) => s + r.sampled, 0);
    expect(checked).toBeGreaterThanOrEqual(0.75 * sampled);
  });
});
