import { Linear } from '../../ops/linear.js';
import { registerGradient } from '../gradient.js';
import { one, reduceSum } from '../onnx_ops.js';

/** dX = dY W, dW = dY^T X, db = sum of dY over the batch. */
registerGradient({
  op: Linear,
  backward: ({ attrs: a, saved, dy }, w) => ({
    inputs: [one(w, 'MatMul', [dy, w.param('weight')])],
    params: {
      weight: one(w, 'Gemm', [dy, saved.inputs[0]!], { transA: { i: 1 } }),
      ...(a.bias ? { bias: reduceSum(w, dy, [0], false) } : {}),
    },
  }),
});
