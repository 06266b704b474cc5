import { denseBlock, transition } from '../blocks/dense.js';
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

/** DenseNet-BC (Huang et al. 2017), torchvision's `DenseNet` arguments plus the CIFAR stem. */
export interface DenseNetConfig {
  /** k. */
  readonly growth: number;
  /** Layers per dense block. */
  readonly blocks: readonly number[];
  /** Channels of the first conv (2k in the paper). */
  readonly initFeatures: number;
  readonly bnSize: number;
  /** θ, the fraction of channels a transition keeps. */
  readonly compression: number;
  /** ImageNet: 7x7/2 conv, BN, ReLU, 3x3/2 max pool. CIFAR: one 3x3 conv, the blocks start with BN-ReLU. */
  readonly stem: 'imagenet' | 'cifar';
  /**
   * Conv weights: torchvision calls `kaiming_normal_(m.weight)` (fan_in); the authors' Torch code
   * for CIFAR draws N(0, 2/(k*k*out)), i.e. fan_out.
   */
  readonly convInit: 'fan_in' | 'fan_out';
}

function stem(x: Tensor, c: DenseNetConfig): Tensor {
  if (c.stem === 'cifar')
    return conv2d(x, { out: c.initFeatures, kernel: 3, padding: 1, bias: false }, 'conv0');
  x = conv2d(x, { out: c.initFeatures, kernel: 7, stride: 2, padding: 3, bias: false }, 'conv0');
  x = relu(batchnorm2d(x, {}, 'norm0'), 'relu0');
  return maxpool2d(x, { kernel: 3, stride: 2, padding: 1 }, 'pool0');
}

/** Stem, dense blocks with transitions between them, final BN-ReLU, global average pool, classifier. */
export function buildDenseNet(name: string, c: DenseNetConfig, o: BuildOptions): Graph {
  const b = new GraphBuilder(name, 'densenet')
    .initialise('conv2d', { weight: { kind: 'kaiming_normal', mode: c.convInit } })
    .initialise('linear', { bias: { kind: 'constant', value: 0 } });
  let x = b.input(o.input);
  x = b.scope('features', 'Sequential', () => {
    let y = stem(x, c);
    c.blocks.forEach((layers, i) => {
      y = denseBlock(y, `denseblock${i + 1}`, layers, { growth: c.growth, bnSize: c.bnSize });
      if (i < c.blocks.length - 1) y = transition(y, `transition${i + 1}`, c.compression);
    });
    return batchnorm2d(y, {}, 'norm5');
  });
  // torchvision applies these functionally in forward(); they are not modules of `features`.
  x = flatten(adaptiveAvgpool2d(relu(x, 'relu'), { output: 1 }, 'avgpool'), 'flatten');
  b.output(linear(x, { out: o.classes }, 'classifier'));
  return b.build();
}

const IMAGENET = { bnSize: 4, compression: 0.5, stem: 'imagenet', convInit: 'fan_in' } as const;

type ZooDenseNet = DenseNetConfig & {
  input: readonly [number, number, number];
  classes: number;
  description: string;
};

/**
 * DenseNet-BC with k = 12 for CIFAR (Huang et al. 2017, section 3 and Table 2): a 3x3 stem to 2k
 * channels, three dense blocks of n bottleneck layers (two convs each) with a transition between
 * them, and the classifier, so depth L = 6n + 4. The paper trains L = 100; 40 and 64 are the same
 * design at n = 6 and 10, for depth studies.
 */
function cifarDenseNetBC(depth: number): Record<string, ZooDenseNet> {
  const n = (depth - 4) / 6;
  if (!Number.isInteger(n)) throw new Error(`DenseNet-BC depth ${depth} is not 6n + 4`);
  return {
    [`densenet_bc_${depth}_k12`]: {
      growth: 12,
      blocks: [n, n, n],
      initFeatures: 24,
      bnSize: 4,
      compression: 0.5,
      stem: 'cifar',
      convInit: 'fan_out',
      input: [3, 32, 32],
      classes: 10,
      description: `DenseNet-BC (L = ${depth}, k = 12) for CIFAR (Huang et al. 2017; Table 2 has L = 100): 3x3 stem, 3 blocks of ${n}`,
    },
  };
}

const densenets: Record<string, ZooDenseNet> = {
  densenet121: {
    ...IMAGENET,
    growth: 32,
    blocks: [6, 12, 24, 16],
    initFeatures: 64,
    input: [3, 224, 224],
    classes: 1000,
    description: 'DenseNet-121 (Huang et al. 2017), DenseNet-BC with k = 32',
  },
  densenet161: {
    ...IMAGENET,
    growth: 48,
    blocks: [6, 12, 36, 24],
    initFeatures: 96,
    input: [3, 224, 224],
    classes: 1000,
    description: 'DenseNet-161, DenseNet-BC with k = 48',
  },
  densenet169: {
    ...IMAGENET,
    growth: 32,
    blocks: [6, 12, 32, 32],
    initFeatures: 64,
    input: [3, 224, 224],
    classes: 1000,
    description: 'DenseNet-169, DenseNet-BC with k = 32',
  },
  densenet201: {
    ...IMAGENET,
    growth: 32,
    blocks: [6, 12, 48, 32],
    initFeatures: 64,
    input: [3, 224, 224],
    classes: 1000,
    description: 'DenseNet-201, DenseNet-BC with k = 32',
  },
  ...cifarDenseNetBC(40),
  ...cifarDenseNetBC(64),
  ...cifarDenseNetBC(100),
};

for (const [name, { input, classes, description, ...cfg }] of Object.entries(densenets)) {
  registerModel({
    name,
    family: 'densenet',
    description,
    input,
    classes,
    build: (o) => buildDenseNet(name, cfg, o),
  });
}
