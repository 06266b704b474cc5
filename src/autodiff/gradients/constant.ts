import { Constant } from '../../ops/constant.js';
import { registerGradient } from '../gradient.js';

/** A constant has no inputs and does not train: nothing flows on. */
registerGradient({ op: Constant, backward: () => ({ inputs: [] }) });
