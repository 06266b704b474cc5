import { mul, reduceSum, sub } from '../../onnx/emit.js';
import { Softmax } from '../../ops/softmax.js';
import { registerGradient } from '../gradient.js';

/** dX = y * (dY - sum(dY * y)) along the softmax axis, from the saved output. */
registerGradient({
  op: Softmax,
  backward: ({ attrs: a, saved, dy }, w) => {
    const y = saved.output;
    return { inputs: [mul(w, y, sub(w, dy, reduceSum(w, mul(w, dy, y), [a.axis], true)))] };
  },
});
