import { convBnRelu6, invertedResidual } from '../blocks/inverted_residual.js';
import { GraphBuilder } from '../ir/builder.js';
import type { Graph } from '../ir/graph.js';
import { adaptiveAvgpool2d } from '../ops/adaptive_avgpool2d.js';
import { dropout } from '../ops/dropout.js';
import { flatten } from '../ops/flatten.js';
import { linear } from '../ops/linear.js';
import { type BuildOptions, registerModel } from './registry.js';

/** One row of the paper's Table 2: expansion t, output channels c, repeats n, first stride s. */
export type InvertedResidualStage = readonly [t: number, c: number, n: number, s: number];

const INVERTED_RESIDUAL_SETTING: readonly InvertedResidualStage[] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

export interface MobileNetV2Config {
  readonly widthMult: number;
  /** Channel counts are rounded to multiples of this (8 suits the hardware the paper targets). */
  readonly roundNearest: number;
  readonly dropout: number;
  /** The stages (torchvision's `inverted_residual_setting`); the paper's Table 2 when absent. */
  readonly invertedResidualSetting?: readonly InvertedResidualStage[];
}

/** torchvision's (and TF slim's) `_make_divisible`: round to a multiple of `divisor`, never more than 10% down. */
export function makeDivisible(v: number, divisor: number, minValue = divisor): number {
  const rounded = Math.max(minValue, Math.floor(Math.trunc(v + divisor / 2) / divisor) * divisor);
  return rounded < 0.9 * v ? rounded + divisor : rounded;
}

/** Stem conv, the inverted-residual stages, a 1x1 conv to 1280, global average pool, classifier. */
export function buildMobileNetV2(name: string, c: MobileNetV2Config, o: BuildOptions): Graph {
  const b = new GraphBuilder(name, 'mobilenet')
    // torchvision also zeroes conv biases, but none of MobileNetV2's convolutions has one.
    .initialise('conv2d', { weight: { kind: 'kaiming_normal', mode: 'fan_out' } })
    .initialise('linear', { weight: { kind: 'normal', std: 0.01 }, bias: { kind: 'constant', value: 0 } });
  let x = b.input(o.input);
  // The last conv widens with the multiplier but never narrows below 1280.
  const lastChannel = makeDivisible(1280 * Math.max(1, c.widthMult), c.roundNearest);
  x = b.scope('features', 'Sequential', () => {
    let i = 0;
    let y = convBnRelu6(x, String(i++), {
      out: makeDivisible(32 * c.widthMult, c.roundNearest),
      kernel: 3,
      stride: 2,
      padding: 1,
    });
    for (const [t, ch, n, s] of c.invertedResidualSetting ?? INVERTED_RESIDUAL_SETTING) {
      const out = makeDivisible(ch * c.widthMult, c.roundNearest);
      for (let r = 0; r < n; r++) {
        y = invertedResidual(y, String(i++), { out, stride: r === 0 ? s : 1, expandRatio: t });
      }
    }
    return convBnRelu6(y, String(i++), { out: lastChannel, kernel: 1 });
  });
  // torchvision pools functionally in forward(); only the classifier is a module.
  x = flatten(adaptiveAvgpool2d(x, { output: 1 }, 'avgpool'), 'flatten');
  b.output(
    b.scope('classifier', 'Sequential', () =>
      linear(dropout(x, { p: c.dropout }, '0'), { out: o.classes }, '1'),
    ),
  );
  return b.build();
}

const mobilenets: Record<string, MobileNetV2Config & { description: string }> = {
  mobilenet_v2: {
    widthMult: 1,
    roundNearest: 8,
    dropout: 0.2,
    description: 'MobileNetV2 (Sandler et al. 2018), width 1.0: inverted residuals with linear bottlenecks',
  },
};

for (const [name, { description, ...cfg }] of Object.entries(mobilenets)) {
  registerModel({
    name,
    family: 'mobilenet',
    description,
    input: [3, 224, 224],
    classes: 1000,
    build: (o) => buildMobileNetV2(name, cfg, o),
  });
}
