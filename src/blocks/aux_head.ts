import type { Tensor } from '../ir/builder.js';
import { adaptiveAvgpool2d } from '../ops/adaptive_avgpool2d.js';
import { avgpool2d } from '../ops/avgpool2d.js';
import { dropout } from '../ops/dropout.js';
import { flatten } from '../ops/flatten.js';
import { linear } from '../ops/linear.js';
import { relu } from '../ops/relu.js';
import { basicConv2d } from './inception.js';

/*
 * Auxiliary classifiers: small heads on intermediate feature maps whose losses are added to the
 * main loss during training (GoogLeNet weights them 0.3) and which are discarded at inference. The
 * model marks their outputs with role 'aux'; these blocks only build the heads.
 */

/**
 * GoogLeNet's auxiliary classifier, torchvision's InceptionAux: average pool to 4x4 (the paper's
 * 5x5/3 pool on a 14x14 map), 1x1 conv to 128, FC 2048 -> 1024 + ReLU, dropout 0.7, FC to classes.
 */
export function googlenetAux(x: Tensor, name: string, o: { classes: number; dropout?: number }): Tensor {
  return x.builder.scope(name, 'InceptionAux', () => {
    let y = adaptiveAvgpool2d(x, { output: 4 }, 'avgpool');
    y = basicConv2d(y, 'conv', { out: 128, kernel: 1 });
    y = flatten(y, 'flatten');
    y = relu(linear(y, { out: 1024 }, 'fc1'), 'relu');
    y = dropout(y, { p: o.dropout ?? 0.7 }, 'dropout');
    return linear(y, { out: o.classes }, 'fc2');
  });
}

/**
 * Inception v3's auxiliary classifier, torchvision's InceptionAux (`AuxLogits`): 5x5/3 average
 * pool, 1x1 conv to 128, 5x5 conv to 768, global average pool, FC to classes. The v3 paper argues
 * the head works as a regulariser, not as an aid to early convergence (it helps more with BN).
 */
export function inceptionV3Aux(x: Tensor, name: string, o: { classes: number }): Tensor {
  return x.builder.scope(name, 'InceptionAux', () => {
    let y = avgpool2d(x, { kernel: 5, stride: 3 }, 'avgpool');
    y = basicConv2d(y, 'conv0', { out: 128, kernel: 1 });
    // torchvision sets conv1.stddev = 0.01 on the BasicConv2d wrapper, not on its Conv2d, so its init
    // loop never reads it: conv1.conv gets the model's default like every other conv.
    y = basicConv2d(y, 'conv1', { out: 768, kernel: 5 });
    y = flatten(adaptiveAvgpool2d(y, { output: 1 }, 'adaptive_avgpool'), 'flatten');
    // fc.stddev = 0.001 on the Linear itself does take effect: small initial aux logits.
    return linear(
      y,
      { out: o.classes },
      { name: 'fc', init: { weight: { kind: 'trunc_normal', std: 0.001, a: -2, b: 2 } } },
    );
  });
}
