import type * as ort from 'onnxruntime-node';
import { Augmenter, channelStats } from '../data/augment.js';
import { type ImageSet, limit, sampleSize } from '../data/dataset.js';
import { GraphBuilder, type Tensor } from '../ir/builder.js';
import { ConvlabError } from '../ir/errors.js';
import type { Graph } from '../ir/graph.js';
import type { Init } from '../ir/op.js';
import { adaptiveAvgpool2d } from '../ops/adaptive_avgpool2d.js';
import { add } from '../ops/add.js';
import { conv2d } from '../ops/conv2d.js';
import { flatten } from '../ops/flatten.js';
import { linear } from '../ops/linear.js';
import { maxpool2d } from '../ops/maxpool2d.js';
import { padChannels } from '../ops/pad_channels.js';
import { relu } from '../ops/relu.js';
import { TrainingSession } from '../train/step.js';
import type { Budget, ExperimentContext, Outcome } from './experiment.js';
import { lineChart, type Series } from './plot.js';
import { registerExperiment } from './registry.js';
import { markdownTable, percent } from './report.js';

/**
 * How the normal distribution the weights are drawn from shapes the signal through depth: the
 * standard deviation of every conv layer's output (forward) and of the loss gradient with respect
 * to it (backward), measured at initialisation on real images, for a deep plain ReLU net without
 * batch norm and its residual twin, under three initialisations; the plain nets' per-layer ratios
 * are set against the variance analysis of He et al. 2015, section 2.2.
 */

/** The three initialisations, for every conv weight (the convs have no bias). */
const INITS = [
  { key: 'normal', label: 'N(0, 0.01)', short: 'N(0, 0.01)', init: { kind: 'normal', std: 0.01, mean: 0 } },
  { key: 'xavier', label: 'Xavier normal', short: 'Xavier', init: { kind: 'xavier_normal' } },
  {
    key: 'kaiming',
    label: 'Kaiming normal',
    short: 'Kaiming',
    init: { kind: 'kaiming_normal', mode: 'fan_in' },
  },
] as const satisfies readonly { key: string; label: string; short: string; init: Init }[];

type InitKey = (typeof INITS)[number]['key'];
type NetKind = 'plain' | 'residual';
const NETS: readonly NetKind[] = ['plain', 'residual'];

interface Sizes {
  /** Blocks (two 3x3 convs each) per stage; the stages have 16 and 32 channels. */
  readonly blocks: readonly [number, number];
  readonly batch: number;
  /** Batches of training images the statistics are averaged over. */
  readonly batches: number;
}

const BUDGETS: Record<Budget, Sizes> = {
  quick: { blocks: [2, 2], batch: 16, batches: 1 },
  full: { blocks: [7, 8], batch: 64, batches: 8 },
};

const STAGE_CHANNELS = [16, 32] as const;

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

interface Net {
  readonly graph: Graph;
  /** Every conv in forward order: the stem, then each block's conv1 and conv2. */
  readonly convs: readonly ConvLayer[];
}

/**
 * A 3x3 conv stem to 16 channels and ReLU, then two stages of blocks (16 channels on the input's
 * size, 32 channels at half the size, the second stage opening with stride 2), each block
 * conv3x3-ReLU-conv3x3-ReLU; global average pool, FC. No batch norm: it would normalise away what
 * the initialisation does. The residual twin adds each block's input before its last ReLU, through
 * the ResNet paper's parameter-free option-A shortcut where the shape changes (subsample, zero
 * channels), so both nets have the same parameters under the same names, hence the same weights
 * from the same seed. The FC keeps PyTorch's default initialisation.
 */
export function buildNet(
  kind: NetKind,
  init: Init,
  blocks: readonly [number, number],
  input: readonly [number, number, number],
  classes: number,
): Net {
  const depth = 2 + 2 * (blocks[0] + blocks[1]);
  const b = new GraphBuilder(`${kind}${depth}`, `init_statistics_${kind}`).initialise('conv2d', {
    weight: init,
  });
  const convs: ConvLayer[] = [];
  const conv = (x: Tensor, out: number, stride: number, name: string): Tensor => {
    const y = conv2d(x, { out, kernel: 3, stride, padding: 1, bias: false }, name);
    convs.push({
      name: y.name,
      inChannels: x.channels,
      outChannels: out,
      kernel: 3,
      stride,
      padding: 1,
      inSize: [x.height, x.width],
      outSize: [y.height, y.width],
    });
    return y;
  };
  let x = b.input(input);
  x = relu(conv(x, STAGE_CHANNELS[0], 1, 'conv1'), 'relu');
  STAGE_CHANNELS.forEach((planes, stage) => {
    x = b.scope(`layer${stage + 1}`, kind === 'plain' ? 'PlainLayer' : 'ResLayer', () => {
      for (let i = 0; i < blocks[stage]!; i++) {
        const stride = i === 0 && stage > 0 ? 2 : 1;
        x = b.scope(String(i), kind === 'plain' ? 'PlainBlock' : 'BasicBlock', () => {
          let y = relu(conv(x, planes, stride, 'conv1'), 'relu1');
          y = conv(y, planes, 1, 'conv2');
          return relu(kind === 'residual' ? add(y, shortcut(x, planes, stride), 'add') : y, 'relu2');
        });
      }
      return x;
    });
  });
  x = flatten(adaptiveAvgpool2d(x, { output: 1 }, 'avgpool'), 'flatten');
  b.output(linear(x, { out: classes }, 'fc'));
  return { graph: b.build(), convs };
}

/** Identity, or (where the block strides and widens) subsample and zero-pad the new channels. */
function shortcut(x: Tensor, planes: number, stride: number): Tensor {
  if (stride === 1 && x.channels === planes) return x;
  const sub = stride === 1 ? x : maxpool2d(x, { kernel: 1, stride }, 'shortcut.subsample');
  const extra = planes - x.channels;
  return padChannels(
    sub,
    { before: Math.floor(extra / 2), after: extra - Math.floor(extra / 2) },
    'shortcut.pad',
  );
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
const lastMeasurable = (std: readonly number[]): number => {
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

interface Profile {
  readonly net: NetKind;
  readonly init: InitKey;
  readonly label: string;
  readonly layers: readonly string[];
  /** Per conv layer, the mean over the batches. */
  readonly actStd: readonly number[];
  readonly gradStd: readonly number[];
  /** The cross-entropy at initialisation, mean over the batches. */
  readonly loss: number;
}

interface NormalisedBatch {
  readonly images: ort.TypedTensor<'float32'>;
  readonly labels: Int32Array;
}

/** `count` batches of `batch` images, normalised once with their own channel statistics, shared by every net. */
async function normalisedBatches(
  ctx: ExperimentContext,
  set: ImageSet,
  batch: number,
  count: number,
): Promise<NormalisedBatch[]> {
  const stats = await channelStats(set, ctx.session);
  const augmenter = await Augmenter.create({ shape: set.shape, ...stats }, 'eval', ctx.session);
  const size = sampleSize(set);
  try {
    const out: NormalisedBatch[] = [];
    for (let i = 0; i < count; i++) {
      out.push({
        images: await augmenter.run(set.images.subarray(i * batch * size, (i + 1) * batch * size), batch),
        labels: set.labels.slice(i * batch, (i + 1) * batch),
      });
    }
    return out;
  } finally {
    await augmenter.release();
  }
}

/** Plain SGD: with no momentum or weight decay, a step at learning rate 0 changes nothing at all. */
const NO_OP_SGD = { kind: 'sgd', momentum: 0, nesterov: false, weightDecay: 0 } as const;

/**
 * One training step per batch at learning rate 0, so the weights stay at their initial values;
 * the step's probes give each conv's output std and its loss gradient's std.
 */
async function measure(
  ctx: ExperimentContext,
  net: Net,
  batch: number,
  batches: readonly NormalisedBatch[],
): Promise<Pick<Profile, 'layers' | 'actStd' | 'gradStd' | 'loss'>> {
  const layers = net.convs.map((c) => c.name);
  const session = await TrainingSession.create(
    net.graph,
    { batch, optimizer: NO_OP_SGD, probes: { activations: layers } },
    { seed: ctx.seed },
    ctx.session,
  );
  try {
    const actStd = new Array<number>(layers.length).fill(0);
    const gradStd = new Array<number>(layers.length).fill(0);
    let loss = 0;
    for (const [i, b] of batches.entries()) {
      const r = await session.step(b.images, b.labels, 0, i + 1);
      loss += r.loss / batches.length;
      layers.forEach((name, j) => {
        actStd[j]! += r.probes.get(`act_std/${name}`)! / batches.length;
        gradStd[j]! += r.probes.get(`grad_std/${name}`)! / batches.length;
      });
    }
    return { layers, actStd, gradStd, loss };
  } finally {
    await session.release();
  }
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

/** A measured per-layer factor within this fraction of the prediction agrees with it. */
const TOLERANCE = 0.1;
const agrees = (measured: number, predicted: number) =>
  Math.abs(Math.log(measured / predicted)) <= Math.log(1 + TOLERANCE);

const sci = (x: number) => (x > MEASURABLE ? x.toExponential(2) : `< ${MEASURABLE.toExponential(0)}`);
const factor = (x: number | undefined) => (x === undefined ? 'n/a' : x.toFixed(3));
const layerSpan = (s: { from: number; to: number } | undefined) => (s ? `${s.from + 1}-${s.to + 1}` : 'n/a');

async function run(ctx: ExperimentContext): Promise<Outcome> {
  const sizes = BUDGETS[ctx.budget];
  const set = ctx.data.train;
  const needed = sizes.batches * sizes.batch;
  if (set.count < needed) {
    throw new ConvlabError(
      `init-statistics needs ${needed} training images and ${set.name} has ${set.count}; use a larger dataset`,
    );
  }
  const batches = await normalisedBatches(ctx, limit(set, needed), sizes.batch, sizes.batches);

  const profiles: Profile[] = [];
  let convs: readonly ConvLayer[] = [];
  for (const net of NETS) {
    for (const init of INITS) {
      const built = buildNet(net, init.init, sizes.blocks, set.shape, set.classes);
      convs = built.convs;
      const started = performance.now();
      const measured = await measure(ctx, built, sizes.batch, batches);
      const label = `${net} ${init.label}`;
      ctx.log(
        `  ${built.graph.name} ${init.label}: act std layer 1 ${sci(measured.actStd[0]!)}, layer ${convs.length} ` +
          `${sci(measured.actStd.at(-1)!)}; loss ${measured.loss.toFixed(3)} (${((performance.now() - started) / 1000).toFixed(1)} s)`,
      );
      profiles.push({ net, init: init.key, label, ...measured });
    }
  }
  const depth = convs.length;
  const profile = (net: NetKind, init: InitKey) => profiles.find((p) => p.net === net && p.init === init)!;
  const initOf = (key: InitKey) => INITS.find((i) => i.key === key)!;

  // The ratios are taken over conv layers 2..L-1: each block's first conv, which reads the trunk
  // (the ReLU of the stem or of a block's output) in the plain and the residual net alike. The
  // last conv is left out so that the span ends on a block's first conv in both nets.
  const [spanFrom, spanTo] = [1, depth - 2];
  const ratios = profiles.map((p) => {
    const forward = measuredRatio(p.actStd, spanFrom, spanTo, 'forward');
    const backward = measuredRatio(p.gradStd, spanFrom, spanTo, 'backward');
    // He's analysis is of a chain of conv-ReLU layers: the plain net.
    const predict = (span: { from: number; to: number } | undefined, direction: 'forward' | 'backward') =>
      p.net === 'plain' && span
        ? geometricMean(
            convs
              .slice(span.from + 1, span.to + 1)
              .map((l) => predictedRatios(initOf(p.init).init, l)[direction]),
          )
        : undefined;
    return {
      net: p.net,
      init: p.init,
      label: p.label,
      forward,
      backward,
      predictedForward: predict(forward, 'forward'),
      predictedBackward: predict(backward, 'backward'),
    };
  });
  const ratio = (net: NetKind, init: InitKey) => ratios.find((r) => r.net === net && r.init === init)!;

  // The claims, each decided from the measured numbers.
  const plainRows = ratios.filter((r) => r.net === 'plain');
  const followsHe = plainRows.every(
    (r) =>
      r.forward &&
      r.backward &&
      agrees(r.forward.ratio, r.predictedForward!) &&
      agrees(r.backward.ratio, r.predictedBackward!),
  );
  const kaiming = ratio('plain', 'kaiming');
  const kaimingConstant = [kaiming.forward?.ratio, kaiming.backward?.ratio].every(
    (x) => x !== undefined && agrees(x, 1),
  );
  const small = profile('plain', 'normal');
  // Vanished: fell below a millionth of where it started, or out of float32's reach.
  const vanished = (end: number, start: number) => !(end > MEASURABLE) || end < 1e-6 * start;
  const smallVanishes =
    vanished(small.actStd[depth - 1]!, small.actStd[0]!) &&
    vanished(small.gradStd[0]!, small.gradStd[depth - 1]!);
  const residualSmall = profile('residual', 'normal');
  // The trunk as each block's first conv sees it, from the first block to the last.
  const trunkChange = (std: readonly number[]) => std[spanTo]! / std[spanFrom]!;
  const residualKeeps =
    trunkChange(residualSmall.actStd) >= 0.1 && 1 / trunkChange(residualSmall.gradStd) >= 0.1;
  const residualKaiming = profile('residual', 'kaiming');
  const residualGrows = (ratio('residual', 'kaiming').forward?.ratio ?? 0) > 1;
  const checks = [
    {
      claim: `the plain net's per-layer std factors agree with He et al.'s prediction within ${TOLERANCE * 100}%, forward and backward, under all three inits`,
      measured: plainRows
        .map(
          (r) =>
            `${initOf(r.init).label} ${factor(r.forward?.ratio)} vs ${factor(r.predictedForward)} / ${factor(r.backward?.ratio)} vs ${factor(r.predictedBackward)}`,
        )
        .join('; '),
      held: followsHe,
    },
    {
      claim: `Kaiming init keeps the plain net's activation and gradient std constant (per-layer factor within ${TOLERANCE * 100}% of 1)`,
      measured: `forward ${factor(kaiming.forward?.ratio)}, backward ${factor(kaiming.backward?.ratio)}`,
      held: kaimingConstant,
    },
    {
      claim:
        "N(0, 0.01) makes the plain net's signal vanish (last layer's activation std, and first layer's gradient std, below a millionth of where they start)",
      measured: `activation std ${sci(small.actStd[0]!)} at layer 1, ${sci(small.actStd[depth - 1]!)} at layer ${depth}; gradient std ${sci(small.gradStd[depth - 1]!)} at layer ${depth}, ${sci(small.gradStd[0]!)} at layer 1`,
      held: smallVanishes,
    },
    {
      claim: `with identity shortcuts, the N(0, 0.01) net's trunk does not vanish (changes by more than a tenth from the first block to the last, forward and backward)`,
      measured: `activation std x${trunkChange(residualSmall.actStd).toPrecision(3)}, gradient std x${(1 / trunkChange(residualSmall.gradStd)).toPrecision(3)} (layer ${spanFrom + 1} to ${spanTo + 1})`,
      held: residualKeeps,
    },
    {
      claim: 'with identity shortcuts and Kaiming init, the std grows with depth',
      measured: `per-layer factor ${factor(ratio('residual', 'kaiming').forward?.ratio)}: std ${sci(residualKaiming.actStd[spanFrom]!)} at layer ${spanFrom + 1}, ${sci(residualKaiming.actStd[spanTo]!)} at layer ${spanTo + 1}`,
      held: residualGrows,
    },
  ];
  const verdict = checks.every((c) => c.held) ? 'held' : 'did not hold';
  const failed = checks.filter((c) => !c.held);
  const lastMeasured = lastMeasurable(small.actStd);
  const finding =
    `Per-layer std factor of the plain net (${depth} conv layers), measured vs predicted (forward / backward): ${checks[0]!.measured}. ` +
    `Under N(0, 0.01) its activation std fell from ${sci(small.actStd[0]!)} at layer 1 to ${sci(small.actStd[lastMeasured]!)} at layer ${lastMeasured + 1}` +
    (lastMeasured < depth - 1 ? ', then below what the float32 probe resolves' : '') +
    `, while its residual twin's trunk changed by x${trunkChange(residualSmall.actStd).toPrecision(3)} from layer ${spanFrom + 1} to ${spanTo + 1}; ` +
    `under Kaiming the plain net's std changes by x${trunkChange(profile('plain', 'kaiming').actStd).toPrecision(2)} over those layers ` +
    `(He's factors, zero padding included, predict x${((kaiming.predictedForward ?? Number.NaN) ** (spanTo - spanFrom)).toPrecision(2)}) ` +
    `while the residual trunk's grows by ${factor(ratio('residual', 'kaiming').forward?.ratio)} per layer ` +
    `(std ${sci(residualKaiming.actStd[spanFrom]!)} to ${sci(residualKaiming.actStd[spanTo]!)}).` +
    (failed.length ? ` Not as claimed: ${failed.map((c) => c.claim).join('; ')}.` : '');

  const mid = Math.floor(depth / 2);
  const results = [
    `Standard deviation of each conv layer's output (activation) and of the loss gradient with respect to it, at layers 1 (the stem), ${mid + 1} and ${depth}; mean over ${sizes.batches} batch${sizes.batches === 1 ? '' : 'es'} of ${sizes.batch}. The loss is the batch-mean cross-entropy at initialisation (ln ${set.classes} = ${Math.log(set.classes).toFixed(3)} for a uniform guess).`,
    '',
    markdownTable(
      [
        'net',
        'init',
        'loss at init',
        ...[1, mid + 1, depth].map((l) => `act std, layer ${l}`),
        ...[1, mid + 1, depth].map((l) => `grad std, layer ${l}`),
      ],
      profiles.map((p) => [
        p.net,
        initOf(p.init).label,
        p.loss.toFixed(3),
        ...[0, mid, depth - 1].map((i) => sci(p.actStd[i]!)),
        ...[0, mid, depth - 1].map((i) => sci(p.gradStd[i]!)),
      ]),
    ),
    '',
    `Per-layer factor of the std, the geometric mean over layers ${spanFrom + 1}-${spanTo + 1} (each block's first conv), shortened to the layers whose std was measurable: forward, layer l over layer l-1; backward, the gradient at layer l-1 over layer l. Predicted: He et al.'s factor for each plain-net layer, sqrt(1/2 n Var(w)), averaged the same way (the analysis is of a plain chain; none for the residual nets).`,
    '',
    markdownTable(
      [
        'net',
        'init',
        'forward measured',
        'forward predicted',
        'layers',
        'backward measured',
        'backward predicted',
        'layers',
      ],
      ratios.map((r) => [
        r.net,
        initOf(r.init).label,
        factor(r.forward?.ratio),
        factor(r.predictedForward),
        layerSpan(r.forward),
        factor(r.backward?.ratio),
        factor(r.predictedBackward),
        layerSpan(r.backward),
      ]),
    ),
    '',
    markdownTable(
      ['claim', 'measured', 'held'],
      checks.map((c) => [c.claim, c.measured, c.held ? 'yes' : 'no']),
    ),
  ].join('\n');

  const measurable = (std: readonly number[]) =>
    std.flatMap((s, i) => (s > MEASURABLE ? [[i + 1, s] as const] : []));
  const perLayer = (pick: (p: Profile) => readonly number[]): Series[] =>
    profiles.map((p) => ({ label: p.label, dashed: p.net === 'residual', points: measurable(pick(p)) }));
  const againstPrediction = (pick: 'actStd' | 'gradStd'): Series[] =>
    INITS.flatMap((init) => {
      const p = profile('plain', init.key);
      const predicted = predictedProfile(init.init, convs, p.actStd[0]!, p.gradStd[depth - 1]!)[pick];
      return [
        { label: `${init.short}, measured`, points: measurable(p[pick]) },
        { label: `${init.short}, predicted`, dashed: true, markers: false, points: measurable(predicted) },
      ];
    });
  const figures = [
    {
      name: 'activation-std',
      caption: `Std of each conv layer's output at initialisation (log scale; layer 1 is the stem). Solid: plain net; dashed: its residual twin, whose even layers (each block's first conv) read the trunk and whose odd layers from 3 (each block's second conv) lie inside a block. Values below ${MEASURABLE.toExponential(0)} are not drawn.`,
      svg: lineChart({
        title: 'Activation std through depth at initialisation',
        x: 'conv layer',
        y: 'std of the conv output',
        series: perLayer((p) => p.actStd),
        logY: true,
      }),
    },
    {
      name: 'gradient-std',
      caption: `Std of d(loss)/d(conv output) at initialisation (log scale). Solid: plain net; dashed: residual twin. Values below ${MEASURABLE.toExponential(0)} are not drawn.`,
      svg: lineChart({
        title: 'Gradient std through depth at initialisation',
        x: 'conv layer',
        y: 'std of d(loss)/d(conv output)',
        series: perLayer((p) => p.gradStd),
        logY: true,
      }),
    },
    {
      name: 'plain-forward-vs-prediction',
      caption:
        "Plain net: measured activation std (markers) against He et al.'s prediction (dashed), chained from layer 1's measured std by each layer's factor sqrt(1/2 n Var(w)).",
      svg: lineChart({
        title: 'Plain net, activations: measured vs predicted',
        x: 'conv layer',
        y: 'std of the conv output',
        series: againstPrediction('actStd'),
        logY: true,
      }),
    },
    {
      name: 'plain-backward-vs-prediction',
      caption:
        "Plain net: measured gradient std (markers) against He et al.'s prediction (dashed), chained back from the last layer's measured std.",
      svg: lineChart({
        title: 'Plain net, gradients: measured vs predicted',
        x: 'conv layer',
        y: 'std of d(loss)/d(conv output)',
        series: againstPrediction('gradStd'),
        logY: true,
      }),
    },
  ];

  const [h, w] = [set.shape[1], set.shape[2]];
  const last = convs[depth - 1]!;
  const borderLoss = 1 - Math.sqrt(effectiveFans(last).fanIn / (last.inChannels * last.kernel * last.kernel));
  const setup = [
    `A plain ReLU net of ${depth} 3x3 conv layers and an FC (${depth + 1} weighted layers), without batch norm (it would normalise away what the initialisation does) and without conv biases:`,
    `a stem conv to 16 channels and ReLU; ${sizes.blocks[0]} blocks at 16 channels on ${h}x${w} and ${sizes.blocks[1]} blocks at 32 channels on ${Math.ceil(h / 2)}x${Math.ceil(w / 2)} (the first with stride 2), each block conv-ReLU-conv-ReLU; global average pooling; FC to ${set.classes} classes.`,
    "Its residual twin has the same layers and adds each block's input before the block's second ReLU: the identity, or at the stride-2 block the ResNet paper's parameter-free option-A shortcut (subsample, zero channels).",
    'Both nets name their parameters alike, so under one seed they start from the same weights.',
    "Initialisations of every conv weight: N(0, 0.01); Xavier normal, std sqrt(2 / (fan_in + fan_out)); Kaiming normal over fan_in, std sqrt(2 / fan_in). The FC keeps PyTorch's default.",
    `Data: the first ${needed} ${ctx.data.name} training images, normalised by their own per-channel mean and std, in ${sizes.batches} batch${sizes.batches === 1 ? '' : 'es'} of ${sizes.batch}.`,
    "Measurement: one training step per batch at learning rate 0 (plain SGD, so nothing changes); the training graph's probes give the std of each conv's output and of the gradient of the batch-mean cross-entropy with respect to it, averaged over the batches.",
    `Stds below ${MEASURABLE.toExponential(0)} are reported as unmeasurable: float32's normal range ends at 1.2e-38.`,
    "Prediction (He et al. 2015, section 2.2): through a conv that reads the ReLU of the previous conv's output, the std changes by sqrt(1/2 n Var(w)) per layer, n the fan-in forward and the fan-out backward:",
    'Kaiming gives 1; Xavier 1/sqrt(2) = 0.707 where fan-in equals fan-out; N(0, 0.01) gives 0.01 sqrt(n / 2), 0.085 at 16 channels and 0.12 at 32.',
    `The fans are effective ones: taps that fall on the zero padding are not counted (on the ${last.inSize.join('x')} maps that lowers the predicted std by ${percent(borderLoss, 1)} per layer), and a stride-2 conv reaches each input position with k^2 / 4 taps per output channel.`,
    `The nets are not trained: this experiment is about the starting point only (training ${depth}-layer nets without batch norm far enough to compare how they converge would not fit the budget).`,
  ].join(' ');
  return {
    verdict,
    finding,
    setup,
    results,
    figures,
    raw: {
      layers: convs.map((l, i) => ({ ...l, ...effectiveFans(l), index: i + 1 })),
      profiles,
      ratios,
      checks,
    },
  };
}

registerExperiment({
  name: 'init-statistics',
  title: 'How the initial weight distribution shapes the signal through depth',
  claim:
    'Glorot and Bengio ("Understanding the difficulty of training deep feedforward neural networks", AISTATS 2010, section 4.2.1): "From a forward-propagation point of view, to keep information flowing we would like that ... Var[z^i] = Var[z^i\']", and likewise for the back-propagated gradients. ' +
    'He, Zhang, Ren and Sun ("Delving Deep into Rectifiers", ICCV 2015, section 2.2) redo the analysis for ReLU nets: "A proper initialization method should avoid reducing or magnifying the magnitudes of input signals exponentially", ' +
    'which needs 1/2 n_l Var[w_l] = 1 at every layer, forward (n_l the fan-in) and backward (the fan-out): "a zero-mean Gaussian distribution whose standard deviation (std) is sqrt(2/n_l)" (Kaiming init) keeps the variance of activations and of gradients constant through depth. ' +
    'For the Xavier init, "When there are L layers, the std will be 1/sqrt(2)^L of our derived std"; and "With fixed standard deviations (e.g., 0.01 in [16]), very deep models (e.g., >8 conv layers) have difficulties to converge": the signal vanishes. ' +
    'Identity shortcuts carry the signal past every block, so it does not vanish; without normalisation it instead grows with depth under Kaiming init (cf. Zhang, Dauphin and Ma, "Fixup Initialization", ICLR 2019, section 2).',
  run,
});
