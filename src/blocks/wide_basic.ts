import type { Tensor } from '../ir/builder.js';
import { add } from '../ops/add.js';
import { batchnorm2d } from '../ops/batchnorm2d.js';
import { conv2d } from '../ops/conv2d.js';
import { dropout } from '../ops/dropout.js';
import { relu } from '../ops/relu.js';

export interface WideBasicOptions {
  readonly planes: number;
  readonly stride: number;
  /** Dropout between the two convs (the paper's WRN-n-k-dropout); 0 = none. */
  readonly dropout?: number;
}

/**
 * Wide ResNet's pre-activation basic block (Zagoruyko & Komodakis 2016, Fig. 1d): BN -> ReLU ->
 * 3x3 (stride) -> BN -> ReLU -> (dropout) -> 3x3, plus the shortcut, with no ReLU after the add
 * (He et al.'s identity mappings keep the shortcut path clean). When the shape changes the
 * shortcut is a strided 1x1 conv, fed by the pre-activated input as in the paper's code, where no
 * conv has a bias.
 */
export function wideBasic(x: Tensor, name: string, o: WideBasicOptions): Tensor {
  return x.builder.scope(name, 'WideBasic', () => {
    const preact = relu(batchnorm2d(x, {}, 'bn1'), 'relu1');
    let y = conv2d(preact, { out: o.planes, kernel: 3, stride: o.stride, padding: 1, bias: false }, 'conv1');
    y = relu(batchnorm2d(y, {}, 'bn2'), 'relu2');
    if (o.dropout) y = dropout(y, { p: o.dropout }, 'dropout');
    y = conv2d(y, { out: o.planes, kernel: 3, padding: 1, bias: false }, 'conv2');
    const identity =
      o.stride === 1 && x.channels === o.planes
        ? x
        : conv2d(preact, { out: o.planes, kernel: 1, stride: o.stride, bias: false }, 'shortcut');
    return add(y, identity, 'add');
  });
}
