import { transpose } from '../../onnx/emit.js';
import { inversePermutation, Transpose } from '../../ops/transpose.js';
import { registerGradient } from '../gradient.js';

/** A permutation's gradient is the inverse permutation of dY. */
registerGradient({
  op: Transpose,
  backward: ({ attrs: a, dy }, w) => ({ inputs: [transpose(w, dy, inversePermutation(a.perm))] }),
});
