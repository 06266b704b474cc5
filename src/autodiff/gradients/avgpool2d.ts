import { AvgPool2d } from '../../ops/avgpool2d.js';
import { registerGradient } from '../gradient.js';
import { averagePoolBackward } from './pooling.js';

/** dX spreads dY / divisor evenly over each window (needs only shapes: nothing saved). */
registerGradient({
  op: AvgPool2d,
  backward: ({ attrs: a, inputs: [x], output, dy }, w) => ({
    inputs: [averagePoolBackward(w, dy, x!, output, a.kernel, a.stride, a.padding, a.countIncludePad)],
  }),
});
