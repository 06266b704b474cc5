import { add, emit, mul, scalar } from '../../onnx/emit.js';
import { Hardswish } from '../../ops/hardswish.js';
import { registerGradient } from '../gradient.js';

/** PyTorch's hardswish_backward: 0 for x < -3, dY * (x/3 + 1/2) for x <= 3, dY above. */
registerGradient({
  op: Hardswish,
  backward({ saved, dy }, w) {
    const x = saved.input0;
    const ramp = mul(w, dy, add(w, mul(w, x, scalar(w, 1 / 3)), scalar(w, 0.5)));
    const upper = emit(w, 'Where', [emit(w, 'LessOrEqual', [x, scalar(w, 3)]), ramp, dy]);
    return { inputs: [emit(w, 'Where', [emit(w, 'Less', [x, scalar(w, -3)]), scalar(w, 0), upper])] };
  },
});
