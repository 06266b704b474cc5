import { separableConv2d } from '../blocks/separable.js';
import { entryFlowBlock, exitFlowBlock, middleFlowBlock, XCEPTION_BN } from '../blocks/xception.js';
import { GraphBuilder, type Tensor } from '../ir/builder.js';
import type { Graph } from '../ir/graph.js';
import { adaptiveAvgpool2d } from '../ops/adaptive_avgpool2d.js';
import { batchnorm2d } from '../ops/batchnorm2d.js';
import { conv2d } from '../ops/conv2d.js';
import { flatten } from '../ops/flatten.js';
import { linear } from '../ops/linear.js';
import { relu } from '../ops/relu.js';
import { type BuildOptions, registerModel } from './registry.js';

/** An Xception's widths: entry-flow blocks, middle-flow repeats, exit-flow block and tail convs. */
export interface XceptionWidths {
  readonly entry: readonly number[];
  readonly middleRepeats: number;
  readonly exit: readonly number[];
  readonly tail: readonly number[];
}

/** Xception's Figure 5, as widths. */
const XCEPTION: XceptionWidths = {
  entry: [128, 256, 728],
  middleRepeats: 8,
  exit: [728, 1024],
  tail: [1536, 2048],
};

/**
 * Xception (Chollet 2017) with the layout of Keras Applications (and pytorchcv): valid 3x3 stem
 * convs, BN after every separable conv and none between its depthwise and pointwise halves (the
 * paper found an intermediate non-linearity hurts), no dropout. Initialised as Keras does: Glorot
 * (Xavier) uniform for every conv and the classifier, zero bias, BN at gamma 1 and beta 0.
 */
export function buildXception(name: string, o: BuildOptions, widths: XceptionWidths = XCEPTION): Graph {
  const b = new GraphBuilder(name, 'xception')
    .initialise('conv2d', { weight: { kind: 'xavier_uniform' } })
    .initialise('linear', { weight: { kind: 'xavier_uniform' }, bias: { kind: 'constant', value: 0 } });
  let x: Tensor = b.input(o.input);

  x = b.scope('entry_flow', 'EntryFlow', () => {
    let y = conv2d(x, { out: 32, kernel: 3, stride: 2, bias: false }, 'conv1');
    y = relu(batchnorm2d(y, XCEPTION_BN, 'bn1'), 'relu1');
    y = conv2d(y, { out: 64, kernel: 3, bias: false }, 'conv2');
    y = relu(batchnorm2d(y, XCEPTION_BN, 'bn2'), 'relu2');
    widths.entry.forEach((out, i) => {
      y = entryFlowBlock(y, `block${i + 1}`, { out, startWithRelu: i > 0 });
    });
    return y;
  });

  x = b.scope('middle_flow', 'MiddleFlow', () => {
    let y = x;
    for (let i = 1; i <= widths.middleRepeats; i++) y = middleFlowBlock(y, `block${i}`);
    return y;
  });

  x = b.scope('exit_flow', 'ExitFlow', () => {
    let y = exitFlowBlock(x, 'block1', { widths: widths.exit });
    widths.tail.forEach((out, i) => {
      y = separableConv2d(y, `sepconv${i + 1}`, { out });
      y = relu(batchnorm2d(y, XCEPTION_BN, `bn${i + 1}`), `relu${i + 1}`);
    });
    return y;
  });

  x = flatten(adaptiveAvgpool2d(x, { output: 1 }, 'avgpool'), 'flatten');
  b.output(linear(x, { out: o.classes }, 'fc'));
  return b.build();
}

registerModel({
  name: 'xception',
  family: 'xception',
  description:
    'Xception (Chollet 2017): entry flow, middle flow x8, exit flow of depthwise-separable convs with residual connections; Keras layout',
  input: [3, 299, 299],
  classes: 1000,
  build: (o) => buildXception('xception', o),
});
