import { slice } from '../../onnx/emit.js';
import { PadChannels } from '../../ops/pad_channels.js';
import { registerGradient } from '../gradient.js';

/** Zero channels receive nothing: the gradient is dY's slice of the original channels. */
registerGradient({
  op: PadChannels,
  backward: ({ attrs: a, inputs: [x], dy }, w) => ({
    inputs: [slice(w, dy, [1], [a.before], [a.before + x![1]!])],
  }),
});
