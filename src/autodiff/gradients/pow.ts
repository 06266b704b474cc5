import { emit, mul, scalar, sub } from '../../onnx/emit.js';
import { Pow } from '../../ops/pow.js';
import { registerGradient } from '../gradient.js';
import { unbroadcast } from './shapes.js';

/**
 * dA = dY * b * a^(b-1); dB = dY * y * ln(a), 0 where a = 0 (PyTorch's pow_backward_exponent);
 * each summed over its broadcast axes.
 */
registerGradient({
  op: Pow,
  backward({ inputs: [aShape, bShape], output, saved, dy }, w) {
    const [a, b] = [saved.input0, saved.input1];
    const da = mul(w, dy, mul(w, b, emit(w, 'Pow', [a, sub(w, b, scalar(w, 1))])));
    const zero = scalar(w, 0);
    const logA = emit(w, 'Log', [a]);
    const db = emit(w, 'Where', [emit(w, 'Equal', [a, zero]), zero, mul(w, mul(w, dy, saved.output), logA)]);
    return { inputs: [unbroadcast(w, da, output, aShape!), unbroadcast(w, db, output, bShape!)] };
  },
});
