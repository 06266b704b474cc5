import { div, emit, mul } from '../../onnx/emit.js';
import { Div } from '../../ops/div.js';
import { registerGradient } from '../gradient.js';
import { unbroadcast } from './shapes.js';

/** dA = dY / b, dB = -dY * y / b (y = a / b, saved), each summed over its broadcast axes. */
registerGradient({
  op: Div,
  backward({ inputs: [a, b], output, saved, dy }, w) {
    const da = div(w, dy, saved.input1);
    const db = emit(w, 'Neg', [mul(w, da, saved.output)]);
    return { inputs: [unbroadcast(w, da, output, a!), unbroadcast(w, db, output, b!)] };
  },
});
