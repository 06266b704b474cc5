import { shuffleUnitV1 } from '../blocks/shuffle.js';
import { GraphBuilder, type Tensor } from '../ir/builder.js';
import type { Graph } from '../ir/graph.js';
import { adaptiveAvgpool2d } from '../ops/adaptive_avgpool2d.js';
import { batchnorm2d } from '../ops/batchnorm2d.js';
import { conv2d } from '../ops/conv2d.js';
import { flatten } from '../ops/flatten.js';
import { linear } from '../ops/linear.js';
import { maxpool2d } from '../ops/maxpool2d.js';
import { relu } from '../ops/relu.js';
import { type BuildOptions, registerModel } from './registry.js';

export interface ShuffleNetV1Config {
  /** Groups of the pointwise convolutions. */
  readonly groups: number;
  /** Output channels of stage2, stage3, stage4 (paper's Table 1, 1x width). */
  readonly channels: readonly [number, number, number];
}

/** Units per stage, for every g (Table 1). */
const STAGES_REPEATS = [4, 8, 4] as const;
const STEM = 24;

/**
 * The ShuffleNet paper follows ResNeXt's training setup, i.e. fb.resnet.torch's He init:
 * N(0, 2 / (k*k*out)) for convs (fan_out), as torchvision's ResNet also does. BN starts at 1 / 0
 * and the classifier keeps PyTorch's defaults (the ops' own).
 */
const KAIMING_FAN_OUT = { weight: { kind: 'kaiming_normal', mode: 'fan_out' } } as const;

/**
 * ShuffleNet v1 (Zhang et al. 2017), Table 1: conv1 3x3/2 (24) -> maxpool 3x3/2 -> stages 2-4 of
 * shuffle units, each opening with a stride-2 unit -> global pool -> FC. Names follow the table
 * (`conv1`, `stage2.0.gconv1`, ..., `fc`); the stem's BN and ReLU are `bn1` and `relu`. The FC
 * keeps its bias as pytorchcv's does (1,865,728 parameters); the official release drops it
 * (1,864,728).
 */
export function buildShuffleNetV1(name: string, cfg: ShuffleNetV1Config, o: BuildOptions): Graph {
  const b = new GraphBuilder(name, 'shufflenet').initialise('conv2d', KAIMING_FAN_OUT);
  let x: Tensor = b.input(o.input);
  x = conv2d(x, { out: STEM, kernel: 3, stride: 2, padding: 1, bias: false }, 'conv1');
  x = relu(batchnorm2d(x, {}, 'bn1'), 'relu');
  x = maxpool2d(x, { kernel: 3, stride: 2, padding: 1 }, 'maxpool');
  STAGES_REPEATS.forEach((repeats, s) => {
    x = b.scope(`stage${s + 2}`, 'Stage', () => {
      for (let i = 0; i < repeats; i++) {
        x = shuffleUnitV1(x, String(i), {
          out: cfg.channels[s]!,
          stride: i ? 1 : 2,
          groups: cfg.groups,
          groupedInput: s > 0 || i > 0,
        });
      }
      return x;
    });
  });
  x = flatten(adaptiveAvgpool2d(x, { output: 1 }, 'globalpool'), 'flatten');
  b.output(linear(x, { out: o.classes }, 'fc'));
  return b.build();
}

/** Table 1 at 1x width; stages widen with g so every variant costs about 140 MFLOPs. */
const shufflenets: Record<string, ShuffleNetV1Config> = {
  shufflenet_v1_g3: { groups: 3, channels: [240, 480, 960] },
};

for (const [name, cfg] of Object.entries(shufflenets)) {
  registerModel({
    name,
    family: 'shufflenet',
    description: `ShuffleNet v1 1x, g=${cfg.groups} (Zhang et al. 2017): grouped 1x1 convs + channel shuffle`,
    input: [3, 224, 224],
    classes: 1000,
    build: (o) => buildShuffleNetV1(name, cfg, o),
  });
}
