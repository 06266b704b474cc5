import { emit, masked, scalar } from '../../onnx/emit.js';
import { Clip } from '../../ops/clip.js';
import { registerGradient } from '../gradient.js';

/** dX = dY where min <= x <= max (PyTorch's clamp_backward), else 0. */
registerGradient({
  op: Clip,
  backward({ attrs: a, saved, dy }, w) {
    const x = saved.input0;
    const inside = emit(w, 'And', [
      emit(w, 'GreaterOrEqual', [x, scalar(w, a.min)]),
      emit(w, 'LessOrEqual', [x, scalar(w, a.max)]),
    ]);
    return { inputs: [masked(w, inside, dy)] };
  },
});
