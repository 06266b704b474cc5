import { Add } from '../../ops/add.js';
import { registerGradient } from '../gradient.js';
import { unbroadcast } from './shapes.js';

/** dY flows to both operands unchanged, summed over any axis an operand was broadcast along. */
registerGradient({
  op: Add,
  backward: ({ inputs: [a, b], output, dy }, w) => ({
    inputs: [unbroadcast(w, dy, output, a!), unbroadcast(w, dy, output, b!)],
  }),
});
