import '../../src/ops/index.js';
import { GraphBuilder, type Tensor } from '../../src/ir/builder.js';
import type { Graph } from '../../src/ir/graph.js';
import type { WeightData } from '../../src/ir/init.js';
import { adaptiveAvgpool2d } from '../../src/ops/adaptive_avgpool2d.js';
import { adaptiveMaxpool2d } from '../../src/ops/adaptive_maxpool2d.js';
import { add } from '../../src/ops/add.js';
import { avgpool2d } from '../../src/ops/avgpool2d.js';
import { batchnorm2d } from '../../src/ops/batchnorm2d.js';
import { channelShuffle } from '../../src/ops/channel_shuffle.js';
import { concat } from '../../src/ops/concat.js';
import { conv2d } from '../../src/ops/conv2d.js';
import { dropout } from '../../src/ops/dropout.js';
import { flatten } from '../../src/ops/flatten.js';
import { hardswish } from '../../src/ops/hardswish.js';
import { l2norm } from '../../src/ops/l2norm.js';
import { linear } from '../../src/ops/linear.js';
import { maxpool2d } from '../../src/ops/maxpool2d.js';
import { mul } from '../../src/ops/mul.js';
import { padChannels } from '../../src/ops/pad_channels.js';
import { relu } from '../../src/ops/relu.js';
import { relu6 } from '../../src/ops/relu6.js';
import { sigmoid } from '../../src/ops/sigmoid.js';
import { slice } from '../../src/ops/slice.js';

/** A small model: a stem, then `body`, then global pooling and a classifier. */
export function model(name: string, body: (x: Tensor) => Tensor): Graph {
  const b = new GraphBuilder(name, 'test');
  let x = b.input([3, 8, 8]);
  x = conv2d(x, { out: 16, kernel: 3, padding: 1, bias: false }, 'conv1');
  x = body(x);
  x = flatten(adaptiveAvgpool2d(x, { output: 1 }, 'pool'), 'flatten');
  b.output(linear(x, { out: 10 }, 'fc'));
  return b.build();
}

export const MODELS: Record<string, () => Graph> = {
  'conv, BN+ReLU fused': () => model('bnrelu', (x) => relu(batchnorm2d(x, {}, 'bn1'), 'relu1')),
  'residual with an option-A shortcut (max pool k1 s2, pad_channels)': () =>
    model('shortcut', (x) => {
      const h = relu(batchnorm2d(x, {}, 'bn1'), 'relu1');
      const y = batchnorm2d(
        conv2d(h, { out: 32, kernel: 3, stride: 2, padding: 1, bias: false }, 'conv2'),
        {},
        'bn2',
      );
      const s = padChannels(maxpool2d(h, { kernel: 1, stride: 2 }, 'sub'), { before: 8, after: 8 }, 'pad');
      return relu(add(y, s, 'add'), 'relu2');
    }),
  'strided, dilated, grouped, asymmetric convolutions with bias': () =>
    model('convs', (x) => {
      let y = conv2d(x, { out: 16, kernel: 3, padding: [1, 0, 2, 1], stride: 1, bias: true }, 'asym');
      y = conv2d(y, { out: 16, kernel: 3, padding: 2, dilation: 2, groups: 4, bias: true }, 'grouped');
      y = conv2d(y, { out: 16, kernel: 3, padding: 1, groups: 16, bias: false }, 'depthwise');
      return conv2d(y, { out: 24, kernel: 2, stride: 2, bias: true }, 'strided');
    }),
  'max and average pooling, ceil mode, concat': () =>
    model('pools', (x) => {
      const m = maxpool2d(relu(x, 'r'), { kernel: 3, stride: 2, ceilMode: true }, 'max');
      const a = avgpool2d(x, { kernel: 2, stride: 2 }, 'avg');
      return concat([m, a, conv2d(a, { out: 12, kernel: 1, bias: false }, 'c')], {}, 'cat');
    }),
  'squeeze-and-excitation (broadcast mul), sigmoid, relu6, hardswish': () =>
    model('se', (x) => {
      const h = hardswish(relu6(x, 'relu6'), 'hswish');
      let s = adaptiveAvgpool2d(h, { output: 1 }, 'squeeze');
      s = relu(conv2d(s, { out: 4, kernel: 1, bias: true }, 'fc1'), 'fc1relu');
      s = sigmoid(conv2d(s, { out: 16, kernel: 1, bias: true }, 'fc2'), 'gate');
      return add(mul(h, s, 'scale'), x, 'add');
    }),
  'adaptive average and max pooling with overlapping bins of unequal size (8x8 -> 3x3, 5x2)': () =>
    model('adaptive', (x) => {
      const avg = adaptiveAvgpool2d(x, { output: 3 }, 'avg');
      const max = adaptiveMaxpool2d(relu(x, 'r'), { output: 3 }, 'max');
      const spp = adaptiveMaxpool2d(
        conv2d(x, { out: 32, kernel: 1, bias: false }, 'c'),
        { output: [5, 2] },
        'spp',
      );
      return add(concat([avg, max], {}, 'cat'), adaptiveAvgpool2d(spp, { output: 3 }, 'back'), 'add');
    }),
  'channel split, shuffle and dropout': () =>
    model('shuffle', (x) => {
      const [a, b] = [slice(x, { start: 0, end: 8 }, 'left'), slice(x, { start: 8, end: 16 }, 'right')];
      const y = relu(conv2d(b!, { out: 8, kernel: 3, padding: 1, groups: 8, bias: false }, 'dw'), 'r');
      const shuffled = channelShuffle(concat([a!, y], {}, 'cat'), { groups: 2 }, 'shuffle');
      return dropout(shuffled, { p: 0.3 }, 'drop');
    }),
  'L2 normalisation over channels after max pooling, plain and with a learned scale': () =>
    model('l2norm', (x) => {
      const unit = l2norm(maxpool2d(relu(x, 'r1'), { kernel: 2, stride: 2 }, 'pool1'), {}, 'norm1');
      const y = relu(conv2d(unit, { out: 24, kernel: 3, padding: 1, bias: true }, 'conv2'), 'r2');
      return l2norm(maxpool2d(y, { kernel: 2, stride: 2 }, 'pool2'), { scale: true, scaleInit: 4 }, 'norm2');
    }),
  'Winograd convolutions (3x3, 64 channels, 8x8 outputs)': () =>
    model('winograd', (x) => {
      const wide = relu(conv2d(x, { out: 64, kernel: 1, bias: false }, 'expand'), 'relu1');
      return conv2d(wide, { out: 64, kernel: 3, padding: 1, bias: false }, 'winograd');
    }),
};

/** A copy of a state, safe from the session writing into its arrays. */
export const copy = (state: ReadonlyMap<string, WeightData>) =>
  new Map([...state].map(([k, v]) => [k, v.slice()]));

/** Largest difference between two states, relative to each tensor's largest magnitude. */
export function worstDifference(
  a: ReadonlyMap<string, WeightData>,
  b: ReadonlyMap<string, WeightData>,
): [number, string] {
  let worst: [number, string] = [0, ''];
  for (const [name, x] of b) {
    const y = a.get(name)!;
    let diff = 0;
    let scale = 1e-6;
    for (let i = 0; i < x.length; i++) {
      diff = Math.max(diff, Math.abs(Number(x[i]) - Number(y[i])));
      scale = Math.max(scale, Math.abs(Number(x[i])));
    }
    if (diff / scale > worst[0]) worst = [diff / scale, name];
  }
  return worst;
}
