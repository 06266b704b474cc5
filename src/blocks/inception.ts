import type { Tensor } from '../ir/builder.js';
import type { AttrsIn } from '../ir/schema.js';
import { concat } from '../ops/concat.js';
import type { Conv2d } from '../ops/conv2d.js';
import { maxpool2d } from '../ops/maxpool2d.js';
import { convBnAct } from './conv_bn.js';

export type ConvAttrs = Omit<AttrsIn<typeof Conv2d.attrs>, 'bias'>;

/**
 * torchvision's BasicConv2d, the unit of every Inception: conv (no bias) -> BN -> ReLU, named
 * `conv` and `bn`. eps = 0.001 because the weights were trained in TensorFlow, whose default it is.
 */
export function basicConv2d(x: Tensor, name: string, conv: ConvAttrs): Tensor {
  return x.builder.scope(name, 'BasicConv2d', () =>
    convBnAct(x, conv, { conv: 'conv', bn: 'bn', act: 'relu' }, 'relu', 0.001),
  );
}

/** Channel widths of an Inception (v1) module, in the GoogLeNet paper's Table 1 column order. */
export interface InceptionOptions {
  readonly ch1x1: number;
  readonly ch3x3red: number;
  readonly ch3x3: number;
  readonly ch5x5red: number;
  readonly ch5x5: number;
  readonly poolProj: number;
  /**
   * Kernel of the "5x5" branch: 5 in the paper. torchvision builds it with 3 (pytorch/vision#906)
   * and its weights and published parameter counts depend on that, so its GoogLeNet passes 3.
   */
  readonly kernel5x5?: number;
}

/**
 * The Inception module (Szegedy et al. 2014): 1x1, 1x1 -> 3x3, 1x1 -> 5x5 and 3x3 max pool -> 1x1
 * side by side, concatenated along channels. The 1x1 "reductions" before the large kernels are
 * what keep the module affordable. Names follow torchvision (`branch2.0`, `branch4.1`, ...).
 */
export function inceptionModule(x: Tensor, name: string, o: InceptionOptions): Tensor {
  const b = x.builder;
  return b.scope(name, 'Inception', () => {
    const k5 = o.kernel5x5 ?? 5;
    const branch1 = basicConv2d(x, 'branch1', { out: o.ch1x1, kernel: 1 });
    const branch2 = b.scope('branch2', 'Sequential', () => {
      const y = basicConv2d(x, '0', { out: o.ch3x3red, kernel: 1 });
      return basicConv2d(y, '1', { out: o.ch3x3, kernel: 3, padding: 1 });
    });
    const branch3 = b.scope('branch3', 'Sequential', () => {
      const y = basicConv2d(x, '0', { out: o.ch5x5red, kernel: 1 });
      return basicConv2d(y, '1', { out: o.ch5x5, kernel: k5, padding: Math.floor(k5 / 2) });
    });
    const branch4 = b.scope('branch4', 'Sequential', () => {
      const y = maxpool2d(x, { kernel: 3, stride: 1, padding: 1, ceilMode: true }, '0');
      return basicConv2d(y, '1', { out: o.poolProj, kernel: 1 });
    });
    return concat([branch1, branch2, branch3, branch4], {}, 'cat');
  });
}
