import { firstNormalizedAxis, LayerNorm } from '../../ops/layernorm.js';
import { registerGradient } from '../gradient.js';
import { normalizationBackward } from './normalization.js';

/** Layer norm's backward over the trailing axes from `axis`; the parameters' sums run over the leading ones. */
registerGradient({
  op: LayerNorm,
  backward({ attrs: a, inputs: [x], saved, dy }, w) {
    const first = firstNormalizedAxis(x!, a.axis);
    const axes = x!.map((_, i) => i).filter((i) => i >= first);
    const paramAxes = x!.map((_, i) => i).filter((i) => i < first);
    const g = normalizationBackward(w, {
      x: saved.input0,
      dy,
      axes,
      eps: a.eps,
      weight: a.affine ? w.param('weight') : undefined,
      paramAxes,
    });
    return { inputs: [g.dx], ...(a.affine ? { params: { weight: g.dweight, bias: g.dbias } } : {}) };
  },
});
