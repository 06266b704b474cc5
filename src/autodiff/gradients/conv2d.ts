import type { OnnxWriter } from '../../ir/op.js';
import { Conv2d } from '../../ops/conv2d.js';
import { registerGradient } from '../gradient.js';
import { ints, one, padZeros, reduceSum, reshape, transpose, transposedFit } from '../onnx_ops.js';

type ConvAttrs = Parameters<typeof Conv2d.inferShape>[1];

/**
 * The weight in the layout of the convolution that computes dX: for each group, [O/g, C/g] becomes
 * [C/g, O/g], and the kernel is flipped in both spatial axes.
 */
function flippedTransposed(
  w: OnnxWriter,
  weight: string,
  o: number,
  cg: number,
  g: number,
  a: ConvAttrs,
): string {
  const [kh, kw] = a.kernel;
  const og = o / g;
  const swapped = reshape(w, transpose(w, reshape(w, weight, [g, og, cg, kh, kw]), [0, 2, 1, 3, 4]), [
    g * cg,
    og,
    kh,
    kw,
  ]);
  const big = 2 ** 31;
  return one(w, 'Slice', [
    swapped,
    ints(w, [-1, -1]),
    ints(w, [-big, -big]),
    ints(w, [2, 3]),
    ints(w, [-1, -1]),
  ]);
}

/**
 * dX. With stride 1 it is an ordinary convolution of dY with the flipped, transposed kernel and
 * padding d(k-1) - p, which onnxruntime runs as fast as the forward; strided convolutions use
 * ConvTranspose, with pads and output padding that restore the input's exact size.
 */
function inputGradient(
  w: OnnxWriter,
  dy: string,
  x: readonly number[],
  y: readonly number[],
  a: ConvAttrs,
): string {
  const [, c, h, wd] = x as [number, number, number, number];
  const [, o, ho, wo] = y as [number, number, number, number];
  const g = a.groups;
  const [pt, pl, pb, pr] = a.padding;
  const reach = [a.dilation[0] * (a.kernel[0] - 1), a.dilation[1] * (a.kernel[1] - 1)] as const;
  const pads = [reach[0] - pt, reach[1] - pl, reach[0] - pb, reach[1] - pr];
  if (a.stride[0] === 1 && a.stride[1] === 1 && pads.every((p) => p >= 0)) {
    return one(w, 'Conv', [dy, flippedTransposed(w, w.param('weight'), o, c / g, g, a)], {
      dilations: { ints: a.dilation },
      group: { i: g },
      pads: { ints: pads },
    });
  }
  const fitH = transposedFit(h, ho, a.stride[0], reach[0] + 1, pt);
  const fitW = transposedFit(wd, wo, a.stride[1], reach[1] + 1, pl);
  return one(w, 'ConvTranspose', [dy, w.param('weight')], {
    strides: { ints: a.stride },
    dilations: { ints: a.dilation },
    group: { i: g },
    pads: { ints: [pt, pl, fitH.padEnd, fitW.padEnd] },
    output_padding: { ints: [fitH.outputPadding, fitW.outputPadding] },
  });
}

/**
 * dW as matrix products, one per kernel tap: the input window the tap saw times dY, summed over
 * batch and positions. Two layouts, whichever moves fewer bytes for this convolution:
 * - per sample, [C/g, Ho*Wo] x [Ho*Wo, O/g] batched over N and then summed over N: no transposes,
 *   but an N x C x O/g product per tap (cheap for few channels on large maps, resnet20);
 * - batch folded into the contraction, [C/g, N*Ho*Wo] x [N*Ho*Wo, O/g], after transposing the input
 *   to [C, N, H, W] once (each tap's strided window then reshapes for free): one transpose of the
 *   input and of dY, and products of C x O/g only (the choice for many channels on small maps,
 *   resnet18's layer4 at 1x1).
 */
function weightGradient(
  w: OnnxWriter,
  x: string,
  dy: string,
  xs: readonly number[],
  ys: readonly number[],
  a: ConvAttrs,
) {
  const [n, c, h, wd] = xs as [number, number, number, number];
  const [, o, ho, wo] = ys as [number, number, number, number];
  const [kh, kw] = a.kernel;
  const g = a.groups;
  const [cg, og, taps, positions] = [c / g, o / g, kh * kw, ho * wo];
  const [pt, pl, pb, pr] = a.padding;
  const padded = pt + pl + pb + pr > 0 ? padZeros(w, x, [0, 0, pt, pl], [0, 0, pb, pr]) : x;
  const perSampleBytes = taps * c * og;
  const foldedBytes = c * (h + pt + pb) * (wd + pl + pr) + o * positions;
  const folded = foldedBytes < perSampleBytes;

  const source = folded ? transpose(w, padded, [1, 0, 2, 3]) : padded;
  const dyRows = folded
    ? reshape(w, transpose(w, reshape(w, dy, [n, g, og, positions]), [1, 0, 3, 2]), [g, n * positions, og])
    : transpose(w, reshape(w, dy, [n, g, og, positions]), [0, 1, 3, 2]);
  const tap = (i: number, j: number) => {
    const [r, s] = [i * a.dilation[0], j * a.dilation[1]];
    const window = one(w, 'Slice', [
      source,
      ints(w, [r, s]),
      ints(w, [r + a.stride[0] * (ho - 1) + 1, s + a.stride[1] * (wo - 1) + 1]),
      ints(w, [2, 3]),
      ints(w, a.stride),
    ]);
    const rows = folded
      ? reshape(w, window, [g, cg, n * positions])
      : reshape(w, window, [n, g, cg, positions]);
    const product = one(w, 'MatMul', [rows, dyRows]);
    return one(w, 'Unsqueeze', [product, ints(w, [folded ? 3 : 4])]);
  };
  const products = Array.from({ length: taps }, (_, t) => tap(Math.floor(t / kw), t % kw));
  let stacked = taps === 1 ? products[0]! : one(w, 'Concat', products, { axis: { i: folded ? 3 : 4 } });
  if (!folded) stacked = reduceSum(w, stacked, [0], false);
  // [g, C/g, O/g, taps] -> [O, C/g, kh, kw]
  return reshape(w, transpose(w, stacked, [0, 2, 1, 3]), [o, cg, kh, kw]);
}

/** Convolution backward: dX, dW (see above) and db = the sum of dY over N, H and W. */
registerGradient({
  op: Conv2d,
  backward: ({ attrs: a, inputs: [x], output, saved, dy }, w) => ({
    inputs: [inputGradient(w, dy, x!, output, a)],
    params: {
      weight: weightGradient(w, saved.inputs[0]!, dy, x!, output, a),
      ...(a.bias ? { bias: reduceSum(w, dy, [0, 2, 3], false) } : {}),
    },
  }),
});
