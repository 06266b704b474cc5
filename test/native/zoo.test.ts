import { describe, expect, it } from 'vitest';
import type { OptimizerSpec } from '../../src/autodiff/optimizer.js';
import { inceptionA, inceptionB, inceptionC, inceptionD, inceptionE } from '../../src/blocks/inception_v3.js';
import { bottleneck } from '../../src/blocks/residual.js';
import { buildSmallGoogLeNet } from '../../src/experiments/aux_loss.js';
import type { Graph } from '../../src/ir/graph.js';
import type { WeightData } from '../../src/ir/init.js';
import { bindingBuilt } from '../../src/native/binding.js';
import type { ImageBatch, StepSession } from '../../src/train/backend.js';
import { onednnBackend } from '../../src/train/native.js';
import { TrainingSession } from '../../src/train/step.js';
import { randomBatch } from '../../src/train/timing.js';
import { buildInceptionV3 } from '../../src/zoo/inception_v3.js';
import { type BuildOptions, buildModel } from '../../src/zoo/index.js';
import { buildMobileNetV2 } from '../../src/zoo/mobilenet_v2.js';
import { buildResNet } from '../../src/zoo/resnet.js';
import { buildXception } from '../../src/zoo/xception.js';
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
 * of zero, on top of the cancellation. PyTorch's own float32 step shows the same against its float64
 * step (torchvision resnet50 64x64 b8: gradients 1.8e-1 apart, resnext50_32x4d 2.4e-1; resnet18 6e-6).
 *
 * So every family whose registered model is such a case also has a small member, built by the
 * family's own builder from a smaller config (fewer blocks, narrower widths, one Mixed module of
 * each kind), where the float32 step is well conditioned and the whole first-step state is compared.
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
  /** A small member of the family from its builder (`model` then only names it); else the zoo's model. */
  readonly build?: (o: BuildOptions) => Graph;
}

const ONE_BLOCK_A_STAGE = [1, 1, 1, 1] as const;

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
  {
    family: 'resnext',
    model: 'ResNeXt 8x4d, one bottleneck a stage',
    size: 64,
    batch: 4,
    build: (o) =>
      buildResNet(
        'resnext_small',
        'resnext',
        { block: bottleneck, layers: ONE_BLOCK_A_STAGE, groups: 8, baseWidth: 4 },
        o,
      ),
  },
  { family: 'wide_resnet', model: 'wrn28_10', size: 16, batch: 4 },
  {
    family: 'senet',
    model: 'se_resnet50',
    size: 64,
    batch: 4,
    lossOnly: 'float64 update error 1.9e-1 native, 1.0e-1 onnxruntime (64x64 b4; b16 no better)',
  },
  {
    family: 'senet',
    model: 'SE-ResNet, one bottleneck a stage',
    size: 64,
    batch: 8,
    build: (o) =>
      buildResNet(
        'se_resnet_small',
        'senet',
        { block: bottleneck, layers: ONE_BLOCK_A_STAGE, strideIn: '1x1', seReduction: 16 },
        o,
      ),
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
    family: 'googlenet',
    model: "aux-loss's small GoogLeNet with both heads",
    size: 32,
    batch: 8,
    build: (o) => buildSmallGoogLeNet(o),
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
    family: 'inception',
    model: 'Inception v3 with one Mixed module of each kind (A-E)',
    size: 115,
    batch: 8,
    build: (o) =>
      buildInceptionV3('inception_v3_small', { ...o, aux: false }, [
        ['Mixed_5b', (x, n) => inceptionA(x, n, { poolFeatures: 32 })],
        ['Mixed_6a', inceptionB],
        ['Mixed_6b', (x, n) => inceptionC(x, n, { channels7x7: 128 })],
        ['Mixed_7a', inceptionD],
        ['Mixed_7b', inceptionE],
      ]),
  },
  {
    family: 'xception',
    model: 'xception',
    size: 64,
    batch: 4,
    lossOnly: 'float64 update error 1.5e-2 on both backends; gradients 1.5e-3 apart',
  },
  {
    family: 'xception',
    model: 'Xception with 2 middle-flow blocks, narrower',
    size: 64,
    batch: 4,
    build: (o) =>
      buildXception('xception_small', o, {
        entry: [32, 64, 96],
        middleRepeats: 2,
        exit: [96, 128],
        tail: [160, 192],
      }),
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
  {
    family: 'mobilenet',
    model: 'MobileNetV2 0.5, its first three stages',
    size: 32,
    batch: 4,
    build: (o) =>
      buildMobileNetV2(
        'mobilenet_v2_small',
        {
          widthMult: 0.5,
          roundNearest: 8,
          dropout: 0.2,
          invertedResidualSetting: [
            [1, 16, 1, 1],
            [6, 24, 2, 2],
            [6, 32, 1, 2],
          ],
        },
        o,
      ),
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
      const o: BuildOptions = { input: [3, c.size, c.size], classes: 10, aux: c.aux ?? true };
      const build = () => (c.build ? c.build(o) : buildModel(c.model, o));
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
