import { div, mul, reduceSum, reshape, sub } from '../../onnx/emit.js';
import { L2Norm } from '../../ops/l2norm.js';
import { registerGradient } from '../gradient.js';

/**
 * y = x / n with n = sqrt(sum_c x^2 + eps): dX = (g - y * sum_c(g * y)) / n, where g is dY (times
 * the scale when there is one); dscale = sum over N, H, W of dY * y. Reads the saved x and n.
 */
registerGradient({
  op: L2Norm,
  backward({ attrs: a, inputs: [xShape], saved, dy }, w) {
    const norm = saved.norm;
    const y = div(w, saved.input0, norm);
    const c = xShape![1]!;
    const g = a.scale ? mul(w, dy, reshape(w, w.param('weight'), [1, c, 1, 1])) : dy;
    const dx = div(w, sub(w, g, mul(w, y, reduceSum(w, mul(w, g, y), [1], true))), norm);
    return {
      inputs: [dx],
      ...(a.scale ? { params: { weight: reduceSum(w, mul(w, dy, y), [0, 2, 3], false) } } : {}),
    };
  },
});
