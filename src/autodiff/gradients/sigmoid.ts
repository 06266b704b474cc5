import { mul, scalar, sub } from '../../onnx/emit.js';
import { Sigmoid } from '../../ops/sigmoid.js';
import { registerGradient } from '../gradient.js';

/** dX = dY * y * (1 - y), from the saved output. */
registerGradient({
  op: Sigmoid,
  backward: ({ saved, dy }, w) => ({
    inputs: [mul(w, dy, mul(w, saved.output, sub(w, scalar(w, 1), saved.output)))],
  }),
});
