import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { initialWeights } from '../../src/ir/init.js';
import { resolveGraph } from '../../src/ir/resolve.js';
import { evaluate } from '../../src/train/evaluate.js';
import { tinyData as data, tiny } from './tiny.js';

describe('evaluation graph', () => {
  it('computes the same loss and accuracy as the exported model with the arithmetic done here', async () => {
    const graph = tiny();
    const r = resolveGraph(graph);
    const weights = initialWeights(r, 3);
    const normalise = { mean: [0.4], std: [0.3] };
    const result = await evaluate(r, weights, data.test, normalise, 64);
    // Reference: the plain inference export, normalisation and cross-entropy in JavaScript.
    const { exportOnnx } = await import('../../src/onnx/export.js');
    const session = await ort.InferenceSession.create(exportOnnx(r, { mode: 'infer', weights }));
    const n = data.test.count;
    const x = Float32Array.from(data.test.images, (p) => (p / 255 - 0.4) / 0.3);
    const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', x, [n, 1, 16, 16]) });
    const logits = out[session.outputNames[0]!]!.data as Float32Array;
    let loss = 0;
    let correct = 0;
    for (let i = 0; i < n; i++) {
      const row = Array.from(logits.subarray(10 * i, 10 * i + 10));
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
      loss += lse - row[data.test.labels[i]!]!;
      if (row.indexOf(max) === data.test.labels[i]) correct++;
    }
    await session.release();
    expect(result.count).toBe(200);
    expect(result.loss).toBeCloseTo(loss / n, 4);
    expect(result.accuracy).toBe(correct / n);
  });
});
