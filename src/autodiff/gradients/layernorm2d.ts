import { reshape } from '../../onnx/emit.js';
import { LayerNorm2d } from '../../ops/layernorm2d.js';
import { registerGradient } from '../gradient.js';
import { normalizationBackward } from './normalization.js';

/** Normalised over channels at each position; weight and bias are per channel, summed over N, H and W. */
registerGradient({
  op: LayerNorm2d,
  backward({ attrs: a, inputs: [x], saved, dy }, w) {
    const g = normalizationBackward(w, {
      x: saved.input0,
      dy,
      axes: [1],
      eps: a.eps,
      weight: a.affine ? reshape(w, w.param('weight'), [1, x![1]!, 1, 1]) : undefined,
      paramAxes: [0, 2, 3],
    });
    return { inputs: [g.dx], ...(a.affine ? { params: { weight: g.dweight, bias: g.dbias } } : {}) };
  },
});
