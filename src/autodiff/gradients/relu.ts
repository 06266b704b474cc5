import { Relu } from '../../ops/relu.js';
import { registerGradient } from '../gradient.js';
import { masked, one, scalar } from '../onnx_ops.js';

/** dX = dY where the output is positive: reads only the saved output, so ReLU may run in place. */
registerGradient({
  op: Relu,
  backward: ({ saved, dy }, w) => ({
    inputs: [masked(w, one(w, 'Greater', [saved.output!, scalar(w, 0)]), dy)],
  }),
});
