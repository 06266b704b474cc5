import { wideBasic } from '../blocks/wide_basic.js';
import { GraphBuilder, type Tensor } from '../ir/builder.js';
import { ConvlabError } from '../ir/errors.js';
import type { Graph } from '../ir/graph.js';
import { adaptiveAvgpool2d } from '../ops/adaptive_avgpool2d.js';
import { batchnorm2d } from '../ops/batchnorm2d.js';
import { conv2d } from '../ops/conv2d.js';
import { flatten } from '../ops/flatten.js';
import { linear } from '../ops/linear.js';
import { relu } from '../ops/relu.js';
import { type BuildOptions, registerModel } from './registry.js';

export interface WideResNetConfig {
  /** Total depth n = 6N + 4: N blocks per stage. */
  readonly depth: number;
  /** Widening factor k: stages of 16k, 32k, 64k channels. */
  readonly widen: number;
  readonly dropout: number;
}

/**
 * The paper's Lua release initialises convs with MSR init, N(0, 2 / (k*k*out)) (Kaiming normal
 * over fan_out), and zeroes the classifier's bias; BN starts at 1 / 0 (the op's own).
 */
const KAIMING_FAN_OUT = { weight: { kind: 'kaiming_normal', mode: 'fan_out' } } as const;
const ZERO_BIAS = { bias: { kind: 'constant', value: 0 } } as const;

/**
 * WRN-n-k on CIFAR (Zagoruyko & Komodakis 2016, Table 1): a 3x3 conv to 16 channels, three stages
 * of pre-activation basic blocks (strides 1/2/2 on 32/16/8 maps), then BN -> ReLU -> global pool
 * -> FC. Widening the 3x3s instead of deepening: a 16-layer wide net matches the accuracy of a
 * 1000-layer thin one and trains several times faster.
 * Names in torchvision's style (`conv1`, `layer1.0.conv1`, `fc`); the closing BN is `bn`.
 */
export function buildWideResNet(name: string, cfg: WideResNetConfig, o: BuildOptions): Graph {
  if ((cfg.depth - 4) % 6 !== 0) throw new ConvlabError(`WRN depth must be 6N + 4, got ${cfg.depth}`);
  const n = (cfg.depth - 4) / 6;
  const b = new GraphBuilder(name, 'wide_resnet')
    .initialise('conv2d', KAIMING_FAN_OUT)
    .initialise('linear', ZERO_BIAS);
  let x: Tensor = b.input(o.input);
  x = conv2d(x, { out: 16, kernel: 3, padding: 1, bias: false }, 'conv1');
  [16, 32, 64].forEach((base, stage) => {
    x = b.scope(`layer${stage + 1}`, 'ResLayer', () => {
      for (let i = 0; i < n; i++) {
        const stride = i === 0 && stage > 0 ? 2 : 1;
        x = wideBasic(x, String(i), { planes: base * cfg.widen, stride, dropout: cfg.dropout });
      }
      return x;
    });
  });
  x = relu(batchnorm2d(x, {}, 'bn'), 'relu');
  x = flatten(adaptiveAvgpool2d(x, { output: 1 }, 'avgpool'), 'flatten');
  b.output(linear(x, { out: o.classes }, 'fc'));
  return b.build();
}

/** The paper's headline CIFAR model, with the dropout of 0.3 between the 3x3s it found best on CIFAR. */
const wideResNets: Record<string, WideResNetConfig> = {
  wrn28_10: { depth: 28, widen: 10, dropout: 0.3 },
};

for (const [name, cfg] of Object.entries(wideResNets)) {
  registerModel({
    name,
    family: 'wide_resnet',
    description: `WRN-${cfg.depth}-${cfg.widen} (Zagoruyko & Komodakis 2016), CIFAR-10, dropout ${cfg.dropout}`,
    input: [3, 32, 32],
    classes: 10,
    build: (o) => buildWideResNet(name, cfg, o),
  });
}
