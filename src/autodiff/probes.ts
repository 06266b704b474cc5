import type { OnnxWriter } from '../ir/op.js';
import { div, emit, ints, mul, scalar, sub } from '../onnx/emit.js';

/** The L2 norm of all of a tensor's elements, a scalar. */
export const norm = (w: OnnxWriter, x: string): string => emit(w, 'ReduceL2', [x], { keepdims: { i: 0 } });

/**
 * The (population) standard deviation of all of a tensor's elements, a scalar. The deviations are
 * divided by the largest of them before squaring: float32 squares of values below 1e-19 underflow,
 * and the signals of a badly initialised deep net get that small.
 */
export function standardDeviation(w: OnnxWriter, x: string): string {
  const centred = sub(w, x, emit(w, 'ReduceMean', [x], { keepdims: { i: 1 } }));
  const largest = emit(w, 'ReduceMax', [emit(w, 'Abs', [centred])], { keepdims: { i: 1 } });
  const scale = emit(w, 'Max', [largest, scalar(w, FLOAT32_MIN_NORMAL)]);
  const unit = div(w, centred, scale);
  const rms = emit(w, 'Sqrt', [emit(w, 'ReduceMean', [mul(w, unit, unit)], { keepdims: { i: 0 } })]);
  return mul(w, rms, emit(w, 'Reshape', [scale, ints(w, [])]));
}

/** The smallest normal float32. */
const FLOAT32_MIN_NORMAL = 1.1754943508222875e-38;
