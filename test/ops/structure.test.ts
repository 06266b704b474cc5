import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { analyseGraphMemory } from '../../src/analysis/memory.js';
import { receptiveFieldsOf } from '../../src/analysis/receptive_field.js';
import { summariseGraph } from '../../src/analysis/summary.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { fromSpec, toSpec } from '../../src/ir/spec.js';
import { exportOnnx } from '../../src/onnx/export.js';
import {
  conv2d,
  gelu,
  layernorm,
  layernorm2d,
  linear,
  pad,
  reducemean,
  reshape,
  resize,
  transpose,
} from '../../src/ops/index.js';

/** A ConvNeXt stage in miniature: stem, LayerNorm2d, one block (channels-last MLP), global mean, head. */
function convnextLike() {
  const b = new GraphBuilder('mini_convnext', 'test');
  const stem = layernorm2d(
    conv2d(b.input([3, 16, 16]), { out: 8, kernel: 4, stride: 4 }, 'features.0.0'),
    {},
    'features.0.1',
  );
  const dw = conv2d(stem, { out: 8, kernel: 7, padding: 3, groups: 8 }, 'features.1.0.block.0');
  const last = transpose(dw, { perm: [0, 2, 3, 1] }, 'features.1.0.block.1');
  const norm = layernorm(last, { eps: 1e-6 }, 'features.1.0.block.2');
  const fc1 = linear(norm, { out: 32, perPosition: true }, 'features.1.0.block.3');
  const fc2 = linear(
    gelu(fc1, {}, 'features.1.0.block.4'),
    { out: 8, perPosition: true },
    'features.1.0.block.5',
  );
  const back = transpose(fc2, { perm: [0, 3, 1, 2] }, 'features.1.0.block.6');
  const pooled = reducemean(back, { axes: [2, 3], keepdims: false }, 'pool');
  b.output(linear(pooled, { out: 10 }, 'classifier'));
  return b.build();
}

describe('structural ops of modern CNNs', () => {
  it('count a ConvNeXt-like graph: shapes, parameters, MACs of the channels-last MLP', () => {
    const s = summariseGraph(convnextLike(), 2);
    const byName = new Map(s.layers.map((l) => [l.name, l]));
    expect(byName.get('features.1.0.block.1')!.outShape).toEqual([2, 4, 4, 8]);
    expect(byName.get('features.1.0.block.3')!.outShape).toEqual([2, 4, 4, 32]);
    expect(byName.get('features.1.0.block.3')!.macs).toBe(2 * 16 * 8 * 32);
    expect(byName.get('features.1.0.block.2')!.params).toBe(16);
    expect(byName.get('features.0.1')!.params).toBe(16);
    expect(byName.get('pool')!.outShape).toEqual([2, 8]);
    expect(s.totals.macs).toBe(2 * (16 * 8 * 48 + 16 * 8 * 49 + 16 * 8 * 32 * 2 + 8 * 10));
  });

  it('carry receptive fields through the channels-last stretch, and make the mean global', () => {
    const f = receptiveFieldsOf(convnextLike());
    expect(f.byName.get('features.1.0.block.6')!.size).toEqual([28, 28]);
    expect(f.byName.get('features.1.0.block.6')!.stride).toEqual([4, 4]);
    expect(f.byName.get('pool')!.global).toBe(true);
  });

  it('estimate memory with reshape as a view and layer norms saving their input', () => {
    const r = analyseGraphMemory(convnextLike(), 4, { mode: 'train' });
    expect(r.bytes.peak).toBeGreaterThan(0);
    expect(r.savedByOp['layernorm']).toBe(4 * 16 * 8 * 4);
  });

  it('reject what they cannot do, naming the rule', () => {
    const b = new GraphBuilder('t', 'test');
    const x = b.input([3, 4, 4]);
    expect(() => transpose(x, { perm: [1, 0, 2, 3] })).toThrow(/must keep the batch axis first/);
    expect(() => transpose(x, { perm: [0, 1, 1, 3] })).toThrow(/must list each of the 4 axes/);
    expect(() => reshape(x, { shape: [5, -1] })).toThrow(
      /cannot reshape \[3,4,4\] per sample \(48 elements\) to \[5,-1\]/,
    );
    expect(() => reshape(x, { shape: [-1, -1] })).toThrow(/at most one -1/);
    expect(() => pad(x, { pads: [1, 1] })).toThrow(
      /pads must give a begin and an end for each of the 3 axes/,
    );
    expect(() => pad(x, { pads: [0, 4, 0, 0, 0, 0], mode: 'reflect' })).toThrow(/shorter than each axis/);
    expect(() => reducemean(x, { axes: [4] })).toThrow(/must be distinct axes/);
    expect(() => layernorm(x, { axis: 0 })).toThrow(/after the batch/);
    expect(() => linear(x, { out: 2 })).toThrow(/must have rank 2/);
    expect(() => resize(x, { size: 4, scale: 2 })).toThrow(/either size \[h, w\] or scale/);
    expect(() => resize(x, {})).toThrow(/either size \[h, w\] or scale/);
  });

  it('run a spec of every structural op in onnxruntime with the symbolic batch', async () => {
    const spec = {
      name: 'structure',
      input: [2, 3, 4],
      nodes: [
        { name: 'p', op: 'pad', pads: [0, 1, 0, 0, 0, 1], mode: 'edge' },
        { name: 'up', op: 'resize', scale: 2 },
        { name: 'bl', op: 'resize', size: [4, 5], mode: 'bilinear' },
        { name: 't', op: 'transpose', perm: [0, 2, 3, 1] },
        { name: 'ln', op: 'layernorm' },
        { name: 'r', op: 'reshape', shape: [-1, 2] },
        { name: 'm', op: 'reducemean', axes: [1] },
      ],
    };
    const graph = fromSpec(spec);
    expect(fromSpec(JSON.parse(JSON.stringify(toSpec(graph))))).toEqual(graph);
    const session = await ort.InferenceSession.create(exportOnnx(graph, { mode: 'infer' }));
    const x = Float32Array.from({ length: 3 * 24 }, (_, i) => Math.sin(i));
    const out = await session.run({ input: new ort.Tensor('float32', x, [3, 2, 3, 4]) });
    expect(out['m']!.dims).toEqual([3, 1, 2]);
  });
});
