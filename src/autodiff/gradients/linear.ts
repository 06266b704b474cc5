import { emit, reduceSum } from '../../onnx/emit.js';
import { Linear } from '../../ops/linear.js';
import { registerGradient } from '../gradient.js';

/** dX = dY W, dW = dY^T X, db = sum of dY over the batch. */
registerGradient({
  op: Linear,
  backward: ({ attrs: a, saved, dy }, w) => ({
    inputs: [emit(w, 'MatMul', [dy, w.param('weight')])],
    params: {
      weight: emit(w, 'Gemm', [dy, saved.input0], { transA: { i: 1 } }),
      ...(a.bias ? { bias: reduceSum(w, dy, [0], false) } : {}),
    },
  }),
});
