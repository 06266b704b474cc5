import { emit, masked, scalar } from '../../onnx/emit.js';
import { Relu6 } from '../../ops/relu6.js';
import { registerGradient } from '../gradient.js';

/** dX = dY where 0 < x < 6 (PyTorch's hardtanh backward, on the saved input). */
registerGradient({
  op: Relu6,
  backward({ saved, dy }, w) {
    const x = saved.input0;
    const inside = emit(w, 'And', [
      emit(w, 'Greater', [x, scalar(w, 0)]),
      emit(w, 'Less', [x, scalar(w, 6)]),
    ]);
    return { inputs: [masked(w, inside, dy)] };
  },
});
