import type { Tensor } from '../ir/builder.js';
import type { AttrsIn } from '../ir/schema.js';
import { add } from '../ops/add.js';
import { batchnorm2d } from '../ops/batchnorm2d.js';
import { type Conv2d, conv2d } from '../ops/conv2d.js';
import { convBnAct } from './conv_bn.js';

export interface InvertedResidualOptions {
  readonly out: number;
  readonly stride: number;
  /** t, the expansion factor of the hidden width; 1 skips the expansion conv. */
  readonly expandRatio: number;
}

/** torchvision's Conv2dNormActivation with ReLU6: a Sequential `0` conv, `1` BN, `2` ReLU6. */
export function convBnRelu6(
  x: Tensor,
  name: string,
  conv: Omit<AttrsIn<typeof Conv2d.attrs>, 'bias'>,
): Tensor {
  return x.builder.scope(name, 'Conv2dNormActivation', () =>
    convBnAct(x, conv, { conv: '0', bn: '1', act: '2' }, 'relu6'),
  );
}

/**
 * MobileNetV2's inverted residual (Sandler et al.): 1x1 expansion to t*C with ReLU6, depthwise 3x3
 * with ReLU6, then a linear 1x1 projection (no activation: ReLU on the narrow bottleneck would
 * destroy information). The shortcut joins the narrow ends, only when stride is 1 and in == out.
 * Names follow torchvision: the layers are the Sequential `conv.0`, `conv.1`, ...
 */
export function invertedResidual(x: Tensor, name: string, o: InvertedResidualOptions): Tensor {
  return x.builder.scope(name, 'InvertedResidual', () => {
    const hidden = Math.round(x.channels * o.expandRatio);
    let i = 0;
    let y = x;
    if (o.expandRatio !== 1) y = convBnRelu6(y, `conv.${i++}`, { out: hidden, kernel: 1 });
    y = convBnRelu6(y, `conv.${i++}`, {
      out: hidden,
      kernel: 3,
      stride: o.stride,
      padding: 1,
      groups: hidden,
    });
    y = conv2d(y, { out: o.out, kernel: 1, bias: false }, `conv.${i++}`);
    y = batchnorm2d(y, {}, `conv.${i++}`);
    return o.stride === 1 && x.channels === o.out ? add(x, y, 'add') : y;
  });
}
