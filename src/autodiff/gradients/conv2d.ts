import type { OnnxWriter } from '../../ir/op.js';
import { emit, ints, padZeros, reduceSum, reshape, transpose } from '../../onnx/emit.js';
import { Conv2d, convolution } from '../../ops/conv2d.js';
import { registerGradient } from '../gradient.js';
import { transposedFit } from './shapes.js';

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
  return emit(w, 'Slice', [
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
    return convolution(w, {
      ...a,
      x: dy,
      weight: flippedTransposed(w, w.param('weight'), o, c / g, g, a),
      bias: undefined,
      channels: o,
      out: c,
      stride: [1, 1],
      padding: pads as [number, number, number, number],
    });
  }
  const fitH = transposedFit(h, ho, a.stride[0], reach[0] + 1, pt);
  const fitW = transposedFit(wd, wo, a.stride[1], reach[1] + 1, pl);
  return emit(w, 'ConvTranspose', [dy, w.param('weight')], {
    strides: { ints: a.stride },
    dilations: { ints: a.dilation },
    group: { i: g },
    pads: { ints: [pt, pl, fitH.padEnd, fitW.padEnd] },
    output_padding: { ints: [fitH.outputPadding, fitW.outputPadding] },
  });
}

/** What dW is computed from: the input x and dY, their shapes, and the convolution's attributes. */
interface WeightGradientInputs {
  readonly x: string;
  readonly dy: string;
  readonly xs: readonly number[];
  readonly ys: readonly number[];
  readonly a: ConvAttrs;
}

/**
 * dW, in one of three forms, chosen by the output map's size P = Ho x Wo and the stride (measured on
 * 2 threads, onnxruntime 1.30; ms for one dW at batch 128 (64 for the last two rows)):
 *
 *   C -> O, map, stride      | per-tap per-sample | per-tap folded | unfolded
 *   16 -> 16, 32x32, 1       |        30-44       |       75       |  44-47
 *   32 -> 32, 16x16, 1       |        33-37       |       50       |  29-34
 *   64 -> 64, 8x8, 1         |        50-55       |       40       |  27-30
 *   16 -> 32, 32x32 -> 16, 2 |        54-64       |       55       |  20-21
 *   32 -> 64, 16x16 -> 8, 2  |          49       |       46       |     18
 *   128 -> 128, 4x4, 1       |          91       |       25       |     25
 *   256 -> 256, 2x2, 1       |         179       |       16       |     51
 *
 * - unfolded: im2col by a grouped Conv with constant one-hot kernels (a constant weight gets
 *   onnxruntime's fast convolution, and strides cost it nothing, where strided Slices are slow),
 *   then one product per sample, [O/g, P] x [P, C/g x taps], summed over N. Chosen for maps of 64
 *   to 256 positions, and for larger ones when strided;
 * - per tap, per sample: the input window the tap saw, [C/g, P] x [P, O/g] batched over N, summed
 *   over N (no transposes; large maps, few channels: resnet20's first stage);
 * - per tap, batch folded into the contraction: [C/g, N x P] x [N x P, O/g] after transposing the
 *   input to [C, N, H, W] once (tiny maps, many channels: resnet18's last stages).
 * The last two choose between them by the bytes they move.
 */
function weightGradient(w: OnnxWriter, dw: WeightGradientInputs) {
  const { ys, a } = dw;
  const [, , ho, wo] = ys as [number, number, number, number];
  const positions = ho * wo;
  const strided = a.stride[0] > 1 || a.stride[1] > 1;
  const taps = a.kernel[0] * a.kernel[1];
  if (taps > 1 && positions >= 64 && (positions <= 256 || strided)) {
    return unfoldedWeightGradient(w, dw);
  }
  return perTapWeightGradient(w, dw);
}

/** dW from the unfolded input: see `weightGradient`. */
function unfoldedWeightGradient(w: OnnxWriter, { x, dy, xs, ys, a }: WeightGradientInputs) {
  const [n, c] = xs as [number, number, number, number];
  const [, o, ho, wo] = ys as [number, number, number, number];
  const [kh, kw] = a.kernel;
  const g = a.groups;
  const [cg, og, taps, positions] = [c / g, o / g, kh * kw, ho * wo];
  // Kernel t of channel k picks tap t: the output's channel k x taps + t is that tap's window.
  const oneHot = new Array<number>(c * taps * taps).fill(0);
  for (let k = 0; k < c * taps; k++) oneHot[k * taps + (k % taps)] = 1;
  const unfolded = emit(w, 'Conv', [x, w.constant(oneHot, [c * taps, 1, kh, kw], 'float32')], {
    group: { i: c },
    kernel_shape: { ints: a.kernel },
    strides: { ints: a.stride },
    dilations: { ints: a.dilation },
    pads: { ints: a.padding },
  });
  // [N, g, O/g, P] x [N, g, P, C/g x taps] -> [N, g, O/g, C/g x taps], summed over N.
  const columns = transpose(w, reshape(w, unfolded, [n, g, cg * taps, positions]), [0, 1, 3, 2]);
  const product = emit(w, 'MatMul', [reshape(w, dy, [n, g, og, positions]), columns]);
  return reshape(w, reduceSum(w, product, [0], false), [o, cg, kh, kw]);
}

/** dW from one product per kernel tap: see `weightGradient`. */
function perTapWeightGradient(w: OnnxWriter, { x, dy, xs, ys, a }: WeightGradientInputs) {
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
    const window = emit(w, 'Slice', [
      source,
      ints(w, [r, s]),
      ints(w, [r + a.stride[0] * (ho - 1) + 1, s + a.stride[1] * (wo - 1) + 1]),
      ints(w, [2, 3]),
      ints(w, a.stride),
    ]);
    const rows = folded
      ? reshape(w, window, [g, cg, n * positions])
      : reshape(w, window, [n, g, cg, positions]);
    const product = emit(w, 'MatMul', [rows, dyRows]);
    return emit(w, 'Unsqueeze', [product, ints(w, [folded ? 3 : 4])]);
  };
  const products = Array.from({ length: taps }, (_, t) => tap(Math.floor(t / kw), t % kw));
  let stacked = taps === 1 ? products[0]! : emit(w, 'Concat', products, { axis: { i: folded ? 3 : 4 } });
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
      weight: weightGradient(w, { x: saved.input0, dy, xs: x!, ys: output, a }),
      ...(a.bias ? { bias: reduceSum(w, dy, [0, 2, 3], false) } : {}),
    },
  }),
});
