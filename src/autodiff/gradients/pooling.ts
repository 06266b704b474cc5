import type { OnnxWriter } from '../../ir/op.js';
import type { Padding4, Pair, Shape } from '../../ir/shape.js';
import { emit, mul } from '../../onnx/emit.js';
import { transposedFit } from './shapes.js';

/**
 * PyTorch's average-pooling divisor for each output position along one axis: the window clipped
 * to the padded input, and further to the input itself unless padding counts.
 */
export function divisors(
  length: number,
  count: number,
  k: number,
  s: number,
  padBegin: number,
  padEnd: number,
  countPad: boolean,
) {
  return Array.from({ length: count }, (_, i) => {
    const start = i * s - padBegin;
    const end = Math.min(start + k, length + padEnd);
    return countPad ? end - start : Math.min(end, length) - Math.max(start, 0);
  });
}

/**
 * The gradient of an average pool: dY divided by each window's divisor, spread evenly over its
 * window by a depthwise ConvTranspose with a kernel of ones.
 */
export function averagePoolBackward(
  w: OnnxWriter,
  dy: string,
  x: Shape,
  y: Shape,
  kernel: Pair,
  stride: Pair,
  padding: Padding4,
  countPad: boolean,
): string {
  const [, c, h, wd] = x as [number, number, number, number];
  const [ho, wo] = [y[2]!, y[3]!];
  const [pt, pl, pb, pr] = padding;
  const dh = divisors(h, ho, kernel[0], stride[0], pt, pb, countPad);
  const dw = divisors(wd, wo, kernel[1], stride[1], pl, pr, countPad);
  const inverse = w.constant(
    dh.flatMap((a) => dw.map((b) => 1 / (a * b))),
    [1, 1, ho, wo],
    'float32',
  );
  const ones = w.constant(
    new Array(c * kernel[0] * kernel[1]).fill(1),
    [c, 1, kernel[0], kernel[1]],
    'float32',
  );
  const fitH = transposedFit(h, ho, stride[0], kernel[0], pt);
  const fitW = transposedFit(wd, wo, stride[1], kernel[1], pl);
  return emit(w, 'ConvTranspose', [mul(w, dy, inverse), ones], {
    strides: { ints: stride },
    group: { i: c },
    pads: { ints: [pt, pl, fitH.padEnd, fitW.padEnd] },
    output_padding: { ints: [fitH.outputPadding, fitW.outputPadding] },
  });
}
