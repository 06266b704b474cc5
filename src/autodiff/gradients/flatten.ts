import { reshape } from '../../onnx/emit.js';
import { Flatten } from '../../ops/flatten.js';
import { registerGradient } from '../gradient.js';

/** A view: the gradient is dY reshaped back. */
registerGradient({
  op: Flatten,
  backward: ({ inputs: [x], dy }, w) => ({ inputs: [reshape(w, dy, [-1, ...x!.slice(1)])] }),
});
