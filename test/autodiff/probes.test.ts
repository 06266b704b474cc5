import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/ir/builder.js';
import { ConvlabError } from '../../src/ir/errors.js';
import { initialWeights } from '../../src/ir/init.js';
import { resolveGraph } from '../../src/ir/resolve.js';
import { onnxModel } from '../../src/onnx/export.js';
import { encodeModel } from '../../src/onnx/proto.js';
import { adaptiveAvgpool2d } from '../../src/ops/adaptive_avgpool2d.js';
import { conv2d } from '../../src/ops/conv2d.js';
import { flatten } from '../../src/ops/flatten.js';
import { linear } from '../../src/ops/linear.js';
import { relu } from '../../src/ops/relu.js';
import { openSession, runBatch } from '../../src/runtime/session.js';
import { TrainingSession } from '../../src/train/step.js';

/** No batch norm: the training-mode forward is then the inference forward, which checks the probes. */
function net() {
  const b = new GraphBuilder('probed', 'test');
  let x = b.input([2, 8, 8]);
  x = relu(conv2d(x, { out: 6, kernel: 3, padding: 1 }, 'conv1'), 'relu1');
  x = relu(conv2d(x, { out: 8, kernel: 3, stride: 2, padding: 1 }, 'conv2'), 'relu2');
  b.output(linear(flatten(adaptiveAvgpool2d(x, { output: 1 }, 'pool'), 'flatten'), { out: 5 }, 'fc'));
  return b.build();
}

const std = (v: ArrayLike<number>) => {
  const a = Array.from(v);
  const mean = a.reduce((s, x) => s + x, 0) / a.length;
  return Math.sqrt(a.reduce((s, x) => s + (x - mean) ** 2, 0) / a.length);
};
const l2 = (v: ArrayLike<number>) => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0));

describe('training-step probes', () => {
  const batch = 4;
  const images = Float32Array.from({ length: batch * 2 * 8 * 8 }, (_, i) => Math.sin(i * 0.37) * 1.5);
  const labels = Int32Array.from([0, 3, 1, 4]);

  it('report gradient norms, head losses, and activation and gradient std that equal direct computation', async () => {
    const graph = net();
    // Plain SGD, lr 1: the update is exactly -grad, so each probed norm can be checked against it.
    const session = await TrainingSession.create(
      graph,
      {
        batch,
        optimizer: { kind: 'sgd', momentum: 0, nesterov: false, weightDecay: 0 },
        probes: { gradNorms: true, headLosses: true, activations: ['fc', 'relu1'] },
      },
      { seed: 3 },
      { threads: 1 },
    );
    const before = new Map(
      [...session.snapshot()].map(([k, v]) => [k, Float32Array.from(v as Float32Array)]),
    );
    const result = await session.step(new ort.Tensor('float32', images, [batch, 2, 8, 8]), labels, 1, 1);
    const after = session.snapshot();

    for (const name of ['conv1.weight', 'conv2.bias', 'fc.weight']) {
      const delta = before.get(name)!.map((w, i) => w - (after.get(name) as Float32Array)[i]!);
      expect(result.probes.get(`grad_norm/${name}`)).toBeCloseTo(l2(delta), 4);
    }
    expect(result.probes.get('loss/fc')).toBeCloseTo(result.loss, 6);

    // The logits from an inference session on the same weights give act_std/fc and, through
    // softmax - onehot, grad_std/fc.
    const r = resolveGraph(graph);
    const model = encodeModel(onnxModel(r, { mode: 'infer', weights: initialWeights(r, 3) }));
    const inference = await openSession(model, { threads: 1 });
    const logits = [...(await runBatch(inference, images, [batch, 2, 8, 8])).values()][0]!.data;
    const dLogits = Array.from(logits, (_, k) => {
      const row = Math.floor(k / 5);
      const z = Array.from(logits.subarray(row * 5, row * 5 + 5));
      const max = Math.max(...z);
      const sum = z.reduce((s, v) => s + Math.exp(v - max), 0);
      return (Math.exp(logits[k]! - max) / sum - (labels[row] === k % 5 ? 1 : 0)) / batch;
    });
    expect(result.probes.get('act_std/fc')).toBeCloseTo(std(logits), 5);
    expect(result.probes.get('grad_std/fc')).toBeCloseTo(std(dLogits), 6);
    expect(result.probes.get('act_std/relu1')).toBeGreaterThan(0);
    expect(result.probes.get('grad_std/relu1')).toBeGreaterThan(0);
    expect(result.probes.size).toBe(6 + 1 + 4); // 6 parameters, 1 head, 2 nodes x 2
    await session.release();
    await inference.release();
  });

  it('measure the std of signals far below float32 squares (1e-25), as a scaled copy of a normal one', async () => {
    const b = new GraphBuilder('tiny_signal', 'test');
    const x = conv2d(b.input([2, 8, 8]), { out: 4, kernel: 3, padding: 1, bias: false }, 'conv1');
    b.output(linear(flatten(x, 'flatten'), { out: 5 }, 'fc'));
    const session = await TrainingSession.create(
      b.build(),
      {
        batch,
        optimizer: { kind: 'sgd', momentum: 0, nesterov: false, weightDecay: 0 },
        probes: { activations: ['conv1'] },
      },
      { seed: 3 },
      { threads: 1 },
    );
    const at = async (scale: number) =>
      (
        await session.step(
          new ort.Tensor(
            'float32',
            images.map((v) => v * scale),
            [batch, 2, 8, 8],
          ),
          labels,
          0,
          1,
        )
      ).probes.get('act_std/conv1')!;
    const [normal, tiny] = [await at(1), await at(1e-25)];
    expect(normal).toBeGreaterThan(0.1);
    expect(tiny / 1e-25 / normal).toBeCloseTo(1, 4);
    await session.release();
  });

  it('reject a probe of a node the model does not have', async () => {
    await expect(
      TrainingSession.create(
        net(),
        {
          batch,
          optimizer: { kind: 'sgd', momentum: 0, nesterov: false, weightDecay: 0 },
          probes: { activations: ['conv9'] },
        },
        { seed: 0 },
      ),
    ).rejects.toThrow(ConvlabError);
  });
});
