import { ConvlabError } from '../ir/errors.js';
import type { Init } from '../ir/op.js';

/**
 * The variance analysis of He, Zhang, Ren and Sun 2015 ("Delving Deep into Rectifiers", section
 * 2.2) for conv layers: the per-layer factor a ReLU conv net applies to the standard deviation of
 * its activations (forward) and of the loss gradient (backward), from the weights' variance and the
 * layer's effective fans; and the same factors measured from a std profile over depth.
 */

/**
 * A probed standard deviation below this is not a measurement: the values themselves leave
 * float32's normal range (it ends at 1.2e-38) and lose precision. (The probe divides by the largest
 * deviation before squaring, so the squares do not underflow first.)
 */
export const MEASURABLE = 1e-36;

/** One conv layer of a net, as the variance analysis needs it. */
export interface ConvLayer {
  readonly name: string;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernel: number;
  readonly stride: number;
  readonly padding: number;
  /** Input and output map sizes, [height, width]. */
  readonly inSize: readonly [number, number];
  readonly outSize: readonly [number, number];
}

/** Kernel taps that land inside the map (not on zero padding), summed over one axis's outputs. */
function tapsInside(size: number, kernel: number, stride: number, padding: number, outSize: number): number {
  let taps = 0;
  for (let o = 0; o < outSize; o++) {
    for (let k = 0; k < kernel; k++) {
      const i = o * stride - padding + k;
      if (i >= 0 && i < size) taps++;
    }
  }
  return taps;
}

/**
 * The fans the variance analysis sees. Forward, an output sums over in-channels x the taps inside
 * the map (zero padding adds nothing, which matters on small maps); backward, an input position
 * receives from out-channels x the taps that reach it, on average k^2 / stride^2 of them.
 */
export function effectiveFans(l: ConvLayer): { fanIn: number; fanOut: number } {
  const [inH, inW] = l.inSize;
  const [outH, outW] = l.outSize;
  // The taps of a square kernel factor into the two axes' counts.
  const taps =
    tapsInside(inH, l.kernel, l.stride, l.padding, outH) *
    tapsInside(inW, l.kernel, l.stride, l.padding, outW);
  return {
    fanIn: (l.inChannels * taps) / (outH * outW),
    fanOut: (l.outChannels * taps) / (inH * inW),
  };
}

/** Var(w) of a conv weight under `init`, from its nominal fans (as torch.nn.init computes them). */
export function weightVariance(init: Init, l: ConvLayer): number {
  const field = l.kernel * l.kernel;
  const fanIn = l.inChannels * field;
  const fanOut = l.outChannels * field;
  switch (init.kind) {
    case 'normal':
      return init.std * init.std;
    case 'xavier_normal':
      return 2 / (fanIn + fanOut);
    case 'kaiming_normal':
      return 2 / (init.mode === 'fan_in' ? fanIn : fanOut);
    default:
      throw new ConvlabError(`init-statistics has no variance rule for init '${init.kind}'`);
  }
}

/**
 * He et al. 2015, section 2.2: through a conv whose input is the ReLU of the previous conv's
 * (zero-mean, symmetric) output, Var(y_l) = 1/2 n_l Var(w_l) Var(y_{l-1}) forward, and
 * Var(dy_{l-1}) = 1/2 n^_l Var(w_l) Var(dy_l) backward (n^_l the fan-out). The predicted factors on
 * the standard deviations, per layer.
 */
export function predictedRatios(init: Init, l: ConvLayer): { forward: number; backward: number } {
  const variance = weightVariance(init, l);
  const fans = effectiveFans(l);
  return {
    forward: Math.sqrt(0.5 * fans.fanIn * variance),
    backward: Math.sqrt(0.5 * fans.fanOut * variance),
  };
}

/** Index of the last std that is a measurement (-1 if none). */
export const lastMeasurable = (std: readonly number[]): number => {
  for (let i = std.length - 1; i >= 0; i--) if (std[i]! > MEASURABLE) return i;
  return -1;
};

/** Geometric mean of positive numbers (1 for none). */
export const geometricMean = (xs: readonly number[]): number =>
  xs.length ? Math.exp(xs.reduce((s, x) => s + Math.log(x), 0) / xs.length) : 1;

/**
 * The measured per-layer factor of a std profile over conv layers [from, to] (0-based): forward,
 * (s_to / s_from)^(1 / (to - from)); backward, the factor one layer towards the input,
 * (s_from / s_to)^(1 / (to - from)). The span shrinks to the layers whose std was measurable: the
 * forward one ends at the last measurable layer, the backward one starts at the first.
 */
export function measuredRatio(
  std: readonly number[],
  from: number,
  to: number,
  direction: 'forward' | 'backward',
): { ratio: number; from: number; to: number } | undefined {
  let [a, b] = [from, to];
  if (direction === 'forward') while (b > a && !(std[b]! > MEASURABLE)) b--;
  else while (a < b && !(std[a]! > MEASURABLE)) a++;
  if (b <= a || !(std[a]! > MEASURABLE) || !(std[b]! > MEASURABLE)) return undefined;
  const span = b - a;
  const ratio =
    direction === 'forward' ? (std[b]! / std[a]!) ** (1 / span) : (std[a]! / std[b]!) ** (1 / span);
  return { ratio, from: a, to: b };
}

/**
 * He's per-layer factors chained from measured stds: forward from the first layer's activation
 * std, backward from the last layer's gradient std. What the whole profile would be if every layer
 * did exactly what the analysis says.
 */
export function predictedProfile(
  init: Init,
  convs: readonly ConvLayer[],
  firstActStd: number,
  lastGradStd: number,
): { actStd: number[]; gradStd: number[] } {
  const factors = convs.map((l) => predictedRatios(init, l));
  const actStd = [firstActStd];
  for (let l = 1; l < convs.length; l++) actStd.push(actStd[l - 1]! * factors[l]!.forward);
  const gradStd = new Array<number>(convs.length).fill(0);
  gradStd[convs.length - 1] = lastGradStd;
  for (let l = convs.length - 1; l > 0; l--) gradStd[l - 1] = gradStd[l]! * factors[l]!.backward;
  return { actStd, gradStd };
}
