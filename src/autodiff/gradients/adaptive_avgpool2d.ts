import { emit, ints, mul, padZeros, scalar, slice } from '../../onnx/emit.js';
import { adaptiveBins } from '../../ops/adaptive.js';
import { AdaptiveAvgPool2d } from '../../ops/adaptive_avgpool2d.js';
import { registerGradient } from '../gradient.js';
import { averagePoolBackward } from './pooling.js';

/**
 * Global pooling: dX = dY / (H*W) expanded over the plane. Uniform bins: an average pool's
 * gradient. Unequal bins (PyTorch's floor/ceil bins): each bin's share, padded into place and summed.
 */
registerGradient({
  op: AdaptiveAvgPool2d,
  backward({ attrs: a, inputs: [x], output, dy }, w) {
    const [n, c, h, wd] = x as [number, number, number, number];
    const [oh, ow] = a.output;
    if (oh === 1 && ow === 1) {
      return { inputs: [emit(w, 'Expand', [mul(w, dy, scalar(w, 1 / (h * wd))), ints(w, [n, c, h, wd])])] };
    }
    if (h % oh === 0 && wd % ow === 0) {
      const k = [h / oh, wd / ow] as const;
      return { inputs: [averagePoolBackward(w, dy, x!, output, k, k, [0, 0, 0, 0], true)] };
    }
    const parts: string[] = [];
    adaptiveBins(h, oh).forEach(([h0, h1], i) => {
      adaptiveBins(wd, ow).forEach(([w0, w1], j) => {
        const share = mul(
          w,
          slice(w, dy, [2, 3], [i, j], [i + 1, j + 1]),
          scalar(w, 1 / ((h1 - h0) * (w1 - w0))),
        );
        const spread = emit(w, 'Expand', [share, ints(w, [n, c, h1 - h0, w1 - w0])]);
        parts.push(padZeros(w, spread, [0, 0, h0, w0], [0, 0, h - h1, wd - w1]));
      });
    });
    return { inputs: [emit(w, 'Sum', parts)] };
  },
});
