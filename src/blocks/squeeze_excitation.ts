import type { Tensor } from '../ir/builder.js';
import { adaptiveAvgpool2d } from '../ops/adaptive_avgpool2d.js';
import { conv2d } from '../ops/conv2d.js';
import { mul } from '../ops/mul.js';
import { relu } from '../ops/relu.js';
import { sigmoid } from '../ops/sigmoid.js';

/**
 * Squeeze-and-excitation (Hu et al.): global average pool ("squeeze"), FC to C/r, ReLU, FC back to
 * C, sigmoid ("excitation"), then scale each channel of x. The FCs are 1x1 convs on the pooled
 * [N,C,1,1] map, as in torchvision.ops.SqueezeExcitation, whose names (fc1, fc2) this follows.
 * Costs 2*C*C/r + C/r + C parameters and as many MACs per image.
 */
export function squeezeExcitation(x: Tensor, name: string, reduction = 16): Tensor {
  return x.builder.scope(name, 'SqueezeExcitation', () => {
    const squeezed = Math.max(1, Math.floor(x.channels / reduction));
    let s = adaptiveAvgpool2d(x, { output: 1 }, 'avgpool');
    s = conv2d(s, { out: squeezed, kernel: 1 }, 'fc1');
    s = relu(s, 'activation');
    s = conv2d(s, { out: x.channels, kernel: 1 }, 'fc2');
    s = sigmoid(s, 'scale_activation');
    return mul(x, s, 'scale');
  });
}
