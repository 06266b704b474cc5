import { googlenetAux } from '../blocks/aux_head.js';
import { basicConv2d, type InceptionOptions, inceptionModule } from '../blocks/inception.js';
import { GraphBuilder, type Tensor } from '../ir/builder.js';
import type { Graph } from '../ir/graph.js';
import type { Init } from '../ir/op.js';
import { adaptiveAvgpool2d } from '../ops/adaptive_avgpool2d.js';
import { dropout } from '../ops/dropout.js';
import { flatten } from '../ops/flatten.js';
import { linear } from '../ops/linear.js';
import { maxpool2d } from '../ops/maxpool2d.js';
import { type BuildOptions, registerModel } from './registry.js';

/** [ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj], the GoogLeNet paper's Table 1. */
type Widths = readonly [number, number, number, number, number, number];

interface Stage {
  /** The max pool that halves the grid before the stage, and its kernel. */
  readonly pool: readonly [name: string, kernel: number];
  readonly modules: readonly (readonly [name: string, widths: Widths, aux?: string])[];
}

/** The nine Inception modules of torchvision's GoogLeNet; aux heads after 4a and 4d, as in the paper. */
const STAGES: readonly Stage[] = [
  {
    pool: ['maxpool2', 3],
    modules: [
      ['inception3a', [64, 96, 128, 16, 32, 32]],
      ['inception3b', [128, 128, 192, 32, 96, 64]],
    ],
  },
  {
    pool: ['maxpool3', 3],
    modules: [
      ['inception4a', [192, 96, 208, 16, 48, 64], 'aux1'],
      ['inception4b', [160, 112, 224, 24, 64, 64]],
      ['inception4c', [128, 128, 256, 24, 64, 64]],
      ['inception4d', [112, 144, 288, 32, 64, 64], 'aux2'],
      ['inception4e', [256, 160, 320, 32, 128, 128]],
    ],
  },
  {
    pool: ['maxpool4', 2],
    modules: [
      ['inception5a', [256, 160, 320, 32, 128, 128]],
      ['inception5b', [384, 192, 384, 48, 128, 128]],
    ],
  },
];

const widths = ([ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, poolProj]: Widths): InceptionOptions => ({
  ch1x1,
  ch3x3red,
  ch3x3,
  ch5x5red,
  ch5x5,
  poolProj,
  // torchvision's known quirk (pytorch/vision#906), kept so its weights and counts apply.
  kernel5x5: 3,
});

/** torchvision's init: every conv and linear weight from N(0, 0.01) truncated to [-2, 2]. */
const TRUNC_NORMAL: Readonly<Record<string, Init>> = {
  weight: { kind: 'trunc_normal', std: 0.01, a: -2, b: 2 },
};

/**
 * GoogLeNet (Szegedy et al. 2014) as torchvision builds it: BN after every conv (BasicConv2d),
 * ceil-mode pools, a 3x3 kernel in the "5x5" branch, no input transform. The auxiliary heads are
 * outputs with role 'aux' and loss weight 0.3, as in the paper.
 */
export function buildGoogLeNet(name: string, o: BuildOptions): Graph {
  const b = new GraphBuilder(name, 'googlenet')
    .initialise('conv2d', TRUNC_NORMAL)
    .initialise('linear', TRUNC_NORMAL);
  let x: Tensor = b.input(o.input);
  x = basicConv2d(x, 'conv1', { out: 64, kernel: 7, stride: 2, padding: 3 });
  x = maxpool2d(x, { kernel: 3, stride: 2, ceilMode: true }, 'maxpool1');
  x = basicConv2d(x, 'conv2', { out: 64, kernel: 1 });
  x = basicConv2d(x, 'conv3', { out: 192, kernel: 3, padding: 1 });

  // The heads are built after the trunk: torchvision registers aux1 and aux2 after inception5b,
  // and that registration order is its state_dict order.
  const tapped: (readonly [string, Tensor])[] = [];
  for (const { pool, modules } of STAGES) {
    x = maxpool2d(x, { kernel: pool[1], stride: 2, ceilMode: true }, pool[0]);
    for (const [module, w, aux] of modules) {
      x = inceptionModule(x, module, widths(w));
      if (aux && o.aux) tapped.push([aux, x]);
    }
  }
  const heads = tapped.map(([head, t]) => googlenetAux(t, head, { classes: o.classes }));

  x = flatten(adaptiveAvgpool2d(x, { output: 1 }, 'avgpool'), 'flatten');
  x = dropout(x, { p: 0.2 }, 'dropout');
  b.output(linear(x, { out: o.classes }, 'fc'));
  for (const head of heads) b.output(head, 'aux', 0.3);
  return b.build();
}

registerModel({
  name: 'googlenet',
  family: 'googlenet',
  description:
    "GoogLeNet / Inception v1 (Szegedy et al. 2014), torchvision's build: BN after every conv and a 3x3 kernel in the '5x5' branch",
  input: [3, 224, 224],
  classes: 1000,
  build: (o) => buildGoogLeNet('googlenet', o),
});
