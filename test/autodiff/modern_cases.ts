import type { Tensor } from '../../src/ir/builder.js';
import type { Graph } from '../../src/ir/graph.js';
import {
  add,
  clip,
  constant,
  conv2d,
  div,
  flatten,
  gelu,
  hardsigmoid,
  identity,
  layernorm,
  layernorm2d,
  linear,
  mul,
  pad,
  parameter,
  pow,
  reducemean,
  reshape,
  resize,
  sigmoid,
  silu,
  sqrt,
  sub,
  transpose,
} from '../../src/ops/index.js';

type Case = [string, Graph, { inputScale?: number }?];
type Around = (body: (x: Tensor) => Tensor, input?: [number, number, number], channels?: number) => Graph;

/**
 * Finite-difference cases of the ops modern CNNs export to (issue 14), run by gradients.test.ts
 * with its own cases; `around` puts a conv before the op and a linear head after it.
 */
const elementwiseCases = (around: Around): Case[] => [
  ['silu', around((x) => silu(x)), { inputScale: 3 }],
  ['hardsigmoid (PyTorch defaults)', around((x) => hardsigmoid(x)), { inputScale: 8 }],
  [
    'hardsigmoid alpha 0.5 beta 0.6 (ONNX test values)',
    around((x) => hardsigmoid(x, { alpha: 0.5, beta: 0.6 })),
    { inputScale: 4 },
  ],
  ['gelu (erf)', around((x) => gelu(x)), { inputScale: 3 }],
  ['gelu (tanh approximation)', around((x) => gelu(x, { approximate: 'tanh' })), { inputScale: 3 }],
  ['clip [-0.3, 0.5]', around((x) => clip(x, { min: -0.3, max: 0.5 })), { inputScale: 2 }],
  ['identity', around((x) => identity(x))],
  [
    'sqrt (of a positive input)',
    around((x) => sqrt(add(sigmoid(x), constant(x.builder, { values: [0.5] })))),
  ],
  [
    'sub with a broadcast lower-rank constant and a per-channel parameter',
    around((x) =>
      sub(
        sub(x, constant(x.builder, { shape: [4, 1, 1], values: [0.1, 0.2, 0.3, 0.4] })),
        parameter(x.builder, { shape: [4, 1, 1], value: 0.5 }, 'shift'),
      ),
    ),
  ],
  [
    'sub of two feature maps, the second broadcast over channels',
    around((x) => sub(x, mul(x, parameter(x.builder, { shape: [1, 4, 1, 1], value: 0.3 }, 'scale')))),
  ],
  [
    'div by a positive map and by a broadcast parameter',
    around((x) =>
      div(
        div(x, add(sigmoid(x), constant(x.builder, { values: [1] }))),
        parameter(x.builder, { shape: [4, 1, 1], value: 2 }, 'd'),
      ),
    ),
  ],
  [
    'pow with a learnable exponent (layer scale as a parameter named layer_scale)',
    around((x) =>
      mul(
        pow(
          add(sigmoid(x), constant(x.builder, { values: [0.5] })),
          parameter(x.builder, { shape: [4, 1, 1], value: 2, param: 'exponent' }, 'p'),
        ),
        parameter(x.builder, { shape: [4, 1, 1], value: 1e-1, param: 'layer_scale' }, 'block'),
      ),
    ),
  ],
];

/** Shapes, normalisation, padding and resizing. */
const structuralCases = (around: Around): Case[] => [
  [
    'reshape (channel groups, then back)',
    around((x) =>
      reshape(
        mul(reshape(x, { shape: [2, 2, 36] }), constant(x.builder, { shape: [2, 1, 1], values: [0.5, 2] })),
        { shape: [4, 6, 6] },
      ),
    ),
  ],
  ['reshape to a vector (a flatten)', around((x) => reshape(x, { shape: [-1] }))],
  [
    'ConvNeXt block: depthwise conv, transpose to channels-last, layer norm, linear, gelu, linear, transpose back, layer scale',
    around((x) => {
      const last = transpose(conv2d(x, { out: 4, kernel: 3, padding: 1, groups: 4 }, 'dw'), {
        perm: [0, 2, 3, 1],
      });
      const mlp = linear(
        gelu(linear(layernorm(last, { eps: 1e-6 }), { out: 8, perPosition: true }, 'fc1')),
        { out: 4, perPosition: true },
        'fc2',
      );
      const back = transpose(mlp, { perm: [0, 3, 1, 2] });
      return add(
        x,
        mul(back, parameter(x.builder, { shape: [4, 1, 1], param: 'layer_scale', value: 0.5 }, 'block')),
      );
    }),
  ],
  ['layernorm over the last two axes, no affine', around((x) => layernorm(x, { axis: 2, affine: false }))],
  ['layernorm2d (ConvNeXt downsampling norm)', around((x) => layernorm2d(x))],
  ['reducemean over H and W, keepdims', around((x) => reducemean(x, { axes: [2, 3] }))],
  [
    'reducemean over channels, no keepdims',
    around((x) => flatten(reducemean(x, { axes: [1], keepdims: false }))),
  ],
  ['pad constant 1.5, asymmetric', around((x) => pad(x, { pads: [0, 1, 2, 1, 0, 1], value: 1.5 }))],
  ['pad reflect', around((x) => pad(x, { pads: [0, 2, 1, 0, 1, 2], mode: 'reflect' }))],
  ['pad edge', around((x) => pad(x, { pads: [1, 2, 0, 0, 3, 1], mode: 'edge' }))],
  ['resize nearest x2', around((x) => resize(x, { scale: 2 }))],
  ['resize nearest to 7x9 (uneven)', around((x) => resize(x, { size: [7, 9] }))],
  ['resize bilinear x1.5 (half pixel)', around((x) => resize(x, { scale: 1.5, mode: 'bilinear' }))],
  [
    'resize bilinear align_corners to 11x4',
    around((x) => resize(x, { size: [11, 4], mode: 'bilinear', alignCorners: true })),
  ],
];

export const modernCases = (around: Around): Case[] => [
  ...elementwiseCases(around),
  ...structuralCases(around),
];
