import type { Graph } from '../ir/graph.js';
import { resolveGraph } from '../ir/resolve.js';
import { numel } from '../ir/shape.js';
import { buildCifarResNet } from '../zoo/resnet_cifar.js';
import type { Budget, Experiment, Figure, ReportInput, SeedContext } from './experiment.js';
import { meanWithInterval } from './figures.js';
import type { Effects, Rule } from './judge.js';
import { lineChart } from './plot.js';
import { registerExperiment } from './registry.js';
import { factorSpread, markdownTable, percent, spread } from './report.js';
import { mean } from './stats.js';
import {
  firstCycle,
  RESTART,
  type RunResult,
  subset,
  type TrainingBudget,
  trainingSetup,
  trainRun,
} from './training.js';

/** Two cosine cycles each (see training.ts `RESTART`). */
const BUDGETS: Record<Budget, TrainingBudget> = {
  quick: { train: 128, test: 64, epochs: 2, batch: 64, warmup: 0 },
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

/** The L2 norm of a set of gradients, from their norms. */
const combinedNorm = (norms: readonly number[]) => Math.sqrt(norms.reduce((s, n) => s + n * n, 0));

/** Which depth a conv belongs to: 0 for the stem, 1..3 for the stages. */
const stageOf = (conv: string) => (conv.startsWith('layer') ? Number(conv[5]) : 0);

/** One net's run of one seed: the per-step probes the verdict and the report read. */
export interface SeRun {
  readonly se: boolean;
  readonly convs: readonly string[];
  readonly stream: readonly string[];
  /** Per stream node, its values per image: a gradient std times its square root is a norm per image. */
  readonly streamSize: readonly number[];
  /** Per step, each conv's weight-gradient norm (in `convs` order). */
  readonly gradNorms: readonly (readonly number[])[];
  /** Per step, the loss gradient's std on each stream node (in `stream` order). */
  readonly streamStd: readonly (readonly number[])[];
  readonly testAccuracy: number;
  readonly loss: number;
  readonly seconds: number;
}

export interface SeMeasurement {
  readonly stepsPerEpoch: number;
  /** The plain ResNet-20's run, then the SE net's. */
  readonly runs: readonly [SeRun, SeRun];
}

const NETS = [
  { se: false, name: 'resnet20', label: 'ResNet-20' },
  { se: true, name: 'se_resnet20', label: 'SE-ResNet-20' },
] as const;

function seRun(se: boolean, graph: Graph, r: RunResult): SeRun {
  const convs = trunkConvs(graph);
  const stream = streamNodes(graph);
  const resolved = resolveGraph(graph, { batch: 1 });
  const last = r.epochs.at(-1)!;
  return {
    se,
    convs,
    stream,
    streamSize: stream.map((node) => numel(resolved.byName.get(node)!.ctx.output)),
    gradNorms: r.probes.map((p) => convs.map((conv) => p.get(`grad_norm/${conv}.weight`)!)),
    streamStd: r.probes.map((p) => stream.map((node) => p.get(`grad_std/${node}`)!)),
    testAccuracy: last.testAccuracy,
    loss: last.loss,
    seconds: r.seconds,
  };
}

async function measure(ctx: SeedContext): Promise<SeMeasurement> {
  const b = BUDGETS[ctx.budget];
  const data = subset(ctx.data, b);
  const [c, h, w] = data.train.shape;
  const runs: SeRun[] = [];
  for (const net of NETS) {
    ctx.log(`training ${net.label}, seed ${ctx.seed}`);
    const graph = buildCifarResNet(
      net.name,
      'resnet_cifar',
      BLOCKS_PER_STAGE,
      'zero-pad',
      { input: [c, h, w], classes: data.train.classes, aux: false },
      net.se ? SE_REDUCTION : undefined,
    );
    const r = await trainRun(ctx, {
      name: net.name,
      graph,
      data,
      epochs: b.epochs,
      batch: b.batch,
      lr: 0.1,
      warmup: b.warmup,
      schedule: RESTART,
      probes: { gradNorms: true, activations: streamNodes(graph) },
    });
    runs.push(seRun(net.se, graph, r));
  }
  return { stepsPerEpoch: Math.floor(b.train / b.batch), runs: runs as [SeRun, SeRun] };
}

/** The first half of the steps (see the budget's schedule: a complete run of half the budget). */
function firstHalf(m: SeMeasurement): SeMeasurement {
  const cut = (r: SeRun): SeRun => {
    const steps = Math.floor(r.gradNorms.length / 2);
    return { ...r, gradNorms: r.gradNorms.slice(0, steps), streamStd: r.streamStd.slice(0, steps) };
  };
  return { ...m, runs: [cut(m.runs[0]), cut(m.runs[1])] };
}

/** A run's per-conv (or per-stream-node) values at the first step and over its last epoch. */
export interface Phases {
  readonly init: readonly number[];
  readonly trained: readonly number[];
}

function phases(rows: readonly (readonly number[])[], window: number): Phases {
  const last = rows.slice(-window);
  return { init: rows[0]!, trained: rows[0]!.map((_, j) => mean(last.map((row) => row[j]!))) };
}

export const convPhases = (m: SeMeasurement, r: SeRun): Phases => phases(r.gradNorms, m.stepsPerEpoch);

/** The stream gradient per image (std times the square root of the map's size), first step and last epoch. */
export function streamPhases(m: SeMeasurement, r: SeRun): Phases {
  const p = phases(r.streamStd, m.stepsPerEpoch);
  const perImage = (xs: readonly number[]) => xs.map((x, j) => x * Math.sqrt(r.streamSize[j]!));
  return { init: perImage(p.init), trained: perImage(p.trained) };
}

/** SE over plain for the convs of the given stages together, at the first step and trained. */
export function stagesRatio(m: SeMeasurement, stages: readonly number[]): { init: number; trained: number } {
  const [plain, se] = m.runs;
  const picked = plain.convs.flatMap((conv, j) => (stages.includes(stageOf(conv)) ? [j] : []));
  const norm = (r: SeRun, phase: keyof Phases) =>
    combinedNorm(picked.map((j) => convPhases(m, r)[phase][j]!));
  return {
    init: norm(se, 'init') / norm(plain, 'init'),
    trained: norm(se, 'trained') / norm(plain, 'trained'),
  };
}

/** "Near the input": the stem conv and the first stage's six convs, their gradients together. */
const NEAR_INPUT = [0, 1];

const rule = (phase: 'init' | 'trained', when: string): Rule => ({
  key: `near-input-${phase}`,
  claim: `${when}, SE weakens the conv gradients near the input (stem + first stage) by at least ${MEANINGFUL}x`,
  effect: `their gradient norm in the SE net over that in the plain net, same seed (as a log ratio)`,
  test: { kind: 'smaller', threshold: -Math.log(MEANINGFUL) },
  format: 'ratio',
});

export const RULES: readonly Rule[] = [
  rule('init', 'At initialisation (the first step)'),
  rule('trained', 'After training (the last epoch)'),
];

export function effects(m: SeMeasurement): Effects {
  const near = stagesRatio(m, NEAR_INPUT);
  return { 'near-input-init': Math.log(near.init), 'near-input-trained': Math.log(near.trained) };
}

/** Per depth: SE over plain, per seed, for convs or stream nodes, at one phase. */
function ratios(
  input: ReportInput<SeMeasurement>,
  of: (m: SeMeasurement, r: SeRun) => Phases,
  phase: keyof Phases,
): number[][] {
  return input.full.map(({ measurement: m }) => {
    const [plain, se] = m.runs.map((r) => of(m, r)[phase]);
    return plain!.map((p, j) => se![j]! / p);
  });
}

function figures(input: ReportInput<SeMeasurement>): Figure[] {
  const m0 = input.full[0]!.measurement;
  const depth = m0.runs[0].convs.map((_, i) => i + 1);
  const positions = m0.runs[0].stream.map((_, i) => i);
  const perNet = (of: (m: SeMeasurement, r: SeRun) => Phases, xs: readonly number[]) =>
    NETS.flatMap((net, k) =>
      (['init', 'trained'] as const).map((phase) =>
        meanWithInterval(
          `${net.label}, ${phase === 'init' ? 'init' : 'trained'}`,
          2 * k + (phase === 'init' ? 0 : 1),
          xs,
          input.full.map(({ measurement: m }) => of(m, m.runs[k]!)[phase]),
          { log: true, dashed: phase === 'init' },
        ),
      ),
    );
  return [
    {
      name: 'gradient-by-depth',
      caption: `L2 norm of each conv weight's loss gradient, by depth (1 = the stem conv, 2-7 the first stage, 8-13 the second, 14-19 the third): at the first step (dashed) and averaged over the last epoch (solid); geometric mean over ${input.full.length} seeds with its 95% interval.`,
      svg: lineChart({
        title: 'Conv weight gradient norm by depth',
        x: 'conv layer (input to output)',
        y: 'gradient L2 norm',
        series: perNet(convPhases, depth),
        logY: true,
      }),
    },
    {
      name: 'ratio-by-depth',
      caption:
        "SE-ResNet-20 over ResNet-20, per conv layer: the ratio of the weight gradient norms at the first step and over the last epoch, geometric mean over seeds with its 95% interval. Below 1: the SE net's layer gets less gradient.",
      svg: lineChart({
        title: 'Gradient norm ratio SE / plain by depth',
        x: 'conv layer (input to output)',
        y: 'gradient norm ratio (SE / plain)',
        series: [
          meanWithInterval('at init', 0, depth, ratios(input, convPhases, 'init'), {
            log: true,
            dashed: true,
          }),
          meanWithInterval('trained', 1, depth, ratios(input, convPhases, 'trained'), { log: true }),
        ],
        includeY: [1],
        logY: true,
      }),
    },
    {
      name: 'stream-gradient-by-depth',
      caption:
        "Norm per image of the loss gradient with respect to the residual stream (the stem's output and each block's output, input to output; its standard deviation times the square root of the map's size), at the first step (dashed) and over the last epoch (solid); geometric mean over seeds with its 95% interval.",
      svg: lineChart({
        title: 'Gradient on the residual stream by depth',
        x: 'stream position (0 = stem output, 1-9 = block outputs)',
        y: 'gradient norm per image',
        series: perNet(streamPhases, positions),
        logY: true,
      }),
    },
  ];
}

function resultsTables(input: ReportInput<SeMeasurement>): string {
  const m0 = input.full[0]!.measurement;
  const seeds = input.full.map((s) => s.measurement);
  const column = (rows: number[][], j: number) => factorSpread(rows.map((row) => row[j]!));
  const [convInit, convTrained] = [ratios(input, convPhases, 'init'), ratios(input, convPhases, 'trained')];
  const [streamInit, streamTrained] = [
    ratios(input, streamPhases, 'init'),
    ratios(input, streamPhases, 'trained'),
  ];
  const stage = (label: string, list: readonly number[]) => {
    const r = seeds.map((m) => stagesRatio(m, list));
    return [label, factorSpread(r.map((x) => x.init)), factorSpread(r.map((x) => x.trained))];
  };
  return [
    markdownTable(
      ['net', 'test accuracy (last epoch)', 'train loss (last epoch)'],
      NETS.map((net, k) => [
        net.label,
        spread(
          seeds.map((m) => m.runs[k]!.testAccuracy),
          (x) => percent(x),
        ),
        spread(
          seeds.map((m) => m.runs[k]!.loss),
          (x) => x.toFixed(4),
        ),
      ]),
    ),
    '',
    'Gradient norms of the stages together, SE / plain (geometric mean over seeds, x/÷ its spread, [95% interval]):',
    '',
    markdownTable(
      ['stage', 'ratio at init', 'ratio trained'],
      [
        stage('stem + first stage (near the input)', NEAR_INPUT),
        stage('second stage', [2]),
        stage('third stage (near the output)', [3]),
      ],
    ),
    '',
    'Conv weight gradient norm, SE / plain, by depth:',
    '',
    markdownTable(
      ['depth', 'conv', 'ratio at init', 'ratio trained'],
      m0.runs[0].convs.map((conv, j) => [j + 1, conv, column(convInit, j), column(convTrained, j)]),
    ),
    '',
    'Loss-gradient norm on the residual stream, SE / plain:',
    '',
    markdownTable(
      ['position', 'node', 'ratio at init', 'ratio trained'],
      m0.runs[0].stream.map((node, j) => [j, node, column(streamInit, j), column(streamTrained, j)]),
    ),
  ].join('\n');
}

function setup(input: ReportInput<SeMeasurement>): string {
  const b = BUDGETS[input.budget];
  return [
    `ResNet-20 as in He et al. 2015, section 4.2 (a 3x3 conv to 16 channels, three stages of three basic blocks at 16/32/64 channels, option-A identity shortcuts, global average pooling, FC), built for ${input.data.train.shape.join('x')} ${input.data.name} images, and its SE twin: the same net with a squeeze-and-excitation block (reduction ${SE_REDUCTION}, so 1, 2 and 4 hidden units in the three stages) on every block's residual branch, after its second BN and before the addition, as in SE-ResNet (Hu et al., Fig. 3).`,
    'The conv weights have the same names in both nets, so each seed starts both from identical conv weights and shows them the same batches; Kaiming-normal initialisation (fan_in) for every conv, the SE 1x1 convs included.',
    ...trainingSetup(b, 0.1),
    "Every step reports the L2 norm of each parameter's loss gradient (weight decay excluded) and the standard deviation of the loss gradient on the residual stream (the stem's output and every block's output), turned into a norm per image by the square root of the map's size.",
    "'At initialisation' is the first step (before any update); 'trained' is the mean over the last epoch's steps.",
  ].join(' ');
}

function report(input: ReportInput<SeMeasurement>) {
  const seeds = input.full.map((s) => s.measurement);
  const near = seeds.map((m) => stagesRatio(m, NEAR_INPUT));
  const far = seeds.map((m) => stagesRatio(m, [3]));
  const stem = seeds.map(
    (m) => streamPhases(m, m.runs[0]).init[0]! / streamPhases(m, m.runs[0]).init.at(-1)!,
  );
  const stemSe = seeds.map(
    (m) => streamPhases(m, m.runs[1]).init[0]! / streamPhases(m, m.runs[1]).init.at(-1)!,
  );
  const finding =
    `Over ${seeds.length} seeds, the SE net's conv-weight gradients near the input (the stem conv and the first stage's six convs together) were ` +
    `${factorSpread(near.map((r) => r.init))} the plain ResNet's at initialisation (${factorSpread(far.map((r) => r.init))} in the last stage) and ` +
    `${factorSpread(near.map((r) => r.trained))} over the last epoch of training (${factorSpread(far.map((r) => r.trained))} in the last stage). ` +
    `At initialisation the gradient on the residual stream at the stem's output was ${factorSpread(stemSe)} the gradient at the last block's output in the SE net and ${factorSpread(stem)} in the plain net.`;
  return {
    finding,
    setup: setup(input),
    results: resultsTables(input),
    figures: figures(input),
    raw: {
      budget: BUDGETS[input.budget],
      nearInput: near,
      middle: seeds.map((m) => stagesRatio(m, [2])),
      nearOutput: far,
      streamGrowthAtInit: { plain: stem, se: stemSe },
    },
  };
}

export const seGradients: Experiment<SeMeasurement> = registerExperiment({
  name: 'se-gradients',
  title: "SE's 0-1 gating weakens the gradients near the input",
  claim:
    'Claim under test (convlab issue #8): squeeze-and-excitation\'s 0-1 scaling on the main path weakens the gradients that reach the layers near the input. What SE does, in Hu et al.\'s words: the excitation is "a simple gating mechanism with a sigmoid activation", s = σ(W2 δ(W1 z)), and "the final output of the block is obtained by rescaling U with the activations s"; in SE-ResNet "the SE block transformation F_tr is taken to be the non-identity branch of a residual module. Squeeze and Excitation both act before summation with the identity branch" (Hu, Shen, Albanie, Sun and Wu, "Squeeze-and-Excitation Networks", CVPR 2018 / TPAMI 2019, sections 3.2 and 3.3). So every residual branch is multiplied by gates in (0, 1), while the identity path is not gated.',
  budgets: BUDGETS,
  seeds: { quick: 2, full: 5 },
  half: firstCycle(firstHalf),
  rules: RULES,
  measure,
  effects,
  report,
});
