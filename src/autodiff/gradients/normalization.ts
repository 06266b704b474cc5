import type { OnnxWriter } from '../../ir/op.js';
import { add, emit, mul, reduceSum, scalar, sub } from '../../onnx/emit.js';

/**
 * The backward of a normalisation over `axes` of `x` (layer norm): with the statistics recomputed
 * from x, x_hat = (x - mean) / sqrt(var + eps) and g = dY * weight (or dY),
 *   dX = invstd * (g - mean(g) - x_hat * mean(g * x_hat)),
 * the means over `axes`; dweight = sum of dY * x_hat and dbias = sum of dY over `paramAxes`
 * (the axes the parameters are shared across), reshaped by the caller when they need it.
 */
export function normalizationBackward(
  w: OnnxWriter,
  o: {
    readonly x: string;
    readonly dy: string;
    readonly axes: readonly number[];
    readonly eps: number;
    /** The weight broadcast against x, or undefined without an affine transform. */
    readonly weight: string | undefined;
    readonly paramAxes: readonly number[];
  },
): { dx: string; dweight: string; dbias: string } {
  const mean = (t: string) => emit(w, 'ReduceMean', [t], { axes: { ints: o.axes }, keepdims: { i: 1 } });
  const centred = sub(w, o.x, mean(o.x));
  const invstd = emit(w, 'Reciprocal', [
    emit(w, 'Sqrt', [add(w, mean(mul(w, centred, centred)), scalar(w, o.eps))]),
  ]);
  const xHat = mul(w, centred, invstd);
  const g = o.weight === undefined ? o.dy : mul(w, o.dy, o.weight);
  const dx = mul(w, invstd, sub(w, sub(w, g, mean(g)), mul(w, xHat, mean(mul(w, g, xHat)))));
  return {
    dx,
    dweight: reduceSum(w, mul(w, o.dy, xHat), o.paramAxes, false),
    dbias: reduceSum(w, o.dy, o.paramAxes, false),
  };
}
