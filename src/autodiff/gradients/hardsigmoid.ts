import { add, emit, masked, mul, scalar } from '../../onnx/emit.js';
import { Hardsigmoid } from '../../ops/hardsigmoid.js';
import { registerGradient } from '../gradient.js';

/** dX = alpha * dY where 0 < alpha * x + beta < 1 (strictly, as PyTorch's hardsigmoid_backward), else 0. */
registerGradient({
  op: Hardsigmoid,
  backward({ attrs: a, saved, dy }, w) {
    const z = add(w, mul(w, saved.input0, scalar(w, a.alpha)), scalar(w, a.beta));
    const inside = emit(w, 'And', [
      emit(w, 'Greater', [z, scalar(w, 0)]),
      emit(w, 'Less', [z, scalar(w, 1)]),
    ]);
    return { inputs: [masked(w, inside, mul(w, dy, scalar(w, a.alpha)))] };
  },
});
