import '../../src/ops/index.js'; // registers every op, 'input' among them, whichever test imports this first
import { synthetic } from '../../src/data/synthetic.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import type { Graph } from '../../src/ir/graph.js';
import { adaptiveAvgpool2d } from '../../src/ops/adaptive_avgpool2d.js';
import { batchnorm2d } from '../../src/ops/batchnorm2d.js';
import { conv2d } from '../../src/ops/conv2d.js';
import { dropout } from '../../src/ops/dropout.js';
import { flatten } from '../../src/ops/flatten.js';
import { linear } from '../../src/ops/linear.js';
import { relu } from '../../src/ops/relu.js';
import type { TrainConfig } from '../../src/train/config.js';

/** Two conv-BN-ReLU layers, global pooling, a linear classifier: enough for the synthetic gratings. */
/** `dropoutP` puts dropout before the classifier. */
export function tiny(shape: [number, number, number] = [1, 16, 16], classes = 10, dropoutP = 0): Graph {
  const b = new GraphBuilder('tiny', 'test');
  let x = b.input(shape);
  x = relu(
    batchnorm2d(conv2d(x, { out: 8, kernel: 3, padding: 1, bias: false }, 'conv1'), {}, 'bn1'),
    'relu1',
  );
  x = conv2d(x, { out: 16, kernel: 3, stride: 2, padding: 1, bias: false }, 'conv2');
  x = relu(batchnorm2d(x, {}, 'bn2'), 'relu2');
  x = flatten(adaptiveAvgpool2d(x, { output: 1 }, 'avgpool'), 'flatten');
  if (dropoutP > 0) x = dropout(x, { p: dropoutP }, 'dropout');
  b.output(linear(x, { out: classes }, 'fc'));
  return b.build();
}

/** Synthetic gratings, 1x16x16, 10 classes: tiny() learns them in two epochs. */
export const tinyData = synthetic({ shape: [1, 16, 16], train: 320, test: 200 });

/** A training configuration for tiny() on tinyData; `over` changes any field. */
export const tinyConfig = (over: Partial<TrainConfig> = {}): TrainConfig => ({
  model: 'tiny',
  graph: 'tiny',
  data: 'synthetic',
  limit: null,
  epochs: 2,
  batch: 32,
  lr: 0.1,
  optimizer: { kind: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 5e-4 },
  schedule: 'cosine',
  warmup: 0.5,
  labelSmoothing: 0,
  auxWeight: null,
  aux: true,
  seed: 0,
  augment: { pad: 2, flip: true },
  normalise: { mean: [0.5], std: [0.25] },
  ...over,
});
