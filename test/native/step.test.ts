import { describe, expect, it } from 'vitest';
import type { OptimizerSpec } from '../../src/autodiff/optimizer.js';
import { GraphBuilder, type Tensor } from '../../src/ir/builder.js';
import type { Graph } from '../../src/ir/graph.js';
import type { WeightData } from '../../src/ir/init.js';
import { bindingBuilt } from '../../src/native/binding.js';
import { NativeDeclined } from '../../src/native/executor.js';
import { adaptiveAvgpool2d } from '../../src/ops/adaptive_avgpool2d.js';
import { adaptiveMaxpool2d } from '../../src/ops/adaptive_maxpool2d.js';
import { add } from '../../src/ops/add.js';
import { avgpool2d } from '../../src/ops/avgpool2d.js';
import { batchnorm2d } from '../../src/ops/batchnorm2d.js';
import { channelShuffle } from '../../src/ops/channel_shuffle.js';
import { concat } from '../../src/ops/concat.js';
import { conv2d } from '../../src/ops/conv2d.js';
import { dropout } from '../../src/ops/dropout.js';
import { flatten } from '../../src/ops/flatten.js';
import { hardswish } from '../../src/ops/hardswish.js';
import { linear } from '../../src/ops/linear.js';
import { maxpool2d } from '../../src/ops/maxpool2d.js';
import { mul } from '../../src/ops/mul.js';
import { padChannels } from '../../src/ops/pad_channels.js';
import { relu } from '../../src/ops/relu.js';
import { relu6 } from '../../src/ops/relu6.js';
import { sigmoid } from '../../src/ops/sigmoid.js';
import { slice } from '../../src/ops/slice.js';
import type { ImageBatch, StepSession } from '../../src/train/backend.js';
import { notices, trainingBackend, withFallback } from '../../src/train/backends.js';
import { onednnBackend } from '../../src/train/native.js';
import { onnxruntimeBackend, TrainingSession } from '../../src/train/step.js';
import { randomBatch } from '../../src/train/timing.js';

const built = bindingBuilt();
if (!built) console.warn('test/native: the oneDNN binding is not built (node native/build.mjs); skipping');

const SGD: OptimizerSpec = { kind: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 5e-4 };
// eps well above float32's noise on a near-zero gradient, whose first Adam step is otherwise its sign.
const ADAMW: OptimizerSpec = { kind: 'adamw', beta1: 0.9, beta2: 0.999, eps: 1e-4, weightDecay: 0.01 };
const batch = 8;

/** A small model: a stem, then `body`, then global pooling and a classifier. */
function model(name: string, body: (x: Tensor) => Tensor): Graph {
  const b = new GraphBuilder(name, 'test');
  let x = b.input([3, 8, 8]);
  x = conv2d(x, { out: 16, kernel: 3, padding: 1, bias: false }, 'conv1');
  x = body(x);
  x = flatten(adaptiveAvgpool2d(x, { output: 1 }, 'pool'), 'flatten');
  b.output(linear(x, { out: 10 }, 'fc'));
  return b.build();
}

const MODELS: Record<string, () => Graph> = {
  'conv, BN+ReLU fused': () => model('bnrelu', (x) => relu(batchnorm2d(x, {}, 'bn1'), 'relu1')),
  'residual with an option-A shortcut (max pool k1 s2, pad_channels)': () =>
    model('shortcut', (x) => {
      const h = relu(batchnorm2d(x, {}, 'bn1'), 'relu1');
      const y = batchnorm2d(
        conv2d(h, { out: 32, kernel: 3, stride: 2, padding: 1, bias: false }, 'conv2'),
        {},
        'bn2',
      );
      const s = padChannels(maxpool2d(h, { kernel: 1, stride: 2 }, 'sub'), { before: 8, after: 8 }, 'pad');
      return relu(add(y, s, 'add'), 'relu2');
    }),
  'strided, dilated, grouped, asymmetric convolutions with bias': () =>
    model('convs', (x) => {
      let y = conv2d(x, { out: 16, kernel: 3, padding: [1, 0, 2, 1], stride: 1, bias: true }, 'asym');
      y = conv2d(y, { out: 16, kernel: 3, padding: 2, dilation: 2, groups: 4, bias: true }, 'grouped');
      y = conv2d(y, { out: 16, kernel: 3, padding: 1, groups: 16, bias: false }, 'depthwise');
      return conv2d(y, { out: 24, kernel: 2, stride: 2, bias: true }, 'strided');
    }),
  'max and average pooling, ceil mode, concat': () =>
    model('pools', (x) => {
      const m = maxpool2d(relu(x, 'r'), { kernel: 3, stride: 2, ceilMode: true }, 'max');
      const a = avgpool2d(x, { kernel: 2, stride: 2 }, 'avg');
      return concat([m, a, conv2d(a, { out: 12, kernel: 1, bias: false }, 'c')], {}, 'cat');
    }),
  'squeeze-and-excitation (broadcast mul), sigmoid, relu6, hardswish': () =>
    model('se', (x) => {
      const h = hardswish(relu6(x, 'relu6'), 'hswish');
      let s = adaptiveAvgpool2d(h, { output: 1 }, 'squeeze');
      s = relu(conv2d(s, { out: 4, kernel: 1, bias: true }, 'fc1'), 'fc1relu');
      s = sigmoid(conv2d(s, { out: 16, kernel: 1, bias: true }, 'fc2'), 'gate');
      return add(mul(h, s, 'scale'), x, 'add');
    }),
  'channel split, shuffle and dropout': () =>
    model('shuffle', (x) => {
      const [a, b] = [slice(x, { start: 0, end: 8 }, 'left'), slice(x, { start: 8, end: 16 }, 'right')];
      const y = relu(conv2d(b!, { out: 8, kernel: 3, padding: 1, groups: 8, bias: false }, 'dw'), 'r');
      const shuffled = channelShuffle(concat([a!, y], {}, 'cat'), { groups: 2 }, 'shuffle');
      return dropout(shuffled, { p: 0.3 }, 'drop');
    }),
};

const images: ImageBatch = { data: randomBatch([batch, 3, 8, 8], 5), dims: [batch, 3, 8, 8] };
const labels = Int32Array.from({ length: batch }, (_, i) => (i * 3) % 10);
const copy = (state: ReadonlyMap<string, WeightData>) => new Map([...state].map(([k, v]) => [k, v.slice()]));

/** Largest difference between two states, relative to each tensor's largest magnitude. */
function worstDifference(
  a: ReadonlyMap<string, WeightData>,
  b: ReadonlyMap<string, WeightData>,
): [number, string] {
  let worst: [number, string] = [0, ''];
  for (const [name, x] of b) {
    const y = a.get(name)!;
    let diff = 0;
    let scale = 1e-6;
    for (let i = 0; i < x.length; i++) {
      diff = Math.max(diff, Math.abs(Number(x[i]) - Number(y[i])));
      scale = Math.max(scale, Math.abs(Number(x[i])));
    }
    if (diff / scale > worst[0]) worst = [diff / scale, name];
  }
  return worst;
}

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
        const native = await onednnBackend.create(build(), options, { seed: 3 }, { threads: 2 });
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
    const lacking = () => model('lacking', (x) => adaptiveMaxpool2d(x, { output: 3 }, 'spp'));
    const why = await onednnBackend.create(lacking(), { batch, optimizer: SGD }, { seed: 1 }).catch((e) => e);
    expect(why).toBeInstanceOf(NativeDeclined);
    expect((why as NativeDeclined).exitCode).toBe(2);
    expect((why as Error).message).toMatch(
      /^the native oneDNN backend lacks op 'adaptive_maxpool2d' \(node 'spp'\)[^\n]*$/,
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
        "convlab: training on onnxruntime: the native oneDNN backend lacks op 'adaptive_maxpool2d' (node 'spp')",
      ]);
      await session.release();
    } finally {
      notices.write = write;
    }
    expect((await trainingBackend('onednn')).name).toBe('onednn');
  });
});
