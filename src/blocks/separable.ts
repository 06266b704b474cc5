import type { Tensor } from '../ir/builder.js';
import { conv2d } from '../ops/conv2d.js';

export interface SeparableOptions {
  readonly out: number;
  readonly kernel?: number;
  readonly stride?: number;
  /** Defaults to floor(dilation * (kernel - 1) / 2): "same" for an odd kernel at stride 1. */
  readonly padding?: number;
  readonly dilation?: number;
}

/**
 * Depthwise-separable convolution (Keras's SeparableConv2D, Xception's unit): a k x k depthwise
 * conv (one filter per channel, groups = channels) for spatial correlations, then a 1x1 pointwise
 * conv for cross-channel ones, both without bias and with nothing between them. It costs
 * C*k*k + C*out weights instead of C*out*k*k.
 */
export function separableConv2d(x: Tensor, name: string, o: SeparableOptions): Tensor {
  return x.builder.scope(name, 'SeparableConv2d', () => {
    const kernel = o.kernel ?? 3;
    const dilation = o.dilation ?? 1;
    const padding = o.padding ?? Math.floor((dilation * (kernel - 1)) / 2);
    const spatial = { kernel, stride: o.stride ?? 1, padding, dilation };
    const y = conv2d(x, { out: x.channels, ...spatial, groups: x.channels, bias: false }, 'depthwise');
    return conv2d(y, { out: o.out, kernel: 1, bias: false }, 'pointwise');
  });
}
