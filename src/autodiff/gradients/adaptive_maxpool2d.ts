import { emit, ints, padZeros, reshape, slice } from '../../onnx/emit.js';
import { adaptiveBins } from '../../ops/adaptive.js';
import { AdaptiveMaxPool2d } from '../../ops/adaptive_maxpool2d.js';
import { registerGradient } from '../gradient.js';

/**
 * Each bin's gradient goes to its first maximum (as PyTorch picks it): ArgMax over the bin of the
 * saved input, a scatter into the bin, padded into place; the bins' parts are summed (they may
 * overlap when the output size does not divide the input).
 */
registerGradient({
  op: AdaptiveMaxPool2d,
  backward({ attrs: a, inputs: [xShape], saved, dy }, w) {
    const [n, c, h, wd] = xShape as [number, number, number, number];
    const x = saved.input0;
    const parts: string[] = [];
    adaptiveBins(h, a.output[0]).forEach(([h0, h1], i) => {
      adaptiveBins(wd, a.output[1]).forEach(([w0, w1], j) => {
        const area = (h1 - h0) * (w1 - w0);
        const bin = reshape(w, slice(w, x, [2, 3], [h0, w0], [h1, w1]), [n, c, area]);
        const first = emit(w, 'ArgMax', [bin], {
          axis: { i: 2 },
          keepdims: { i: 1 },
          select_last_index: { i: 0 },
        });
        const zeros = emit(w, 'ConstantOfShape', [ints(w, [n, c, area])]);
        const share = reshape(w, slice(w, dy, [2, 3], [i, j], [i + 1, j + 1]), [n, c, 1]);
        const scattered = emit(w, 'ScatterElements', [zeros, first, share], { axis: { i: 2 } });
        parts.push(
          padZeros(
            w,
            reshape(w, scattered, [n, c, h1 - h0, w1 - w0]),
            [0, 0, h0, w0],
            [0, 0, h - h1, wd - w1],
          ),
        );
      });
    });
    return { inputs: [parts.length === 1 ? parts[0]! : emit(w, 'Sum', parts)] };
  },
});
