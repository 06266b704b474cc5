import { Identity } from '../../ops/identity.js';
import { registerGradient } from '../gradient.js';

/** dX = dY. */
registerGradient({ op: Identity, backward: ({ dy }) => ({ inputs: [dy] }) });
