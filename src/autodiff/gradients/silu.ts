import { add, emit, mul, scalar, sub } from '../../onnx/emit.js';
import { Silu } from '../../ops/silu.js';
import { registerGradient } from '../gradient.js';

/** dX = dY * s * (1 + x * (1 - s)), s = sigmoid(x) recomputed from the saved input. */
registerGradient({
  op: Silu,
  backward({ saved, dy }, w) {
    const x = saved.input0;
    const s = emit(w, 'Sigmoid', [x]);
    const slope = mul(w, s, add(w, scalar(w, 1), mul(w, x, sub(w, scalar(w, 1), s))));
    return { inputs: [mul(w, dy, slope)] };
  },
});
