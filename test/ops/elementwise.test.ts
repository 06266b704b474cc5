import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { receptiveFieldsOf } from '../../src/analysis/receptive_field.js';
import { summariseGraph } from '../../src/analysis/summary.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { ConvlabError } from '../../src/ir/errors.js';
import { fromSpec, toSpec } from '../../src/ir/spec.js';
import { exportOnnx } from '../../src/onnx/export.js';
import { constant, conv2d, div, gelu, mul, parameter, pow, silu, sub } from '../../src/ops/index.js';

describe('element-wise ops of modern CNNs', () => {
  it('broadcast a lower-rank constant or parameter against a feature map (NumPy rules)', () => {
    const b = new GraphBuilder('t', 'test');
    const x = conv2d(b.input([3, 5, 5]), { out: 4, kernel: 3 }, 'conv');
    const scale = parameter(b, { shape: [4, 1, 1], param: 'layer_scale', value: 1e-6 }, 'block');
    const y = mul(scale, x, 'scaled');
    expect(y.shape).toEqual([1, 4, 3, 3]);
    b.output(sub(y, constant(b, { values: [1] }, 'one')));
    const s = summariseGraph(b.build(), 2);
    const layer = s.layers.find((l) => l.name === 'block')!;
    expect(layer.params).toBe(4);
    expect(s.totals.params).toBe(4 * 27 + 4 + 4);
  });

  it('reject shapes that do not broadcast, naming both', () => {
    const b = new GraphBuilder('t', 'test');
    const x = b.input([3, 5, 5]);
    expect(() => sub(x, constant(b, { shape: [4, 1, 1], values: [0] }))).toThrow(
      /needs matching shapes \(or 1 to broadcast\) on axis 1, got \[1,3,5,5\] and \[4,1,1\]/,
    );
    expect(() => constant(b, { shape: [2, 3], values: [1, 2] })).toThrow(
      /values must be one number or numel/,
    );
    expect(() => fromSpec({ input: [3, 4, 4], nodes: [{ op: 'constant', values: ['a'] }] })).toThrow(
      ConvlabError,
    );
  });
});

describe('element-wise ops in the analysis passes and onnxruntime', () => {
  it('count FLOPs by the rule each op documents', () => {
    const b = new GraphBuilder('t', 'test');
    const x = b.input([2, 3, 3]);
    const y = pow(div(silu(x), constant(b, { values: [2] })), gelu(x, {}, 'g'));
    b.output(y);
    const s = summariseGraph(b.build());
    const flops = Object.fromEntries(s.layers.map((l) => [l.op, l.flops]));
    expect(flops).toMatchObject({ silu: 5 * 18, div: 18, gelu: 5 * 18, pow: 18, constant: 0 });
  });

  it('keep a field through a layer scale (a parameter is no path from the image)', () => {
    const b = new GraphBuilder('t', 'test');
    const x = conv2d(b.input([3, 9, 9]), { out: 4, kernel: 3, stride: 2 }, 'conv');
    b.output(mul(x, parameter(b, { shape: [4, 1, 1], param: 'layer_scale' }, 'block'), 'scaled'));
    const f = receptiveFieldsOf(b.build()).byName.get('scaled')!;
    expect(f.size).toEqual([3, 3]);
    expect(f.stride).toEqual([2, 2]);
    expect(f.aligned).toBe(true);
    expect(f.merge).toBeNull();
  });

  it('round-trip through a JSON spec and run in onnxruntime as the definitions say', async () => {
    const spec = {
      name: 'elementwise',
      input: [2, 1, 3],
      nodes: [
        { name: 'c', op: 'constant', inputs: [], shape: [3], values: [1, 2, 4] },
        { name: 'd', op: 'div', inputs: ['input', 'c'] },
        { name: 'e', op: 'pow', inputs: ['d', 'c'] },
        { name: 'f', op: 'sub', inputs: ['e', 'd'] },
        { name: 'g', op: 'silu' },
        { name: 'h', op: 'hardsigmoid', alpha: 0.2, beta: 0.5 },
        { name: 'k', op: 'clip', min: 0.5 },
        { name: 'l', op: 'sqrt' },
        { name: 'm', op: 'identity' },
      ],
    };
    const graph = fromSpec(spec);
    expect(fromSpec(JSON.parse(JSON.stringify(toSpec(graph))))).toEqual(graph);
    const x = Float32Array.from([0.5, -1, 3, 2, 0, -2]);
    const session = await ort.InferenceSession.create(exportOnnx(graph, { mode: 'infer' }));
    const out = await session.run({ input: new ort.Tensor('float32', x, [1, 2, 1, 3]) });
    const got = out['m']!.data as Float32Array;
    const c = [1, 2, 4];
    const want = [...x].map((v, i) => {
      const d = v / c[i % 3]!;
      const f = d ** c[i % 3]! - d;
      const g = f / (1 + Math.exp(-f));
      const h = Math.max(0, Math.min(1, 0.2 * g + 0.5));
      return Math.sqrt(Math.max(0.5, h));
    });
    for (let i = 0; i < want.length; i++) expect(got[i]).toBeCloseTo(want[i]!, 5);
  });
});
