import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { GraphBuilder, type Tensor } from '../../src/ir/builder.js';
import { exportOnnx } from '../../src/onnx/export.js';
import {
  clip,
  gelu,
  hardsigmoid,
  layernorm,
  layernorm2d,
  pad,
  reducemean,
  resize,
  silu,
} from '../../src/ops/index.js';

/*
 * The new ops' forward against PyTorch 1.13 (Debian's python3-torch), the definitions they follow:
 * each case is a convlab op, exported and run by onnxruntime, and the PyTorch expression it stands
 * for, evaluated on the same input in one python3 run.
 */

const PYTHON = '/usr/bin/python3';
const hasTorch = (() => {
  if (!existsSync(PYTHON)) return false;
  try {
    execFileSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

const cases: [string, (x: Tensor) => Tensor, string][] = [
  ['silu', (x) => silu(x), 'F.silu(x)'],
  ['hardsigmoid', (x) => hardsigmoid(x), 'F.hardsigmoid(x)'],
  ['gelu', (x) => gelu(x), 'F.gelu(x)'],
  ['gelu tanh', (x) => gelu(x, { approximate: 'tanh' }), "F.gelu(x, approximate='tanh')"],
  ['clip', (x) => clip(x, { min: -0.3, max: 0.5 }), 'torch.clamp(x, -0.3, 0.5)'],
  [
    'layernorm2d',
    (x) => layernorm2d(x),
    'F.layer_norm(x.permute(0, 2, 3, 1), (3,), eps=1e-6).permute(0, 3, 1, 2)',
  ],
  ['layernorm last axis', (x) => layernorm(x), 'F.layer_norm(x, (6,))'],
  ['layernorm last two axes', (x) => layernorm(x, { axis: 2 }), 'F.layer_norm(x, (5, 6))'],
  ['reducemean', (x) => reducemean(x, { axes: [2, 3] }), 'x.mean((2, 3), keepdim=True)'],
  ['nearest x2', (x) => resize(x, { scale: 2 }), "F.interpolate(x, scale_factor=2, mode='nearest')"],
  ['nearest x1.5', (x) => resize(x, { scale: 1.5 }), "F.interpolate(x, scale_factor=1.5, mode='nearest')"],
  ['nearest to 7x9', (x) => resize(x, { size: [7, 9] }), "F.interpolate(x, size=(7, 9), mode='nearest')"],
  [
    'nearest down to 3x4',
    (x) => resize(x, { size: [3, 4] }),
    "F.interpolate(x, size=(3, 4), mode='nearest')",
  ],
  [
    'bilinear x1.5',
    (x) => resize(x, { scale: 1.5, mode: 'bilinear' }),
    "F.interpolate(x, scale_factor=1.5, mode='bilinear', align_corners=False)",
  ],
  [
    'bilinear to 7x9 align_corners',
    (x) => resize(x, { size: [7, 9], mode: 'bilinear', alignCorners: true }),
    "F.interpolate(x, size=(7, 9), mode='bilinear', align_corners=True)",
  ],
  [
    'bilinear down to 3x4',
    (x) => resize(x, { size: [3, 4], mode: 'bilinear' }),
    "F.interpolate(x, size=(3, 4), mode='bilinear', align_corners=False)",
  ],
  [
    'pad reflect',
    (x) => pad(x, { pads: [0, 2, 1, 0, 1, 2], mode: 'reflect' }),
    "F.pad(x, (1, 2, 2, 1), mode='reflect')",
  ],
  [
    'pad edge',
    (x) => pad(x, { pads: [0, 1, 2, 0, 3, 0], mode: 'edge' }),
    "F.pad(x, (2, 0, 1, 3), mode='replicate')",
  ],
  [
    'pad constant',
    (x) => pad(x, { pads: [1, 0, 2, 0, 1, 0], value: 0.5 }),
    'F.pad(x, (2, 0, 0, 1, 1, 0), value=0.5)',
  ],
];

const shape = [2, 3, 5, 6];
const input = Float32Array.from({ length: 2 * 3 * 5 * 6 }, (_, i) => Math.sin(i * 1.7) * 2);

describe.skipIf(!hasTorch)('new ops equal PyTorch 1.13 on the same input', () => {
  const script = `
import json, sys, torch
import torch.nn.functional as F
x = torch.tensor(json.loads(sys.argv[1]), dtype=torch.float32).reshape(${shape.join(', ')})
out = {}
for name, expression in json.loads(sys.argv[2]):
    y = eval(expression)
    out[name] = [list(y.shape), y.flatten().tolist()]
print(json.dumps(out))
`;
  const torchOut = hasTorch
    ? (JSON.parse(
        execFileSync(
          PYTHON,
          ['-c', script, JSON.stringify([...input]), JSON.stringify(cases.map(([n, , e]) => [n, e]))],
          {
            encoding: 'utf8',
          },
        ),
      ) as Record<string, [number[], number[]]>)
    : {};

  it.each(cases)('%s', async (name, op) => {
    const b = new GraphBuilder('parity', 'test');
    b.output(op(b.input([3, 5, 6])));
    const graph = b.build();
    const session = await ort.InferenceSession.create(exportOnnx(graph, { mode: 'infer' }));
    const out = await session.run({ input: new ort.Tensor('float32', input, shape) });
    const got = out[graph.outputs[0]!.node]!;
    const [dims, want] = torchOut[name]!;
    expect(got.dims).toEqual(dims);
    const values = got.data as Float32Array;
    want.forEach((v, i) => {
      expect(Math.abs(values[i]! - v), `${name}[${i}]: ${values[i]} vs ${v}`).toBeLessThanOrEqual(
        1e-5 + 1e-5 * Math.abs(v),
      );
    });
    await session.release();
  });
});
