import { padZeros } from '../../onnx/emit.js';
import { Slice } from '../../ops/slice.js';
import { registerGradient } from '../gradient.js';

/** dY padded with zeros back to the input's extent on the sliced axis. */
registerGradient({
  op: Slice,
  backward({ attrs: a, inputs: [x], dy }, w) {
    const begins = x!.map((_, i) => (i === a.axis ? a.start : 0));
    const ends = x!.map((d, i) => (i === a.axis ? d - a.end : 0));
    return { inputs: [padZeros(w, dy, begins, ends)] };
  },
});
