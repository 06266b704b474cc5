import { Parameter } from '../../ops/parameter.js';
import { registerGradient } from '../gradient.js';

/** The parameter's gradient is its output's (a consumer that broadcast it has already summed dY back to its shape). */
registerGradient({
  op: Parameter,
  backward: ({ attrs: a, dy }) => ({ inputs: [], params: { [a.param]: dy } }),
});
