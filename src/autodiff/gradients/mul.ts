import { mul } from '../../onnx/emit.js';
import { Mul } from '../../ops/mul.js';
import { registerGradient } from '../gradient.js';
import { unbroadcast } from './shapes.js';

/** dA = dY * B, dB = dY * A, each summed over its broadcast axes (SE: over H and W). */
registerGradient({
  op: Mul,
  backward: ({ inputs: [a, b], output, saved, dy }, w) => ({
    inputs: [
      unbroadcast(w, mul(w, dy, saved.input1), output, a!),
      unbroadcast(w, mul(w, dy, saved.input0), output, b!),
    ],
  }),
});
