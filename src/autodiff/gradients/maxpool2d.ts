import { numel } from '../../ir/shape.js';
import { emit, ints, reshape } from '../../onnx/emit.js';
import { MaxPool2d } from '../../ops/maxpool2d.js';
import { registerGradient } from '../gradient.js';

/**
 * dX = ScatterElements(zeros, indices, dY, reduction 'add') over the flattened input: the forward's
 * Indices output is flat over the whole N*C*H*W tensor, and overlapping windows add up.
 */
registerGradient({
  op: MaxPool2d,
  backward({ inputs: [xShape], saved, dy }, w) {
    const zeros = emit(w, 'ConstantOfShape', [ints(w, [numel(xShape!)])]);
    const flat = emit(w, 'ScatterElements', [zeros, reshape(w, saved.indices, [-1]), reshape(w, dy, [-1])], {
      axis: { i: 0 },
      reduction: { s: 'add' },
    });
    return { inputs: [reshape(w, flat, [...xShape!])] };
  },
});
