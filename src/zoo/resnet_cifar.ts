import { basicBlock, type Shortcut } from '../blocks/residual.js';
import { GraphBuilder, type Tensor } from '../ir/builder.js';
import type { Graph } from '../ir/graph.js';
import { adaptiveAvgpool2d } from '../ops/adaptive_avgpool2d.js';
import { batchnorm2d } from '../ops/batchnorm2d.js';
import { conv2d } from '../ops/conv2d.js';
import { flatten } from '../ops/flatten.js';
import { linear } from '../ops/linear.js';
import { relu } from '../ops/relu.js';
import { type BuildOptions, registerModel } from './registry.js';

/**
 * The paper initialises as in its reference [13] (He et al. 2015, "Delving deep into
 * rectifiers"): N(0, 2 / (k*k*in)), i.e. Kaiming normal over fan_in, for every conv. It says
 * nothing of the final FC, which keeps PyTorch's default (the op's own).
 */
const KAIMING_FAN_IN = { weight: { kind: 'kaiming_normal', mode: 'fan_in' } } as const;

/**
 * The CIFAR-10 networks of the ResNet paper (He et al. 2015, section 4.2): a 3x3 conv to 16
 * channels, three stages of n basic blocks at 16/32/64 channels on 32/16/8 maps (each later stage
 * opens with stride 2), global average pool, FC: 6n + 2 weighted layers. Shape changes use
 * option A, a parameter-free shortcut (subsample, zero-pad the new channels), so the residual
 * nets have exactly the parameters of their plain twins. torchvision-style names. `seReduction`
 * adds squeeze-and-excitation to every block's residual branch (SENet's SE-ResNet), leaving the
 * other parameters' names, so a seeded build starts from the same conv weights as its plain twin.
 */
export function buildCifarResNet(
  name: string,
  family: string,
  n: number,
  shortcut: Shortcut,
  o: BuildOptions,
  seReduction?: number,
): Graph {
  const b = new GraphBuilder(name, family).initialise('conv2d', KAIMING_FAN_IN);
  let x: Tensor = b.input(o.input);
  x = conv2d(x, { out: 16, kernel: 3, padding: 1, bias: false }, 'conv1');
  x = relu(batchnorm2d(x, {}, 'bn1'), 'relu');
  [16, 32, 64].forEach((planes, stage) => {
    x = b.scope(`layer${stage + 1}`, 'ResLayer', () => {
      for (let i = 0; i < n; i++) {
        const stride = i === 0 && stage > 0 ? 2 : 1;
        x = basicBlock(x, String(i), { planes, stride, shortcut, ...(seReduction && { seReduction }) });
      }
      return x;
    });
  });
  x = flatten(adaptiveAvgpool2d(x, { output: 1 }, 'avgpool'), 'flatten');
  b.output(linear(x, { out: o.classes }, 'fc'));
  return b.build();
}

/** Depth 6n + 2 for the paper's n (Table 6). */
const DEPTHS = { 20: 3, 32: 5, 44: 7, 56: 9, 110: 18 } as const;

/** The residual nets and the plain nets of the paper's degradation study (Fig. 6). */
const variants: readonly { prefix: string; family: string; shortcut: Shortcut; what: string }[] = [
  { prefix: 'resnet', family: 'resnet_cifar', shortcut: 'zero-pad', what: 'ResNet (option-A shortcuts)' },
  { prefix: 'plain', family: 'plain', shortcut: 'none', what: 'plain net (no shortcuts)' },
];

for (const { prefix, family, shortcut, what } of variants) {
  for (const [depth, n] of Object.entries(DEPTHS)) {
    const name = `${prefix}${depth}`;
    registerModel({
      name,
      family,
      description: `${depth}-layer CIFAR-10 ${what}, n=${n} (He et al. 2015, section 4.2)`,
      input: [3, 32, 32],
      classes: 10,
      build: (o) => buildCifarResNet(name, family, n, shortcut, o),
    });
  }
}
