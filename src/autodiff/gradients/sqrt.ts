import { div, mul, scalar } from '../../onnx/emit.js';
import { Sqrt } from '../../ops/sqrt.js';
import { registerGradient } from '../gradient.js';

/** dX = dY / (2 * y), from the saved output. */
registerGradient({
  op: Sqrt,
  backward: ({ saved, dy }, w) => ({ inputs: [div(w, mul(w, dy, scalar(w, 0.5)), saved.output)] }),
});
