import { Input } from '../../ops/input.js';
import { registerGradient } from '../gradient.js';

/** The image batch is data: no gradient flows out of the graph. */
registerGradient({ op: Input, backward: () => ({ inputs: [undefined] }) });
