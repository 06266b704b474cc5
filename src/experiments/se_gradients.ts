import type { Graph } from '../ir/graph.js';
import { resolveGraph } from '../ir/resolve.js';
import { numel } from '../ir/shape.js';
import { buildCifarResNet } from '../zoo/resnet_cifar.js';
import type { Budget, ExperimentContext, Figure, Outcome, Verdict } from './experiment.js';
import { lineChart } from './plot.js';
import { registerExperiment } from './registry.js';
import { markdownTable, percent } from './report.js';
import { type RunResult, subset, type TrainingBudget, trainingSetup, trainRun } from './training.js';

const BUDGETS: Record<Budget, TrainingBudget> = {
  quick: { train: 256, test: 128, epochs: 1, batch: 64, warmup: 0 },
  full: { train: 6000, test: 2000, epochs: 6, batch: 128, warmup: 1 },
};

/** ResNet-20: n = 3 basic blocks per stage (6n + 2 layers). */
const BLOCKS_PER_STAGE = 3;

/** SENet's reduction ratio; 16 channels / 16 leaves a one-channel bottleneck in the first stage. */
const SE_REDUCTION = 16;

/** A ratio further from 1 than this factor counts as weaker (or stronger) gradient. */
const MEANINGFUL = 1.1;

/**
 * The trunk's conv layers in depth order (the stem, then each block's conv1 and conv2), without the
 * SE blocks' own 1x1 convs: the layers both nets share, by the same names.
 */
export function trunkConvs(graph: Graph): string[] {
  return graph.nodes.filter((n) => n.op === 'conv2d' && !n.name.includes('.se.')).map((n) => n.name);
}

/**
 * The nodes where the residual stream is probed: the stem's output and each block's output (its
 * last node, the ReLU after the addition), input to output.
 */
export function streamNodes(graph: Graph): string[] {
  const blocks = graph.blocks.filter((b) => b.type === 'BasicBlock').map((b) => b.name);
  const lastOf = (block: string) => graph.nodes.filter((n) => n.name.startsWith(`${block}.`)).at(-1)!.name;
  const stem = graph.nodes.find((n) => n.name === 'relu');
  return [...(stem ? [stem.name] : []), ...blocks.map(lastOf)];
}

const mean = (values: readonly number[]) => values.reduce((s, v) => s + v, 0) / values.length;

/** The L2 norm of a set of gradients, from their norms. */
const combinedNorm = (norms: readonly number[]) => Math.sqrt(norms.reduce((s, n) => s + n * n, 0));

/** Which depth a conv belongs to: 0 for the stem, 1..3 for the stages. */
const stageOf = (conv: string) => (conv.startsWith('layer') ? Number(conv[5]) : 0);

interface Run extends RunResult {
  readonly se: boolean;
  readonly label: string;
  readonly convs: readonly string[];
  readonly stream: readonly string[];
  /** Per conv, its weight gradient norm at the first step and averaged over the last epoch. */
  readonly atInit: ReadonlyMap<string, number>;
  readonly trained: ReadonlyMap<string, number>;
  /**
   * Per probed stream node, the loss gradient's norm there per image, first step and last epoch:
   * its standard deviation times the square root of the node's size (the gradient's mean is ~0),
   * so that points of different shapes compare.
   */
  readonly streamAtInit: ReadonlyMap<string, number>;
  readonly streamTrained: ReadonlyMap<string, number>;
}

/** Per probe key, its value at the first step and its mean over the last `window` steps. */
function initAndTrained(
  probes: readonly ReadonlyMap<string, number>[],
  keys: readonly string[],
  window: number,
): [Map<string, number>, Map<string, number>] {
  const last = probes.slice(-window);
  return [
    new Map(keys.map((k) => [k, probes[0]!.get(k)!])),
    new Map(keys.map((k) => [k, mean(last.map((p) => p.get(k)!))])),
  ];
}

async function run(ctx: ExperimentContext): Promise<Outcome> {
  const b = BUDGETS[ctx.budget];
  const data = subset(ctx.data, b);
  const [c, h, w] = data.train.shape;
  const runs: Run[] = [];
  for (const se of [false, true]) {
    const name = se ? 'se_resnet20' : 'resnet20';
    const label = se ? 'SE-ResNet-20' : 'ResNet-20';
    ctx.log(`training ${label}`);
    const graph = buildCifarResNet(
      name,
      'resnet_cifar',
      BLOCKS_PER_STAGE,
      'zero-pad',
      { input: [c, h, w], classes: data.train.classes, aux: false },
      se ? SE_REDUCTION : undefined,
    );
    const stream = streamNodes(graph);
    const r = await trainRun(ctx, {
      name,
      graph,
      data,
      epochs: b.epochs,
      batch: b.batch,
      lr: 0.1,
      warmup: b.warmup,
      probes: { gradNorms: true, activations: stream },
    });
    const epochSteps = Math.ceil(r.steps.length / b.epochs);
    const convs = trunkConvs(graph);
    const [atInit, trained] = initAndTrained(
      r.probes,
      convs.map((conv) => `grad_norm/${conv}.weight`),
      epochSteps,
    );
    const [streamAtInit, streamTrained] = initAndTrained(
      r.probes,
      stream.map((node) => `grad_std/${node}`),
      epochSteps,
    );
    const byConv = (m: Map<string, number>) =>
      new Map(convs.map((conv) => [conv, m.get(`grad_norm/${conv}.weight`)!]));
    const resolved = resolveGraph(graph, { batch: 1 });
    const byNode = (m: Map<string, number>) =>
      new Map(
        stream.map((node) => [
          node,
          m.get(`grad_std/${node}`)! * Math.sqrt(numel(resolved.byName.get(node)!.ctx.output)),
        ]),
      );
    runs.push({
      ...r,
      se,
      label,
      convs,
      stream,
      atInit: byConv(atInit),
      trained: byConv(trained),
      streamAtInit: byNode(streamAtInit),
      streamTrained: byNode(streamTrained),
    });
  }
  const [plain, withSe] = runs as [Run, Run];
  const convs = plain.convs;
  const ratio = (pick: (r: Run) => ReadonlyMap<string, number>, key: string) =>
    pick(withSe).get(key)! / pick(plain).get(key)!;

  // "Near the input": the stem conv and the first stage's six convs, their gradients together.
  const stagesRatio = (stages: readonly number[], pick: (r: Run) => ReadonlyMap<string, number>) => {
    const inStages = convs.filter((conv) => stages.includes(stageOf(conv)));
    const norm = (r: Run) => combinedNorm(inStages.map((conv) => pick(r).get(conv)!));
    return norm(withSe) / norm(plain);
  };
  const stages = (list: readonly number[]) => ({
    init: stagesRatio(list, (r) => r.atInit),
    trained: stagesRatio(list, (r) => r.trained),
  });
  const nearInput = stages([0, 1]);
  const middle = stages([2]);
  const nearOutput = stages([3]);
  // The gradient reaching the residual stream at the stem's output, below every block.
  const stem = plain.stream[0]!;
  const streamRatio = {
    init: ratio((r) => r.streamAtInit, stem),
    trained: ratio((r) => r.streamTrained, stem),
  };

  const weaker = (x: number) => x <= 1 / MEANINGFUL;
  const verdict: Verdict =
    weaker(nearInput.init) && weaker(nearInput.trained)
      ? 'held'
      : !weaker(nearInput.init) && !weaker(nearInput.trained)
        ? 'did not hold'
        : 'inconclusive';
  const describe = (x: number) =>
    weaker(x) ? 'weaker' : x >= MEANINGFUL ? 'stronger' : `within ${MEANINGFUL}x, about the same`;
  // Within each net: the stream gradient at the stem's output over that at the last block's output
  // (above 1: the gradient grows toward the input; below 1: it fades).
  const growth = (r: Run) => r.streamAtInit.get(stem)! / r.streamAtInit.get(r.stream.at(-1)!)!;
  const finding =
    `At initialisation the SE net's conv-weight gradients near the input (the stem conv and the first stage's six ` +
    `convs together) were ${nearInput.init.toFixed(2)}x the plain ResNet's (${describe(nearInput.init)}), ` +
    `${nearInput.init < nearOutput.init ? 'a gap that widens toward the input' : 'a gap no wider than near the output'} ` +
    `(${nearOutput.init.toFixed(2)}x in the last stage); over the last epoch of training they were ` +
    `${nearInput.trained.toFixed(2)}x (${describe(nearInput.trained)}; ${nearOutput.trained.toFixed(2)}x in the last stage). ` +
    `The gradient on the residual stream at the stem's output was ${streamRatio.init.toFixed(2)}x the plain net's at ` +
    `initialisation and ${streamRatio.trained.toFixed(2)}x trained; at initialisation it was ` +
    `${growth(withSe).toFixed(2)}x the gradient at the last block's output in the SE net and ${growth(plain).toFixed(2)}x ` +
    `in the plain net, so ${growth(withSe) >= 1 ? 'SE damps the growth of the gradient toward the input; it does not make it vanish' : "the SE net's gradient fades toward the input"}.`;

  const depth = convs.map((conv, i) => [i + 1, conv] as const);
  const figures: Figure[] = [
    {
      name: 'gradient-by-depth',
      caption:
        "L2 norm of each conv weight's loss gradient, by depth (1 = the stem conv, 2-7 the first stage, 8-13 the second, 14-19 the third): at the first step (dashed) and averaged over the last epoch (solid).",
      svg: lineChart({
        title: 'Conv weight gradient norm by depth',
        x: 'conv layer (input to output)',
        y: 'gradient L2 norm',
        series: runs.flatMap((r) => [
          {
            label: `${r.label}, init`,
            dashed: true,
            points: depth.map(([i, conv]) => [i, r.atInit.get(conv)!] as const),
          },
          {
            label: `${r.label}, trained`,
            points: depth.map(([i, conv]) => [i, r.trained.get(conv)!] as const),
          },
        ]),
        includeY: [0],
      }),
    },
    {
      name: 'ratio-by-depth',
      caption:
        "SE-ResNet-20 over ResNet-20, per conv layer: the ratio of the weight gradient norms at the first step and over the last epoch. Below 1: the SE net's layer gets less gradient.",
      svg: lineChart({
        title: 'Gradient norm ratio SE / plain by depth',
        x: 'conv layer (input to output)',
        y: 'gradient norm ratio (SE / plain)',
        series: [
          {
            label: 'at init',
            dashed: true,
            points: depth.map(([i, conv]) => [i, ratio((r) => r.atInit, conv)] as const),
          },
          { label: 'trained', points: depth.map(([i, conv]) => [i, ratio((r) => r.trained, conv)] as const) },
        ],
        includeY: [0, 1],
      }),
    },
    {
      name: 'stream-gradient-by-depth',
      caption:
        "Norm per image of the loss gradient with respect to the residual stream (the stem's output and each block's output, input to output; its standard deviation times the square root of the map's size), at the first step (dashed) and over the last epoch (solid).",
      svg: lineChart({
        title: 'Gradient on the residual stream by depth',
        x: 'stream position (0 = stem output, 1-9 = block outputs)',
        y: 'gradient norm per image',
        series: runs.flatMap((r) => [
          {
            label: `${r.label}, init`,
            dashed: true,
            points: [...r.streamAtInit.values()].map((v, i) => [i, v] as const),
          },
          {
            label: `${r.label}, trained`,
            points: [...r.streamTrained.values()].map((v, i) => [i, v] as const),
          },
        ]),
        includeY: [0],
      }),
    },
  ];

  const results = [
    markdownTable(
      ['net', 'test accuracy (last epoch)', 'train loss (last epoch)', 'time'],
      runs.map((r) => [
        r.label,
        percent(r.epochs.at(-1)!.testAccuracy),
        r.epochs.at(-1)!.loss.toFixed(4),
        `${r.seconds.toFixed(0)} s`,
      ]),
    ),
    '',
    'Conv weight gradient norms by depth, at the first step and averaged over the last epoch:',
    '',
    markdownTable(
      [
        'depth',
        'conv',
        'ResNet-20 init',
        'SE init',
        'ratio init',
        'ResNet-20 trained',
        'SE trained',
        'ratio trained',
      ],
      depth.map(([i, conv]) => [
        i,
        conv,
        plain.atInit.get(conv)!.toPrecision(4),
        withSe.atInit.get(conv)!.toPrecision(4),
        ratio((r) => r.atInit, conv).toFixed(3),
        plain.trained.get(conv)!.toPrecision(4),
        withSe.trained.get(conv)!.toPrecision(4),
        ratio((r) => r.trained, conv).toFixed(3),
      ]),
    ),
    '',
    'Gradient norms of the stages together (SE / plain):',
    '',
    markdownTable(
      ['stage', 'ratio init', 'ratio trained'],
      [
        ['stem + first stage (near the input)', nearInput.init.toFixed(3), nearInput.trained.toFixed(3)],
        ['second stage', middle.init.toFixed(3), middle.trained.toFixed(3)],
        ['third stage (near the output)', nearOutput.init.toFixed(3), nearOutput.trained.toFixed(3)],
      ],
    ),
    '',
    'Loss-gradient norm on the residual stream, SE / plain:',
    '',
    markdownTable(
      ['position', 'node', 'ratio init', 'ratio trained'],
      plain.stream.map((node, i) => [
        i,
        node,
        ratio((r) => r.streamAtInit, node).toFixed(3),
        ratio((r) => r.streamTrained, node).toFixed(3),
      ]),
    ),
  ].join('\n');

  const setup = [
    `ResNet-20 as in He et al. 2015, section 4.2 (a 3x3 conv to 16 channels, three stages of three basic blocks at 16/32/64 channels, option-A identity shortcuts, global average pooling, FC), built for ${data.train.shape.join('x')} ${ctx.data.name} images, and its SE twin: the same net with a squeeze-and-excitation block (reduction ${SE_REDUCTION}, so 1, 2 and 4 hidden units in the three stages) on every block's residual branch, after its second BN and before the addition, as in SE-ResNet (Hu et al., Fig. 3).`,
    'The conv weights have the same names in both nets, so the seeded runs start from identical conv weights and see the same batches; Kaiming-normal initialisation (fan_in) for every conv, the SE 1x1 convs included.',
    ...trainingSetup(data, b, 0.1),
    "Every step reports the L2 norm of each parameter's loss gradient (weight decay excluded) and the standard deviation of the loss gradient on the residual stream (the stem's output and every block's output), turned into a norm per image by the square root of the map's size.",
    "'At initialisation' is the first step (before any update); 'trained' is the mean over the last epoch's steps.",
    `The claim counts as held when the stem and first stage's conv gradients together are at most 1/${MEANINGFUL} of the plain net's both at initialisation and after training, as not held when neither is, and as inconclusive otherwise.`,
  ].join(' ');

  return {
    verdict,
    finding,
    setup,
    results,
    figures,
    raw: {
      nearInput,
      middle,
      nearOutput,
      streamAtStem: streamRatio,
      streamGrowthAtInit: { plain: growth(plain), se: growth(withSe) },
      runs: runs.map((r) => ({
        model: r.se ? 'se_resnet20' : 'resnet20',
        seconds: r.seconds,
        epochs: r.epochs,
        convs: r.convs.map((conv) => ({
          conv,
          gradNormAtInit: r.atInit.get(conv),
          gradNormTrained: r.trained.get(conv),
        })),
        stream: r.stream.map((node) => ({
          node,
          gradNormAtInit: r.streamAtInit.get(node),
          gradNormTrained: r.streamTrained.get(node),
        })),
        steps: r.steps.map((s) => ({ step: s.step, loss: s.loss, accuracy: s.accuracy, lr: s.lr })),
      })),
    },
  };
}

registerExperiment({
  name: 'se-gradients',
  title: "SE's 0-1 gating weakens the gradients near the input",
  claim:
    'Claim under test (convlab issue #8): squeeze-and-excitation\'s 0-1 scaling on the main path weakens the gradients that reach the layers near the input. What SE does, in Hu et al.\'s words: the excitation is "a simple gating mechanism with a sigmoid activation", s = σ(W2 δ(W1 z)), and "the final output of the block is obtained by rescaling U with the activations s"; in SE-ResNet "the SE block transformation F_tr is taken to be the non-identity branch of a residual module. Squeeze and Excitation both act before summation with the identity branch" (Hu, Shen, Albanie, Sun and Wu, "Squeeze-and-Excitation Networks", CVPR 2018 / TPAMI 2019, sections 3.2 and 3.3). So every residual branch is multiplied by gates in (0, 1), while the identity path is not gated.',
  run,
});
