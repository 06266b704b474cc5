import { describe, expect, it } from 'vitest';
import type { OptimizerSpec } from '../../src/autodiff/optimizer.js';
import type { WeightData } from '../../src/ir/init.js';
import { bindingBuilt } from '../../src/native/binding.js';
import type { ImageBatch, StepSession } from '../../src/train/backend.js';
import { onednnBackend } from '../../src/train/native.js';
import { TrainingSession } from '../../src/train/step.js';
import { randomBatch } from '../../src/train/timing.js';
import { buildModel } from '../../src/zoo/index.js';
import { copy } from './models.js';

/**
 * The smallest member of every zoo family trains natively, and its steps agree with the onnxruntime
 * step (standard ONNX) to 1e-4: both steps' losses, and after the first step every weight, every
 * momentum buffer (the first step's gradient plus weight decay) and every running statistic, each
 * tensor's largest difference relative to its largest value, or to 1e-3 of the largest value of
 * its kind in the model where the tensor itself is near zero (a BatchNorm bias feeding a
 * convolution and another BatchNorm has a gradient of exactly zero in exact arithmetic; both
 * backends' float32 noise there is no measure of either).
 *
 * The comparison holds where the float32 step itself is well conditioned. Where it is not, two
 * float32 implementations cannot agree to 1e-4, and neither is the exact step: `lossOnly` cases
 * compare the first loss only, with the gaps measured on 2 Dec 2026 against PyTorch's float64 step
 * of the same weights and batch (tools/train_step_fixture.py --double). Bottleneck networks at the
 * small inputs a test can afford are such cases: BatchNorm over a few values per channel at 2x2
 * and 4x4, where its backward cancels (resnet50 at 64x64 b8: the largest update error against
 * float64 is 1.8e-1 natively and 1.4e-1 on onnxruntime; resnext50_32x4d 1.7e-1 and 2.0e-1).
 * GoogLeNet and Inception v3 were judged against the float64 step of convlab's own PyTorch export
 * (tools/train_step_fixture.py --module), dropout off: their errors wander between layers with the
 * batch (googlenet at b4: native 1.1e-1 in inception4d, onnxruntime 2e-4; at b8 both about 9e-2,
 * in other layers), the mark of a ReLU's mask flipping where a float32 value lies within rounding
 * of zero, on top of the cancellation.
 */
const built = bindingBuilt();
const SGD: OptimizerSpec = { kind: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 5e-4 };

interface Case {
  readonly family: string;
  readonly model: string;
  readonly size: number;
  readonly batch: number;
  /** Build the auxiliary heads (default true). */
  readonly aux?: boolean;
  /** Why the input is not smaller. */
  readonly why?: string;
  /** Only the first loss is compared, for the measured reason given (see the file's comment). */
  readonly lossOnly?: string;
}

// A network downsampling 32x first gets 64x64 (its last maps 2x2: batch 4 gives BatchNorm 16 values
// per channel; at 1x1 and batch 4 both float32 steps lose the digits compared here to cancellation).
const CASES: readonly Case[] = [
  { family: 'plain', model: 'plain20', size: 16, batch: 4 },
  { family: 'resnet_cifar', model: 'resnet20', size: 16, batch: 4 },
  {
    family: 'resnet',
    model: 'resnet18',
    size: 64,
    batch: 8,
    why: 'at b4 its 2x2 layer4 gives BatchNorm 16 values',
  },
  {
    family: 'resnext',
    model: 'resnext50_32x4d',
    size: 64,
    batch: 4,
    lossOnly: 'float64 update error 1.7e-1 native, 2.0e-1 onnxruntime (64x64 b8)',
  },
  { family: 'wide_resnet', model: 'wrn28_10', size: 16, batch: 4 },
  {
    family: 'senet',
    model: 'se_resnet50',
    size: 64,
    batch: 4,
    lossOnly: 'float64 update error 1.9e-1 native, 1.0e-1 onnxruntime (64x64 b4; b16 no better)',
  },
  { family: 'densenet', model: 'densenet_bc_40_k12', size: 16, batch: 4 },
  {
    family: 'googlenet',
    model: 'googlenet',
    size: 64,
    batch: 4,
    lossOnly: 'float64 update error 9.2e-2 native, 8.4e-2 onnxruntime (64x64 b8)',
  },
  {
    family: 'inception',
    model: 'inception_v3',
    size: 107,
    batch: 4,
    aux: false,
    lossOnly: 'float64 update error 3.3e-1 on both backends (107x107 b4)',
    why: '107 leaves 2x2 maps after Mixed_7a; the auxiliary head (a 5x5/3 pool then a 5x5 conv on the 17x17 map) needs 299, and its conv is 1x1 there whatever the input',
  },
  {
    family: 'xception',
    model: 'xception',
    size: 64,
    batch: 4,
    lossOnly: 'float64 update error 1.5e-2 on both backends; gradients 1.5e-3 apart',
  },
  { family: 'vgg', model: 'vgg11', size: 32, batch: 2 },
  { family: 'spp', model: 'vgg16_spp', size: 32, batch: 2 },
  { family: 'shufflenet', model: 'shufflenet_v1_g3', size: 64, batch: 4 },
  { family: 'shufflenet_v2', model: 'shufflenet_v2_x0_5', size: 64, batch: 4 },
  {
    family: 'mobilenet',
    model: 'mobilenet_v2',
    size: 64,
    batch: 4,
    lossOnly: 'float64 update error 8.2e-4 on both backends (features.0.1.weight)',
  },
];

const LR = 0.01;

async function twoSteps(s: StepSession, images: ImageBatch, labels: Int32Array) {
  const first = await s.step(images, labels, LR, 1);
  const state = copy(s.snapshot());
  const second = await s.step(images, labels, LR, 2);
  return { losses: [first.loss, second.loss], state };
}

/** A state tensor's kind: momentum buffers, running statistics, or parameters. */
const kindOf = (name: string) =>
  name.endsWith('momentum_buffer') ? 'momentum' : /running_(mean|var)$/.test(name) ? 'running' : 'param';

/** The largest difference of any tensor, relative to its own scale floored at 1e-3 of its kind's. */
function worstAgainstKind(
  ours: ReadonlyMap<string, WeightData>,
  ref: ReadonlyMap<string, WeightData>,
): [number, string] {
  const largest = (x: WeightData) => {
    let m = 0;
    for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(Number(x[i])));
    return m;
  };
  const kindScale = new Map<string, number>();
  for (const [name, x] of ref)
    kindScale.set(kindOf(name), Math.max(kindScale.get(kindOf(name)) ?? 0, largest(x)));
  let worst: [number, string] = [0, ''];
  for (const [name, x] of ref) {
    const y = ours.get(name)!;
    let diff = 0;
    for (let i = 0; i < x.length; i++) diff = Math.max(diff, Math.abs(Number(x[i]) - Number(y[i])));
    const relative = diff / Math.max(largest(x), 1e-3 * kindScale.get(kindOf(name))!, 1e-12);
    if (relative > worst[0]) worst = [relative, name];
  }
  return worst;
}

describe.skipIf(!built)('every zoo family: native and onnxruntime steps agree', () => {
  for (const c of CASES) {
    it(`${c.family}: ${c.model} ${c.size}x${c.size} b${c.batch}`, async () => {
      const build = () =>
        buildModel(c.model, { input: [3, c.size, c.size], classes: 10, aux: c.aux ?? true });
      const dims = [c.batch, 3, c.size, c.size];
      const images: ImageBatch = { data: randomBatch(dims, 5), dims };
      const labels = Int32Array.from({ length: c.batch }, (_, i) => (i * 3) % 10);
      const options = { batch: c.batch, optimizer: SGD };
      const native = await onednnBackend.create(build(), options, { seed: 3 });
      const n = await twoSteps(native, images, labels);
      await native.release();
      const reference = await TrainingSession.create(build(), { ...options, target: {} }, { seed: 3 });
      const r = await twoSteps(reference, images, labels);
      await reference.release();
      const relative = (k: number) => Math.abs(n.losses[k]! - r.losses[k]!) / r.losses[k]!;
      expect(relative(0), 'loss 1').toBeLessThan(1e-4);
      if (c.lossOnly) return;
      expect(relative(1), 'loss 2').toBeLessThan(1e-4);
      const [worst, name] = worstAgainstKind(n.state, r.state);
      expect(worst, name).toBeLessThan(1e-4);
    }, 300_000);
  }
});
