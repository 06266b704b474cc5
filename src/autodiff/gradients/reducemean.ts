import { numel } from '../../ir/shape.js';
import { emit, ints, mul, reshape, scalar } from '../../onnx/emit.js';
import { ReduceMean } from '../../ops/reducemean.js';
import { registerGradient } from '../gradient.js';

/** dX = dY / (elements averaged), expanded back over the reduced axes. */
registerGradient({
  op: ReduceMean,
  backward({ attrs: a, inputs: [x], output, dy }, w) {
    const reduced = new Set(a.axes);
    const kept = x!.map((d, i) => (reduced.has(i) ? 1 : d));
    const scaled = mul(w, dy, scalar(w, numel(output) / numel(x!)));
    return {
      inputs: [emit(w, 'Expand', [a.keepdims ? scaled : reshape(w, scaled, kept), ints(w, [...x!])])],
    };
  },
});
