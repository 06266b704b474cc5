import { Relu6 } from '../../ops/relu6.js';
import { registerGradient } from '../gradient.js';
import { masked, one, scalar } from '../onnx_ops.js';

/** dX = dY where 0 < x < 6 (PyTorch's hardtanh backward, on the saved input). */
registerGradient({
  op: Relu6,
  backward({ saved, dy }, w) {
    const x = saved.inputs[0]!;
    const inside = one(w, 'And', [one(w, 'Greater', [x, scalar(w, 0)]), one(w, 'Less', [x, scalar(w, 6)])]);
    return { inputs: [masked(w, inside, dy)] };
  },
});
