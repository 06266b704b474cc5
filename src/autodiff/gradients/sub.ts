import { emit } from '../../onnx/emit.js';
import { Sub } from '../../ops/sub.js';
import { registerGradient } from '../gradient.js';
import { unbroadcast } from './shapes.js';

/** dA = dY, dB = -dY, each summed over the axes its operand was broadcast along. */
registerGradient({
  op: Sub,
  backward: ({ inputs: [a, b], output, dy }, w) => ({
    inputs: [unbroadcast(w, dy, output, a!), unbroadcast(w, emit(w, 'Neg', [dy]), output, b!)],
  }),
});
