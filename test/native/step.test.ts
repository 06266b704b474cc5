import { describe, expect, it } from 'vitest';
import type { OptimizerSpec } from '../../src/autodiff/optimizer.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { bindingBuilt } from '../../src/native/binding.js';
import { NativeDeclined } from '../../src/native/executor.js';
import { adaptiveAvgpool2d } from '../../src/ops/adaptive_avgpool2d.js';
import { batchnorm2d } from '../../src/ops/batchnorm2d.js';
import { conv2d } from '../../src/ops/conv2d.js';
import { flatten } from '../../src/ops/flatten.js';
import { gelu } from '../../src/ops/gelu.js';
import { linear } from '../../src/ops/linear.js';
import { relu } from '../../src/ops/relu.js';
import type { ImageBatch, StepSession } from '../../src/train/backend.js';
import { notices, trainingBackend, withFallback } from '../../src/train/backends.js';
import { onednnBackend } from '../../src/train/native.js';
import { onnxruntimeBackend, TrainingSession } from '../../src/train/step.js';
import { randomBatch } from '../../src/train/timing.js';
import { copy, MODELS, model, worstDifference } from './models.js';

const built = bindingBuilt();
if (!built) console.warn('test/native: the oneDNN binding is not built (node native/build.mjs); skipping');

const SGD: OptimizerSpec = { kind: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 5e-4 };
// eps well above float32's noise on a near-zero gradient, whose first Adam step is otherwise its sign.
const ADAMW: OptimizerSpec = { kind: 'adamw', beta1: 0.9, beta2: 0.999, eps: 1e-4, weightDecay: 0.01 };
const batch = 8;

const images: ImageBatch = { data: randomBatch([batch, 3, 8, 8], 5), dims: [batch, 3, 8, 8] };
const labels = Int32Array.from({ length: batch }, (_, i) => (i * 3) % 10);

async function twoSteps(s: StepSession) {
  const first = await s.step(images, labels, 0.05, 1);
  const second = await s.step(images, labels, 0.05, 2);
  return { losses: [first.loss, second.loss], correct: second.correct, state: copy(s.snapshot()) };
}

describe.skipIf(!built)('a native training step', () => {
  for (const [what, build] of Object.entries(MODELS)) {
    for (const optimizer of [SGD, ADAMW]) {
      it(`equals the onnxruntime step (standard ONNX) to 1e-4: ${what}, ${optimizer.kind}`, async () => {
        const options = { batch, optimizer };
        const native = await onednnBackend.create(build(), options, { seed: 3 }, { threads: 1 });
        const reference = await TrainingSession.create(build(), { ...options, target: {} }, { seed: 3 });
        try {
          const [n, r] = [await twoSteps(native), await twoSteps(reference)];
          expect(native.state.map((s) => s.name)).toEqual(reference.state.map((s) => s.name));
          expect(n.losses[0]).toBeCloseTo(r.losses[0]!, 5);
          expect(n.losses[1]).toBeCloseTo(r.losses[1]!, 4);
          expect(n.correct).toBe(r.correct);
          const [worst, name] = worstDifference(n.state, r.state);
          expect(worst, name).toBeLessThan(1e-4);
        } finally {
          await native.release();
          await reference.release();
        }
      });
    }
  }

  it('reports the probes of the onnxruntime step: gradient norms, head losses, activation and gradient spreads', async () => {
    // bn1 would absorb relu1; probing bn1 keeps its own output. The aux head probes loss/<head>.
    const build = () => {
      const b = new GraphBuilder('probed', 'test');
      let x = conv2d(b.input([3, 8, 8]), { out: 16, kernel: 3, padding: 1, bias: false }, 'conv1');
      x = relu(batchnorm2d(x, {}, 'bn1'), 'relu1');
      const y = relu(
        batchnorm2d(conv2d(x, { out: 20, kernel: 3, padding: 1, bias: false }, 'conv2'), {}, 'bn2'),
        'relu2',
      );
      b.output(
        linear(flatten(adaptiveAvgpool2d(x, { output: 1 }, 'auxpool'), 'auxflat'), { out: 10 }, 'aux'),
        'aux',
      );
      b.output(linear(flatten(adaptiveAvgpool2d(y, { output: 1 }, 'pool'), 'flatten'), { out: 10 }, 'fc'));
      return b.build();
    };
    const probes = {
      gradNorms: true,
      headLosses: true,
      activations: ['conv1', 'bn1', 'relu1', 'relu2', 'fc'],
    };
    const options = { batch, optimizer: SGD, probes };
    const native = await onednnBackend.create(build(), options, { seed: 4 }, { threads: 1 });
    const reference = await TrainingSession.create(build(), { ...options, target: {} }, { seed: 4 });
    try {
      for (const step of [1, 2]) {
        const [n, r] = [
          await native.step(images, labels, 0.05, step),
          await reference.step(images, labels, 0.05, step),
        ];
        expect([...n.probes.keys()].sort()).toEqual([...r.probes.keys()].sort());
        expect(n.probes.size).toBe(10 + 2 + 2 * 5);
        for (const [name, value] of r.probes) expect(n.probes.get(name)! / value, name).toBeCloseTo(1, 4);
      }
    } finally {
      await native.release();
      await reference.release();
    }
  });

  it('restores its state and repeats a step bit for bit (resume); a checkpoint crosses backends', async () => {
    const build = MODELS['conv, BN+ReLU fused']!;
    const session = await onednnBackend.create(build(), { batch, optimizer: SGD }, { seed: 1 });
    await session.step(images, labels, 0.1, 1);
    const saved = copy(session.snapshot());
    await session.step(images, labels, 0.1, 2);
    const after = copy(session.snapshot());
    const resumed = await onednnBackend.create(
      build(),
      { batch, optimizer: SGD },
      { seed: 9, weights: saved },
    );
    await resumed.step(images, labels, 0.1, 2);
    for (const [name, data] of after) expect(resumed.snapshot().get(name), name).toEqual(data);
    const onOrt = await onnxruntimeBackend.create(
      build(),
      { batch, optimizer: SGD },
      { seed: 9, weights: saved },
    );
    await onOrt.step(images, labels, 0.1, 2);
    expect(worstDifference(onOrt.snapshot(), after)[0]).toBeLessThan(1e-4);
    await onOrt.release();
  });

  it('repeats a run with dropout exactly: the same seed draws the same masks', async () => {
    const build = MODELS['channel split, shuffle and dropout']!;
    const run = async (seed: number) => {
      const s = await onednnBackend.create(
        build(),
        { batch, optimizer: SGD, seed },
        { seed: 2 },
        { threads: 1 },
      );
      return twoSteps(s);
    };
    const [a, b, other] = [await run(5), await run(5), await run(6)];
    expect(b.losses).toEqual(a.losses);
    for (const [name, data] of a.state) expect(b.state.get(name), name).toEqual(data);
    expect(other.losses[0]).not.toBe(a.losses[0]);
  });

  it('plans every buffer once: the arena is smaller than the buffers it holds', async () => {
    const session = await onednnBackend.create(
      MODELS['conv, BN+ReLU fused']!(),
      { batch, optimizer: SGD },
      { seed: 1 },
    );
    const { plan } = (
      session as unknown as { memory: { plan: { arenaBytes: number; unsharedBytes: number } } }
    ).memory;
    expect(plan.arenaBytes).toBeGreaterThan(0);
    expect(plan.arenaBytes).toBeLessThan(plan.unsharedBytes);
  });

  it('declines a model with an op it lacks: exit 2 naming it, or one line and onnxruntime by default', async () => {
    const lacking = () => model('lacking', (x) => gelu(x, {}, 'act'));
    const why = await onednnBackend.create(lacking(), { batch, optimizer: SGD }, { seed: 1 }).catch((e) => e);
    expect(why).toBeInstanceOf(NativeDeclined);
    expect((why as NativeDeclined).exitCode).toBe(2);
    expect((why as Error).message).toMatch(
      /^the native oneDNN backend lacks op 'gelu' \(node 'act'\)[^\n]*$/,
    );
    const lines: string[] = [];
    const write = notices.write;
    notices.write = (line) => void lines.push(line);
    try {
      const session = await withFallback(onednnBackend, onnxruntimeBackend).create(
        lacking(),
        { batch, optimizer: SGD },
        { seed: 1 },
      );
      expect(session.backend).toBe('onnxruntime');
      expect(lines).toEqual([
        "convlab: training on onnxruntime: the native oneDNN backend lacks op 'gelu' (node 'act')",
      ]);
      await session.release();
    } finally {
      notices.write = write;
    }
    expect((await trainingBackend('onednn')).name).toBe('onednn');
  });
});
