import { basicBlock, bottleneck, type ResidualBlock, type ResidualOptions } from '../blocks/residual.js';
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

/** ResNet on ImageNet, torchvision's build (V1.5: a bottleneck strides in its 3x3), names included. */
export interface ResNetConfig {
  readonly block: ResidualBlock;
  readonly layers: readonly [number, number, number, number];
  readonly groups?: number;
  readonly baseWidth?: number;
  readonly strideIn?: ResidualOptions['strideIn'];
  readonly seReduction?: number;
}

const KAIMING_FAN_OUT = { weight: { kind: 'kaiming_normal', mode: 'fan_out' } } as const;

/** Stem, four stages of blocks (planes 64, 128, 256, 512), global average pool, classifier. */
export function buildResNet(name: string, family: string, cfg: ResNetConfig, o: BuildOptions): Graph {
  const b = new GraphBuilder(name, family).initialise('conv2d', KAIMING_FAN_OUT);
  let x: Tensor = b.input(o.input);
  x = conv2d(x, { out: 64, kernel: 7, stride: 2, padding: 3, bias: false }, 'conv1');
  x = relu(batchnorm2d(x, {}, 'bn1'), 'relu');
  x = maxpool2d(x, { kernel: 3, stride: 2, padding: 1 }, 'maxpool');
  [64, 128, 256, 512].forEach((planes, stage) => {
    x = b.scope(`layer${stage + 1}`, 'ResLayer', () => {
      for (let i = 0; i < cfg.layers[stage]!; i++) {
        x = cfg.block(x, String(i), {
          planes,
          stride: i === 0 && stage > 0 ? 2 : 1,
          shortcut: 'projection',
          ...(cfg.groups ? { groups: cfg.groups } : {}),
          ...(cfg.baseWidth ? { baseWidth: cfg.baseWidth } : {}),
          ...(cfg.strideIn ? { strideIn: cfg.strideIn } : {}),
          ...(cfg.seReduction ? { seReduction: cfg.seReduction } : {}),
        });
      }
      return x;
    });
  });
  x = flatten(adaptiveAvgpool2d(x, { output: 1 }, 'avgpool'), 'flatten');
  b.output(linear(x, { out: o.classes }, 'fc'));
  return b.build();
}

/** torchvision's table: block type and blocks per stage. */
const resnets: Record<string, ResNetConfig & { description: string }> = {
  resnet18: {
    block: basicBlock,
    layers: [2, 2, 2, 2],
    description: 'ResNet-18 (He et al. 2015), basic blocks',
  },
  resnet34: {
    block: basicBlock,
    layers: [3, 4, 6, 3],
    description: 'ResNet-34 (He et al. 2015), basic blocks',
  },
  resnet50: {
    block: bottleneck,
    layers: [3, 4, 6, 3],
    description: 'ResNet-50, bottleneck blocks (torchvision V1.5)',
  },
  resnet101: {
    block: bottleneck,
    layers: [3, 4, 23, 3],
    description: 'ResNet-101, bottleneck blocks (V1.5)',
  },
  resnet152: {
    block: bottleneck,
    layers: [3, 8, 36, 3],
    description: 'ResNet-152, bottleneck blocks (V1.5)',
  },
  wide_resnet50_2: {
    block: bottleneck,
    layers: [3, 4, 6, 3],
    baseWidth: 128,
    description: 'Wide ResNet-50-2 (Zagoruyko & Komodakis): bottleneck 3x3s twice as wide',
  },
  resnext50_32x4d: {
    block: bottleneck,
    layers: [3, 4, 6, 3],
    groups: 32,
    baseWidth: 4,
    description: 'ResNeXt-50 32x4d (Xie et al.): split-transform-merge as a 32-group 3x3 conv',
  },
  resnext101_32x8d: {
    block: bottleneck,
    layers: [3, 4, 23, 3],
    groups: 32,
    baseWidth: 8,
    description: 'ResNeXt-101 32x8d: 32 groups of width 8',
  },
};

for (const [name, { description, ...cfg }] of Object.entries(resnets)) {
  const family = name.startsWith('resnext') ? 'resnext' : name.startsWith('wide') ? 'wide_resnet' : 'resnet';
  registerModel({
    name,
    family,
    description,
    input: [3, 224, 224],
    classes: 1000,
    build: (o) => buildResNet(name, family, cfg, o),
  });
}
