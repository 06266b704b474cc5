import { masked, mul, scalar } from '../../onnx/emit.js';
import { Dropout } from '../../ops/dropout.js';
import { registerGradient } from '../gradient.js';

/** dX = dY * mask / (1 - p), with the mask the training forward saved. */
registerGradient({
  op: Dropout,
  backward: ({ attrs: a, saved, dy }, w) => ({
    inputs: [a.p === 0 ? dy : masked(w, saved.mask, mul(w, dy, scalar(w, a.p < 1 ? 1 / (1 - a.p) : 0)))],
  }),
});
