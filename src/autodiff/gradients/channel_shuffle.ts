import { reshape, transpose } from '../../onnx/emit.js';
import { ChannelShuffle } from '../../ops/channel_shuffle.js';
import { registerGradient } from '../gradient.js';

/** A permutation's gradient is its inverse: the shuffle with C/groups groups. */
registerGradient({
  op: ChannelShuffle,
  backward({ attrs: a, inputs: [x], dy }, w) {
    const [, c, h, wd] = x as [number, number, number, number];
    const grouped = reshape(w, dy, [-1, c / a.groups, a.groups, h, wd]);
    return { inputs: [reshape(w, transpose(w, grouped, [0, 2, 1, 3, 4]), [-1, c, h, wd])] };
  },
});
