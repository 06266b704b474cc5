import { emit } from '../../onnx/emit.js';
import { Resize, resizeScales, resizeTaps } from '../../ops/resize.js';
import { registerGradient } from '../gradient.js';

/**
 * Resizing is linear and separable: y = A_h x A_w^T per map, with A [output, input] the
 * interpolation weights of one axis (resizeTaps). So dX = A_h^T dY A_w, two MatMuls with constant
 * matrices broadcast over N and C (for any scale, mode and rounding).
 */
registerGradient({
  op: Resize,
  backward({ attrs: a, inputs: [x], output, dy }, w) {
    const [h, wd] = [x![2]!, x![3]!];
    const [ho, wo] = [output[2]!, output[3]!];
    const [sh, sw] = resizeScales(a, [h, wd], [ho, wo]);
    /** A^T [n, m] when `transposed`, else A [m, n], as row-major values. */
    const matrix = (n: number, m: number, s: number, transposed: boolean) => {
      const values = new Array<number>(n * m).fill(0);
      for (let i = 0; i < m; i++) {
        for (const [j, weight] of resizeTaps(a.mode, a.alignCorners, n, m, s, i)) {
          values[transposed ? j * m + i : i * n + j]! += weight;
        }
      }
      return w.constant(values, transposed ? [n, m] : [m, n], 'float32');
    };
    const rows = emit(w, 'MatMul', [matrix(h, ho, sh, true), dy]);
    return { inputs: [emit(w, 'MatMul', [rows, matrix(wd, wo, sw, false)])] };
  },
});
