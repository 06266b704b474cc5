import { reshape } from '../../onnx/emit.js';
import { Reshape } from '../../ops/reshape.js';
import { registerGradient } from '../gradient.js';

/** A view: dY reshaped back to the input's shape (0 keeps the batch). */
registerGradient({
  op: Reshape,
  backward: ({ inputs: [x], dy }, w) => ({ inputs: [reshape(w, dy, [0, ...x!.slice(1)])] }),
});
