import { shuffleUnitV2 } from '../blocks/shuffle.js';
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

/** Units per stage (stage2, stage3, stage4), the same at every width. */
const STAGES_REPEATS = [4, 8, 4] as const;

/**
 * ShuffleNet v2 (Ma et al. 2018), torchvision's build and names. torchvision does no custom
 * initialisation here, so every conv and the classifier keep PyTorch's defaults (the ops' own).
 * `channels`: stem, stage2, stage3, stage4, conv5.
 */
export function buildShuffleNetV2(
  name: string,
  channels: readonly [number, number, number, number, number],
  o: BuildOptions,
): Graph {
  const b = new GraphBuilder(name, 'shufflenet_v2');
  let x: Tensor = b.input(o.input);
  x = conv2d(x, { out: channels[0], kernel: 3, stride: 2, padding: 1, bias: false }, 'conv1.0');
  x = relu(batchnorm2d(x, {}, 'conv1.1'), 'conv1.2');
  x = maxpool2d(x, { kernel: 3, stride: 2, padding: 1 }, 'maxpool');
  STAGES_REPEATS.forEach((repeats, s) => {
    x = b.scope(`stage${s + 2}`, 'Sequential', () => {
      for (let i = 0; i < repeats; i++)
        x = shuffleUnitV2(x, String(i), { out: channels[s + 1]!, stride: i ? 1 : 2 });
      return x;
    });
  });
  x = conv2d(x, { out: channels[4], kernel: 1, bias: false }, 'conv5.0');
  x = relu(batchnorm2d(x, {}, 'conv5.1'), 'conv5.2');
  // torchvision's x.mean([2, 3]).
  x = flatten(adaptiveAvgpool2d(x, { output: 1 }, 'globalpool'), 'flatten');
  b.output(linear(x, { out: o.classes }, 'fc'));
  return b.build();
}

/** torchvision's stages_out_channels per width multiplier. */
const widths: Record<string, readonly [number, number, number, number, number]> = {
  shufflenet_v2_x0_5: [24, 48, 96, 192, 1024],
  shufflenet_v2_x1_0: [24, 116, 232, 464, 1024],
  shufflenet_v2_x1_5: [24, 176, 352, 704, 1024],
  shufflenet_v2_x2_0: [24, 244, 488, 976, 2048],
};

for (const [name, channels] of Object.entries(widths)) {
  registerModel({
    name,
    family: 'shufflenet_v2',
    description: `ShuffleNet v2 ${name.slice('shufflenet_v2_x'.length).replace('_', '.')}x (Ma et al. 2018): channel split, shuffle`,
    input: [3, 224, 224],
    classes: 1000,
    build: (o) => buildShuffleNetV2(name, channels, o),
  });
}
