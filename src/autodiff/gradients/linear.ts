import { emit, reduceSum, reshape } from '../../onnx/emit.js';
import { Linear } from '../../ops/linear.js';
import { registerGradient } from '../gradient.js';

/**
 * dX = dY W, dW = dY^T X, db = the sum of dY over every axis but the last; on higher ranks X and dY
 * are first seen as [positions, F] and [positions, out].
 */
registerGradient({
  op: Linear,
  backward({ attrs: a, inputs: [x], output, saved, dy }, w) {
    const rows = (t: string, width: number) => (x!.length === 2 ? t : reshape(w, t, [-1, width]));
    const leading = x!.slice(0, -1).map((_, i) => i);
    return {
      inputs: [emit(w, 'MatMul', [dy, w.param('weight')])],
      params: {
        weight: emit(w, 'Gemm', [rows(dy, output.at(-1)!), rows(saved.input0, x!.at(-1)!)], {
          transA: { i: 1 },
        }),
        ...(a.bias ? { bias: reduceSum(w, dy, leading, false) } : {}),
      },
    };
  },
});
