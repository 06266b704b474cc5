import type { Tensor } from '../../src/ir/builder.js';
import type { Graph } from '../../src/ir/graph.js';
import {
  add,
  clip,
  constant,
  div,
  gelu,
  hardsigmoid,
  identity,
  mul,
  parameter,
  pow,
  sigmoid,
  silu,
  sqrt,
  sub,
} from '../../src/ops/index.js';

type Around = (body: (x: Tensor) => Tensor, input?: [number, number, number], channels?: number) => Graph;

/**
 * Finite-difference cases of the ops modern CNNs export to (issue 14), run by gradients.test.ts
 * with its own cases; `around` puts a conv before the op and a linear head after it.
 */
export const modernCases = (around: Around): [string, Graph, { inputScale?: number }?][] => [
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
