import { Relu6 } from '../../ops/relu6.js';
import { registerGradient } from '../gradient.js';
import { masked, one, scalar } from '../onnx_ops.js';

/** dX = dY where 0 < y < 6 (PyTorch's hardtanh backward on the saved output). */
registerGradient({
  op: Relu6,
  backward({ saved, dy }, w) {
    const y = saved.output!;
    const inside = one(w, 'And', [one(w, 'Greater', [y, scalar(w, 0)]), one(w, 'Less', [y, scalar(w, 6)])]);
    return { inputs: [masked(w, inside, dy)] };
  },
});
