import { inceptionV3Aux } from '../blocks/aux_head.js';
import { basicConv2d } from '../blocks/inception.js';
import { inceptionA, inceptionB, inceptionC, inceptionD, inceptionE } from '../blocks/inception_v3.js';
import { GraphBuilder, type Tensor } from '../ir/builder.js';
import type { Graph } from '../ir/graph.js';
import type { Init } from '../ir/op.js';
import { adaptiveAvgpool2d } from '../ops/adaptive_avgpool2d.js';
import { dropout } from '../ops/dropout.js';
import { flatten } from '../ops/flatten.js';
import { linear } from '../ops/linear.js';
import { maxpool2d } from '../ops/maxpool2d.js';
import { type BuildOptions, registerModel } from './registry.js';

/** A Mixed module, built under its name. */
export type MixedModule = (x: Tensor, name: string) => Tensor;

/** The eleven Mixed modules, torchvision's names and widths: 3 x A at 35x35, B, 4 x C at 17x17, D, 2 x E at 8x8. */
const MIXED: readonly (readonly [string, MixedModule])[] = [
  ['Mixed_5b', (x, n) => inceptionA(x, n, { poolFeatures: 32 })],
  ['Mixed_5c', (x, n) => inceptionA(x, n, { poolFeatures: 64 })],
  ['Mixed_5d', (x, n) => inceptionA(x, n, { poolFeatures: 64 })],
  ['Mixed_6a', inceptionB],
  ['Mixed_6b', (x, n) => inceptionC(x, n, { channels7x7: 128 })],
  ['Mixed_6c', (x, n) => inceptionC(x, n, { channels7x7: 160 })],
  ['Mixed_6d', (x, n) => inceptionC(x, n, { channels7x7: 160 })],
  ['Mixed_6e', (x, n) => inceptionC(x, n, { channels7x7: 192 })],
  ['Mixed_7a', inceptionD],
  ['Mixed_7b', inceptionE],
  ['Mixed_7c', inceptionE],
];

/** The auxiliary head sits on the last 17x17 map; torchvision registers it right after that module. */
const AUX_AFTER = 'Mixed_6e';

/**
 * torchvision's init: conv and linear weights from N(0, stddev) truncated to [-2, 2], stddev 0.1
 * unless a module sets its own (only AuxLogits.fc does so effectively; see aux_head.ts).
 */
const TRUNC_NORMAL: Readonly<Record<string, Init>> = {
  weight: { kind: 'trunc_normal', std: 0.1, a: -2, b: 2 },
};

/**
 * Inception v3 (Szegedy et al. 2015) as torchvision builds it: BasicConv2d (BN eps 0.001) stem
 * with valid convs, modules A-E, the auxiliary head on Mixed_6e as an output of role 'aux', no input
 * transform (torchvision adds one only for its pretrained weights).
 */
export function buildInceptionV3(
  name: string,
  o: BuildOptions,
  mixed: readonly (readonly [string, MixedModule])[] = MIXED,
): Graph {
  const b = new GraphBuilder(name, 'inception')
    .initialise('conv2d', TRUNC_NORMAL)
    .initialise('linear', TRUNC_NORMAL);
  let x: Tensor = b.input(o.input);
  x = basicConv2d(x, 'Conv2d_1a_3x3', { out: 32, kernel: 3, stride: 2 });
  x = basicConv2d(x, 'Conv2d_2a_3x3', { out: 32, kernel: 3 });
  x = basicConv2d(x, 'Conv2d_2b_3x3', { out: 64, kernel: 3, padding: 1 });
  x = maxpool2d(x, { kernel: 3, stride: 2 }, 'maxpool1');
  x = basicConv2d(x, 'Conv2d_3b_1x1', { out: 80, kernel: 1 });
  x = basicConv2d(x, 'Conv2d_4a_3x3', { out: 192, kernel: 3 });
  x = maxpool2d(x, { kernel: 3, stride: 2 }, 'maxpool2');

  let aux: Tensor | undefined;
  for (const [module, build] of mixed) {
    x = build(x, module);
    if (module === AUX_AFTER && o.aux) aux = inceptionV3Aux(x, 'AuxLogits', { classes: o.classes });
  }

  x = adaptiveAvgpool2d(x, { output: 1 }, 'avgpool');
  x = flatten(dropout(x, { p: 0.5 }, 'dropout'), 'flatten');
  b.output(linear(x, { out: o.classes }, 'fc'));
  // 0.3 as in the GoogLeNet paper, convlab's default for every auxiliary head (TF-slim used 0.4
  // for this model; `--aux-weight` changes it at training time).
  if (aux) b.output(aux, 'aux', 0.3);
  return b.build();
}

registerModel({
  name: 'inception_v3',
  family: 'inception',
  description: "Inception v3 (Szegedy et al. 2015), torchvision's build with its auxiliary head on Mixed_6e",
  input: [3, 299, 299],
  classes: 1000,
  build: (o) => buildInceptionV3('inception_v3', o),
});
