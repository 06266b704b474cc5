import { emit, masked, scalar } from '../../onnx/emit.js';
import { Relu } from '../../ops/relu.js';
import { registerGradient } from '../gradient.js';

/** dX = dY where the output is positive: reads only the saved output, so ReLU may run in place. */
registerGradient({
  op: Relu,
  backward: ({ saved, dy }, w) => ({
    inputs: [masked(w, emit(w, 'Greater', [saved.output, scalar(w, 0)]), dy)],
  }),
});
