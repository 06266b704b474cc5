import { Conv2d } from '../../ops/conv2d.js';
import { registerGradient } from '../gradient.js';
import { one, reduceSum, reshape, slice, transpose, transposedFit } from '../onnx_ops.js';

/**
 * Convolution backward.
 * dX = ConvTranspose(dY, W) with the forward's strides, pads, dilations and groups.
 * dW = a convolution of the input with dY: with the batch folded into channels and groups kept,
 *   Conv(X as [C/g, g*N, H, W], dY as [O, N, Ho, Wo], strides = dilation, dilations = stride,
 *   group = g) gives [C/g, O, kh', kw'], cropped to the kernel and transposed to [O, C/g, kh, kw].
 *   Grouped and depthwise convolutions cost only their own blocks (no C x O product).
 * db = sum of dY over N, H, W.
 */
registerGradient({
  op: Conv2d,
  backward({ attrs: a, inputs: [xShape], output, saved, dy }, w) {
    const [n, c, h, wd] = xShape as [number, number, number, number];
    const [, , ho, wo] = output as [number, number, number, number];
    const g = a.groups;
    const weight = w.param('weight');
    const [pt, pl, pb, pr] = a.padding;
    const dilated = [a.dilation[0] * (a.kernel[0] - 1) + 1, a.dilation[1] * (a.kernel[1] - 1) + 1] as const;
    const fitH = transposedFit(h, ho, a.stride[0], dilated[0], pt);
    const fitW = transposedFit(wd, wo, a.stride[1], dilated[1], pl);
    const dx = one(w, 'ConvTranspose', [dy, weight], {
      strides: { ints: a.stride },
      dilations: { ints: a.dilation },
      group: { i: g },
      pads: { ints: [pt, pl, fitH.padEnd, fitW.padEnd] },
      output_padding: { ints: [fitH.outputPadding, fitW.outputPadding] },
    });

    const x = saved.inputs[0]!;
    const cg = c / g;
    const xFolded =
      g === 1
        ? transpose(w, x, [1, 0, 2, 3])
        : reshape(w, transpose(w, reshape(w, x, [n, g, cg, h, wd]), [2, 1, 0, 3, 4]), [cg, g * n, h, wd]);
    const dyT = transpose(w, dy, [1, 0, 2, 3]);
    let dw = one(w, 'Conv', [xFolded, dyT], {
      strides: { ints: a.dilation },
      dilations: { ints: a.stride },
      group: { i: g },
      pads: { ints: [pt, pl, pb, pr] },
    });
    const reachH = Math.floor((h + pt + pb - a.stride[0] * (ho - 1) - 1) / a.dilation[0]) + 1;
    const reachW = Math.floor((wd + pl + pr - a.stride[1] * (wo - 1) - 1) / a.dilation[1]) + 1;
    if (reachH > a.kernel[0] || reachW > a.kernel[1])
      dw = slice(w, dw, [2, 3], [0, 0], [a.kernel[0], a.kernel[1]]);
    dw = transpose(w, dw, [1, 0, 2, 3]);

    return {
      inputs: [dx],
      params: { weight: dw, ...(a.bias ? { bias: reduceSum(w, dy, [0, 2, 3], false) } : {}) },
    };
  },
});
