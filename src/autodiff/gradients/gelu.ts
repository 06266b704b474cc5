import { add, div, emit, mul, scalar, sub } from '../../onnx/emit.js';
import { GELU_TANH, Gelu } from '../../ops/gelu.js';
import { registerGradient } from '../gradient.js';

/**
 * Exact: dX = dY * (Phi(x) + x * phi(x)), Phi(x) = (1 + erf(x / sqrt 2)) / 2, phi the normal
 * density. Tanh form (t = tanh(k (x + c x^3))): dX = dY * (0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 c x^2)).
 */
registerGradient({
  op: Gelu,
  backward({ attrs: a, saved, dy }, w) {
    const x = saved.input0;
    const square = mul(w, x, x);
    if (a.approximate === 'tanh') {
      const { k, c } = GELU_TANH;
      const inner = mul(w, add(w, x, mul(w, mul(w, square, x), scalar(w, c))), scalar(w, k));
      const t = emit(w, 'Tanh', [inner]);
      const half = mul(w, add(w, t, scalar(w, 1)), scalar(w, 0.5));
      const sech2 = sub(w, scalar(w, 1), mul(w, t, t));
      const dInner = mul(w, add(w, mul(w, square, scalar(w, 3 * c)), scalar(w, 1)), scalar(w, k));
      const slope = add(w, half, mul(w, mul(w, mul(w, x, scalar(w, 0.5)), sech2), dInner));
      return { inputs: [mul(w, dy, slope)] };
    }
    const cdf = mul(
      w,
      add(w, emit(w, 'Erf', [div(w, x, scalar(w, Math.SQRT2))]), scalar(w, 1)),
      scalar(w, 0.5),
    );
    const pdf = mul(
      w,
      emit(w, 'Exp', [mul(w, square, scalar(w, -0.5))]),
      scalar(w, 1 / Math.sqrt(2 * Math.PI)),
    );
    return { inputs: [mul(w, dy, add(w, cdf, mul(w, x, pdf)))] };
  },
});
