import type { Tensor } from '../ir/builder.js';
import { avgpool2d } from '../ops/avgpool2d.js';
import { batchnorm2d } from '../ops/batchnorm2d.js';
import { concat } from '../ops/concat.js';
import { conv2d } from '../ops/conv2d.js';
import { dropout } from '../ops/dropout.js';
import { relu } from '../ops/relu.js';

export interface DenseLayerOptions {
  /** k, the channels each layer adds to the block's collective state. */
  readonly growth: number;
  /** The bottleneck 1x1 widens to bnSize * k (DenseNet-B: 4k). */
  readonly bnSize: number;
  /** Dropout after each layer's 3x3 (the paper's C10/C100 runs without augmentation); 0 = none. */
  readonly dropRate?: number;
}

/**
 * One DenseNet-BC layer (Huang et al.): BN-ReLU-1x1 conv to bnSize*k, BN-ReLU-3x3 conv to k. Its
 * input is a fresh concatenation of every earlier map of the block (`concated_features`, as in
 * torchvision's `bn_function`); the copy is a new tensor per layer, one channel slab longer each
 * time, and norm1 saves it for backward, which is why a naive DenseNet's activation memory grows
 * quadratically with depth (Pleiss et al. 2017). A layer with a single predecessor concatenates
 * one tensor, a copy all the same, as `torch.cat([x], 1)` is in PyTorch.
 */
export function denseLayer(features: readonly Tensor[], name: string, o: DenseLayerOptions): Tensor {
  return features[0]!.builder.scope(name, 'DenseLayer', () => {
    let y = concat(features, { axis: 1 }, 'concated_features');
    y = relu(batchnorm2d(y, {}, 'norm1'), 'relu1');
    y = conv2d(y, { out: o.bnSize * o.growth, kernel: 1, bias: false }, 'conv1');
    y = relu(batchnorm2d(y, {}, 'norm2'), 'relu2');
    y = conv2d(y, { out: o.growth, kernel: 3, padding: 1, bias: false }, 'conv2');
    if (o.dropRate) y = dropout(y, { p: o.dropRate }, 'dropout');
    return y;
  });
}

/**
 * A dense block of `layers` layers (`denselayer1`...): layer l reads all l maps before it, and the
 * block outputs the concatenation of its input and every layer's k new channels.
 */
export function denseBlock(x: Tensor, name: string, layers: number, o: DenseLayerOptions): Tensor {
  return x.builder.scope(name, 'DenseBlock', () => {
    const features = [x];
    for (let i = 1; i <= layers; i++) features.push(denseLayer(features, `denselayer${i}`, o));
    return concat(features, { axis: 1 }, 'concat');
  });
}

/**
 * Transition between dense blocks: BN-ReLU-1x1 conv-2x2 average pool. The conv keeps
 * floor(compression * C) channels (DenseNet-C, compression 0.5 in DenseNet-BC).
 */
export function transition(x: Tensor, name: string, compression: number): Tensor {
  return x.builder.scope(name, 'Transition', () => {
    let y = relu(batchnorm2d(x, {}, 'norm'), 'relu');
    y = conv2d(y, { out: Math.floor(x.channels * compression), kernel: 1, bias: false }, 'conv');
    return avgpool2d(y, { kernel: 2, stride: 2 }, 'pool');
  });
}
