import { spatialPyramidPool } from '../blocks/spp.js';
import { GraphBuilder, type Tensor } from '../ir/builder.js';
import type { Graph } from '../ir/graph.js';
import { adaptiveAvgpool2d } from '../ops/adaptive_avgpool2d.js';
import { batchnorm2d } from '../ops/batchnorm2d.js';
import { conv2d } from '../ops/conv2d.js';
import { dropout } from '../ops/dropout.js';
import { flatten } from '../ops/flatten.js';
import { linear } from '../ops/linear.js';
import { maxpool2d } from '../ops/maxpool2d.js';
import { relu } from '../ops/relu.js';
import { type BuildOptions, registerModel } from './registry.js';

type VggCfg = readonly (number | 'M')[];

/** torchvision's `cfgs`: output channels of each 3x3 conv, 'M' a 2x2 max pool (Simonyan & Zisserman, Table 1). */
export const cfgs = {
  A: [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
  B: [64, 64, 'M', 128, 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
  D: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'],
  E: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M', 512, 512, 512, 512, 'M'],
} as const satisfies Record<string, VggCfg>;

export interface VggConfig {
  readonly cfg: keyof typeof cfgs;
  readonly batchNorm: boolean;
  /**
   * How the conv features become a fixed-length vector: torchvision's 7x7 adaptive average pool
   * after pool5, or a spatial pyramid of max-pool levels in place of pool5 (SPP-net).
   */
  readonly head: { readonly kind: 'avgpool' } | { readonly kind: 'spp'; readonly levels: readonly number[] };
}

const INIT_CONV = {
  weight: { kind: 'kaiming_normal', mode: 'fan_out' },
  bias: { kind: 'constant', value: 0 },
} as const;
const INIT_LINEAR = { weight: { kind: 'normal', std: 0.01 }, bias: { kind: 'constant', value: 0 } } as const;

/** torchvision's `make_layers`: a Sequential `features.N` of conv [BN] ReLU and max pools. */
function makeLayers(x: Tensor, cfg: VggCfg, batchNorm: boolean): Tensor {
  let i = 0;
  const next = () => String(i++);
  for (const v of cfg) {
    if (v === 'M') {
      x = maxpool2d(x, { kernel: 2, stride: 2 }, next());
      continue;
    }
    x = conv2d(x, { out: v, kernel: 3, padding: 1 }, next());
    if (batchNorm) x = batchnorm2d(x, {}, next());
    x = relu(x, next());
  }
  return x;
}

/** 4096-4096-classes with ReLU and dropout 0.5, as `classifier.0` ... `classifier.6`. */
function classifier(x: Tensor, classes: number): Tensor {
  x = dropout(relu(linear(x, { out: 4096 }, '0'), '1'), { p: 0.5 }, '2');
  x = dropout(relu(linear(x, { out: 4096 }, '3'), '4'), { p: 0.5 }, '5');
  return linear(x, { out: classes }, '6');
}

export function buildVgg(name: string, family: string, c: VggConfig, o: BuildOptions): Graph {
  const b = new GraphBuilder(name, family).initialise('conv2d', INIT_CONV).initialise('linear', INIT_LINEAR);
  let x = b.input(o.input);
  const head = c.head;
  // SPP-net puts its pyramid where pool5 was, so the features stop before the last 'M'.
  const cfg: VggCfg = head.kind === 'spp' ? cfgs[c.cfg].slice(0, -1) : cfgs[c.cfg];
  x = b.scope('features', 'Sequential', () => makeLayers(x, cfg, c.batchNorm));
  x =
    head.kind === 'spp'
      ? spatialPyramidPool(x, 'spp', head.levels)
      : flatten(adaptiveAvgpool2d(x, { output: 7 }, 'avgpool'), 'flatten');
  b.output(b.scope('classifier', 'Sequential', () => classifier(x, o.classes)));
  return b.build();
}

const AVGPOOL = { kind: 'avgpool' } as const;

type VggEntry = VggConfig & { family: string; description: string };
const vgg = (cfg: VggConfig['cfg'], batchNorm: boolean, description: string): VggEntry => ({
  cfg,
  batchNorm,
  head: AVGPOOL,
  family: 'vgg',
  description,
});

const vggs: Record<string, VggEntry> = {
  vgg11: vgg('A', false, 'VGG-11, configuration A (Simonyan & Zisserman 2014)'),
  vgg13: vgg('B', false, 'VGG-13, configuration B'),
  vgg16: vgg('D', false, 'VGG-16, configuration D'),
  vgg19: vgg('E', false, 'VGG-19, configuration E'),
  vgg11_bn: vgg('A', true, 'VGG-11 with BatchNorm after every conv (torchvision)'),
  vgg13_bn: vgg('B', true, 'VGG-13 with BatchNorm after every conv (torchvision)'),
  vgg16_bn: vgg('D', true, 'VGG-16 with BatchNorm after every conv (torchvision)'),
  vgg19_bn: vgg('E', true, 'VGG-19 with BatchNorm after every conv (torchvision)'),
  vgg16_spp: {
    cfg: 'D',
    batchNorm: false,
    head: { kind: 'spp', levels: [4, 2, 1] },
    family: 'spp',
    description:
      'VGG-16 with a {4,2,1} spatial pyramid pool in place of pool5 (He et al. 2014, SPP-net): 10752 features at any input size',
  },
};

for (const [name, { family, description, ...cfg }] of Object.entries(vggs)) {
  registerModel({
    name,
    family,
    description,
    input: [3, 224, 224],
    classes: 1000,
    build: (o) => buildVgg(name, family, cfg, o),
  });
}
