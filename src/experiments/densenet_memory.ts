import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { analyseMemory, type MemoryBytes } from '../analysis/memory.js';
import { summariseGraph } from '../analysis/summary.js';
import { sampleSize } from '../data/dataset.js';
import { resolveGraph } from '../ir/resolve.js';
import { buildModel } from '../zoo/index.js';
import type { Budget, ExperimentContext, Outcome, Verdict } from './experiment.js';
import { type Allocator, measureInFreshProcess, type PeakMeasurement, writeBatch } from './measure_memory.js';
import { lineChart } from './plot.js';
import { registerExperiment } from './registry.js';
import { markdownTable, percent } from './report.js';
import { subset, trainRun } from './training.js';

type Family = 'DenseNet-BC' | 'ResNet';

interface Net {
  readonly model: string;
  readonly family: Family;
  readonly depth: number;
  /** Published CIFAR-10 test error with the standard augmentation (C10+), where the paper gives one. */
  readonly published?: { readonly error: number; readonly source: string };
}

const HE = 'He et al. 2016, Table 6';
/** DenseNet-BC (k = 12) at three depths and the CIFAR ResNets at three, in the order they are run. */
const NETS: readonly Net[] = [
  { model: 'resnet20', family: 'ResNet', depth: 20, published: { error: 0.0875, source: HE } },
  { model: 'resnet56', family: 'ResNet', depth: 56, published: { error: 0.0697, source: HE } },
  // He et al. give the best of 5 runs (mean 6.61%); the DenseNet paper's Table 2 quotes 6.61%.
  { model: 'resnet110', family: 'ResNet', depth: 110, published: { error: 0.0643, source: HE } },
  { model: 'densenet_bc_40_k12', family: 'DenseNet-BC', depth: 40 },
  { model: 'densenet_bc_64_k12', family: 'DenseNet-BC', depth: 64 },
  {
    model: 'densenet_bc_100_k12',
    family: 'DenseNet-BC',
    depth: 100,
    published: { error: 0.0451, source: 'Huang et al. 2017, Table 2' },
  },
];

const BUDGETS: Record<
  Budget,
  {
    /** Models whose memory is measured and estimated. */
    readonly models: readonly string[];
    /** The batch of the memory measurements and estimates. */
    readonly batch: number;
    /** Training steps per measurement. */
    readonly steps: number;
    /** Measure under onnxruntime's default arena as well (what `convlab train` holds). */
    readonly arena: boolean;
    /** Models trained briefly for their test accuracy, on the same subset for the same epochs. */
    readonly trained: readonly string[];
    readonly train: number;
    readonly test: number;
    readonly epochs: number;
    readonly trainBatch: number;
  }
> = {
  quick: {
    models: ['resnet20', 'densenet_bc_40_k12'],
    batch: 16,
    steps: 1,
    arena: false,
    trained: ['resnet20', 'densenet_bc_40_k12'],
    train: 64,
    test: 64,
    epochs: 1,
    trainBatch: 32,
  },
  full: {
    models: NETS.map((n) => n.model),
    batch: 64,
    // The system allocator's peak is reached in the first step; the arena's memory pattern only
    // allocates its block in the second.
    steps: 2,
    arena: true,
    // The shallowest pair only: on two cores the others' steps are 2-5 times as slow (resnet56
    // alone took over two minutes for these sizes), past the budget.
    trained: ['resnet20', 'densenet_bc_40_k12'],
    train: 2048,
    test: 1000,
    epochs: 1,
    trainBatch: 64,
  },
};

/**
 * A linear growth in depth adds the same bytes per layer at every depth; a quadratic one adds more
 * the deeper the net. The depths here are 40/64/100 and 20/56/110: a pure c*L^2 would raise the
 * per-layer cost of the second interval over the first's by (64+100)/(40+64) = 1.58 (DenseNet-BC)
 * and (56+110)/(20+56) = 2.18 (ResNet); a linear term dilutes that. A rise of 15% is far above what
 * the measurement's noise (a few MiB in hundreds) can make.
 */
const QUADRATIC_RISE = 1.15;

export interface DepthGrowth {
  /** Bytes per added layer between consecutive depths. */
  readonly perLayer: readonly number[];
  /** Last interval's bytes per layer over the first's (1 for linear growth). */
  readonly rise: number;
  /** Slope of log(bytes) against log(depth) from the shallowest to the deepest net. */
  readonly exponent: number;
}

/** How a family's peak grows with depth (points in order of depth, at least two). */
export function depthGrowth(
  points: readonly { readonly depth: number; readonly bytes: number }[],
): DepthGrowth {
  const perLayer = points.slice(1).map((p, i) => (p.bytes - points[i]!.bytes) / (p.depth - points[i]!.depth));
  const [first, last] = [points[0]!, points.at(-1)!];
  return {
    perLayer,
    rise: perLayer.at(-1)! / perLayer[0]!,
    exponent: Math.log(last.bytes / first.bytes) / Math.log(last.depth / first.depth),
  };
}

/** The estimate's error relative to the measurement: negative when it estimates too little. */
export const relativeError = (estimate: number, measured: number): number => (estimate - measured) / measured;

const MIB = 2 ** 20;
const mib = (bytes: number) => `${(bytes / MIB).toFixed(1)} MiB`;
const signedPercent = (x: number) => `${x >= 0 ? '+' : ''}${percent(x, 1)}`;

interface Row extends Net {
  readonly params: number;
  readonly estimate: MemoryBytes;
  readonly measured: PeakMeasurement;
  readonly arena?: PeakMeasurement;
  readonly error: number;
  readonly testAccuracy?: number;
  readonly trainSeconds?: number;
}

/** How much more onnxruntime's default allocator held than the live peak, after each step. */
function arenaNote(rows: readonly Row[]): string[] {
  const withArena = rows.filter((r) => r.arena);
  if (withArena.length === 0) return [];
  const steps = withArena[0]!.arena!.peakAfterStep.length;
  const ratios = Array.from({ length: steps }, (_, i) =>
    withArena.map((r) => r.arena!.peakAfterStep[i]! / r.measured.peak),
  );
  const span = (xs: readonly number[]) => `${Math.min(...xs).toFixed(2)}x to ${Math.max(...xs).toFixed(2)}x`;
  return [
    `With onnxruntime's defaults, as \`convlab train\` runs it, the resident peak was ${ratios.map((xs, i) => `${span(xs)} the live peak after step ${i + 1}`).join(', and ')} ` +
      "(onnxruntime plans its memory pattern in the first run and allocates the pattern's block from the second, while the arena keeps the first run's chunks).",
    '',
  ];
}

async function run(ctx: ExperimentContext): Promise<Outcome> {
  const b = BUDGETS[ctx.budget];
  const nets = NETS.filter((n) => b.models.includes(n.model));
  const [c, h, w] = ctx.data.train.shape;
  const input = [c, h, w] as const;
  const classes = ctx.data.train.classes;
  mkdirSync(ctx.scratch, { recursive: true });
  const batchFile = join(ctx.scratch, 'batch.bin');
  writeBatch(
    batchFile,
    ctx.data.train.images.subarray(0, b.batch * sampleSize(ctx.data.train)),
    ctx.data.train.labels.subarray(0, b.batch),
  );

  const measure = async (net: Net, allocator: Allocator) => {
    ctx.log(`measuring ${net.model}, batch ${b.batch}, ${allocator} allocator`);
    const m = await measureInFreshProcess({
      model: net.model,
      input,
      classes,
      batch: b.batch,
      steps: b.steps,
      seed: ctx.seed,
      allocator,
      // The family's shallowest net pages in the same kernels as its deeper ones, in less time.
      warmUp: nets.find((n) => n.family === net.family)!.model,
      ...(ctx.session?.threads !== undefined && { threads: ctx.session.threads }),
      batchFile,
    });
    ctx.log(
      `  ${net.model}: peak ${mib(m.peak)} (${m.stepSeconds.map((s) => s.toFixed(1)).join(', ')} s/step)`,
    );
    return m;
  };

  const data = subset(ctx.data, b);
  const rows: Row[] = [];
  for (const net of nets) {
    const graph = buildModel(net.model, { input, classes });
    // Nesterov SGD keeps one velocity per parameter: the estimate's 'momentum' optimiser state.
    const estimate = analyseMemory(resolveGraph(graph, { batch: b.batch }), {
      mode: 'train',
      strategy: 'naive',
      optimizer: 'momentum',
    }).bytes;
    const measured = await measure(net, 'system');
    const arena = b.arena ? await measure(net, 'arena') : undefined;
    rows.push({
      ...net,
      params: summariseGraph(graph).totals.params,
      estimate,
      measured,
      ...(arena && { arena }),
      error: relativeError(estimate.peak, measured.peak),
    });
  }
  for (const [i, row] of rows.entries()) {
    if (!b.trained.includes(row.model)) continue;
    ctx.log(`training ${row.model}`);
    const graph = buildModel(row.model, { input, classes });
    const r = await trainRun(ctx, {
      name: row.model,
      graph,
      data,
      epochs: b.epochs,
      batch: b.trainBatch,
      lr: 0.1,
    });
    rows[i] = { ...row, testAccuracy: r.epochs.at(-1)!.testAccuracy, trainSeconds: r.seconds };
  }

  const family = (f: Family) => rows.filter((r) => r.family === f).sort((x, y) => x.depth - y.depth);
  const growth = (f: Family, pick: (r: Row) => number) =>
    family(f).length >= 2
      ? depthGrowth(family(f).map((r) => ({ depth: r.depth, bytes: pick(r) })))
      : undefined;
  const measuredGrowth = {
    dense: growth('DenseNet-BC', (r) => r.measured.peak),
    res: growth('ResNet', (r) => r.measured.peak),
  };
  const estimatedGrowth = {
    dense: growth('DenseNet-BC', (r) => r.estimate.peak),
    res: growth('ResNet', (r) => r.estimate.peak),
  };

  const errors = (f: Family) => family(f).map((r) => r.error);
  const range = (xs: readonly number[]) =>
    xs.length === 1
      ? signedPercent(xs[0]!)
      : `${signedPercent(Math.min(...xs))} to ${signedPercent(Math.max(...xs))}`;
  const errorText = `The estimate's error against the measured peak: ${range(errors('DenseNet-BC'))} for DenseNet-BC, ${range(errors('ResNet'))} for the ResNets.`;

  const { dense, res } = measuredGrowth;
  let verdict: Verdict;
  let finding: string;
  if (!dense || !res || dense.perLayer.length < 2 || res.perLayer.length < 2) {
    verdict = 'inconclusive';
    finding =
      'Too few depths per family to tell linear from quadratic growth (three per family are needed). ' +
      `Measured peaks: ${rows.map((r) => `${r.model} ${mib(r.measured.peak)}`).join(', ')}. ${errorText}`;
  } else {
    const quadratic = dense.rise >= QUADRATIC_RISE;
    const linear = res.rise < QUADRATIC_RISE;
    verdict = quadratic && linear ? 'held' : 'did not hold';
    const intervals = (f: Family, g: DepthGrowth) => {
      const depths = family(f).map((r) => r.depth);
      return g.perLayer.map((x, i) => `${mib(x)} (L ${depths[i]} to ${depths[i + 1]})`).join(', then ');
    };
    const [deepDense, deepRes] = [family('DenseNet-BC').at(-1)!, family('ResNet').at(-1)!];
    finding =
      `Measured peak per added layer: DenseNet-BC ${intervals('DenseNet-BC', dense)}, ${dense.rise.toFixed(2)}x as much in the deeper interval ` +
      `(${quadratic ? 'faster than linear growth, as claimed' : 'no clear rise, so not the quadratic growth claimed'}); ` +
      `ResNet ${intervals('ResNet', res)}, ${res.rise.toFixed(2)}x (${linear ? 'linear' : 'rising as well'}). ` +
      `${deepDense.model} peaks at ${mib(deepDense.measured.peak)}, ${(deepDense.measured.peak / deepRes.measured.peak).toFixed(1)}x ` +
      `${deepRes.model}'s ${mib(deepRes.measured.peak)}, with ${(deepDense.params / deepRes.params).toFixed(2)}x its parameters` +
      `${deepDense.published && deepRes.published ? ` and a lower published CIFAR-10 error (${percent(deepDense.published.error)} vs ${percent(deepRes.published.error)})` : ''}. ${errorText}` +
      ` The estimate's per-layer rise is ${estimatedGrowth.dense!.rise.toFixed(2)}x for DenseNet-BC and ${estimatedGrowth.res!.rise.toFixed(2)}x for ResNet: it predicts the shape of the growth better than its level.`;
  }

  const seriesOf = (f: Family, label: string, pick: (r: Row) => number, dashed: boolean) => ({
    label,
    dashed,
    points: family(f).map((r) => [r.depth, pick(r) / MIB] as const),
  });
  const figures = [
    {
      name: 'peak-vs-depth',
      caption: `Peak memory of a training step at batch ${b.batch} against depth: measured (solid; onnxruntime without its arena, see the setup) and convlab's estimate (dashed).`,
      svg: lineChart({
        title: `Training-step peak memory against depth, batch ${b.batch}`,
        x: 'depth (weighted layers)',
        y: 'peak memory (MiB)',
        series: [
          seriesOf('DenseNet-BC', 'DenseNet-BC measured', (r) => r.measured.peak, false),
          seriesOf('DenseNet-BC', 'DenseNet-BC estimate', (r) => r.estimate.peak, true),
          seriesOf('ResNet', 'ResNet measured', (r) => r.measured.peak, false),
          seriesOf('ResNet', 'ResNet estimate', (r) => r.estimate.peak, true),
        ],
        includeY: [0],
      }),
    },
    {
      name: 'peak-per-layer',
      caption:
        'Measured peak divided by depth: flat for memory linear in depth, rising for quadratic; solid measured, dashed estimated.',
      svg: lineChart({
        title: 'Peak memory per layer against depth',
        x: 'depth (weighted layers)',
        y: 'peak / depth (MiB per layer)',
        series: [
          seriesOf('DenseNet-BC', 'DenseNet-BC measured', (r) => r.measured.peak / r.depth, false),
          seriesOf('DenseNet-BC', 'DenseNet-BC estimate', (r) => r.estimate.peak / r.depth, true),
          seriesOf('ResNet', 'ResNet measured', (r) => r.measured.peak / r.depth, false),
          seriesOf('ResNet', 'ResNet estimate', (r) => r.estimate.peak / r.depth, true),
        ],
        includeY: [0],
      }),
    },
  ];

  const growthRows = (['DenseNet-BC', 'ResNet'] as const).flatMap((f) => {
    const key = f === 'ResNet' ? 'res' : 'dense';
    const [m, e] = [measuredGrowth[key], estimatedGrowth[key]];
    if (!m || !e) return [];
    const depths = family(f).map((r) => r.depth);
    return [
      [
        f,
        depths.join(' / '),
        m.perLayer.map(mib).join(' / '),
        m.perLayer.length > 1 ? `${m.rise.toFixed(2)}x` : 'n/a',
        m.exponent.toFixed(2),
        e.perLayer.map(mib).join(' / '),
        e.perLayer.length > 1 ? `${e.rise.toFixed(2)}x` : 'n/a',
        e.exponent.toFixed(2),
      ],
    ];
  });
  const results = [
    `Peak memory of one training step at batch ${b.batch}, ${input.join('x')} inputs, ${classes} classes:`,
    '',
    markdownTable(
      [
        'model',
        'depth',
        'params',
        'estimated peak',
        'measured peak',
        'estimate error',
        'measured, onnxruntime defaults',
        'step time',
      ],
      rows.map((r) => [
        r.model,
        r.depth,
        r.params.toLocaleString('en-US'),
        mib(r.estimate.peak),
        mib(r.measured.peak),
        signedPercent(r.error),
        r.arena ? mib(r.arena.peak) : 'not measured',
        `${Math.min(...r.measured.stepSeconds).toFixed(1)} s`,
      ]),
    ),
    '',
    ...arenaNote(rows),
    'The estimate error is (estimated - measured) / measured: negative where convlab estimates too little. ' +
      "The estimate models eager, PyTorch-style execution: each op's saved tensors, its output gradient and its input gradient. " +
      'onnxruntime runs the step graph in an order of its own, and its backward ops take workspace the estimate leaves out ' +
      "(for instance the transposed copy of a convolution's input that convlab's weight gradient may take); the measurement includes both.",
    '',
    ...(growthRows.length === 0
      ? ['Growth with depth needs at least two depths per family; this budget measures one.']
      : [
          'Growth with depth (bytes of peak per added layer between consecutive depths; the rise is the last interval over the first: 1 for linear growth, above 1 for quadratic; the exponent is the log-log slope from the shallowest to the deepest net):',
          '',
          markdownTable(
            [
              'family',
              'depths',
              'measured per layer',
              'rise',
              'exponent',
              'estimated per layer',
              'rise',
              'exponent',
            ],
            growthRows,
          ),
        ]),
    '',
    `Accuracy, to pair nets of similar accuracy: test accuracy after ${b.epochs} epoch${b.epochs === 1 ? '' : 's'} on the same ${data.train.count} training images (tested on ${data.test.count}), and the published CIFAR-10 error with standard augmentation:`,
    '',
    markdownTable(
      ['model', 'params', 'test accuracy (this run)', 'training time', 'published CIFAR-10+ error'],
      rows.map((r) => [
        r.model,
        r.params.toLocaleString('en-US'),
        r.testAccuracy === undefined ? 'not trained' : percent(r.testAccuracy),
        r.trainSeconds === undefined ? '' : `${r.trainSeconds.toFixed(0)} s`,
        r.published ? `${percent(r.published.error)} (${r.published.source})` : 'not published',
      ]),
    ),
    '',
    `For scale: Pleiss et al. report 2.863 GB for the naive DenseNet-BC-100 at batch 64 on 32x32 CIFAR images (PyTorch on a GPU), and 1.605 GB for their memory-efficient version. ` +
      `Every feature map here has ${h}x${w} = ${((h * w) / (32 * 32)).toFixed(2)} of their pixels (the input's channel count changes only the first convolution), so their naive figure scaled by pixels is roughly ${((2.863e9 * h * w) / (32 * 32) / MIB).toFixed(0)} MiB.`,
  ].join('\n');

  const depths = (f: Family) =>
    family(f)
      .map((r) => r.depth)
      .join(', ');
  const setup = [
    `Models: DenseNet-BC with growth rate k = 12 (Huang et al. 2017: a 3x3 stem to 2k channels, three dense blocks of n bottleneck layers BN-ReLU-1x1 conv to 4k-BN-ReLU-3x3 conv to k, transitions that halve the channels, depth 6n + 4) at depths ${depths('DenseNet-BC')}, ` +
      `and the CIFAR ResNets of He et al. 2016 (option-A shortcuts, depth 6n + 2) at depths ${depths('ResNet')}, built for ${input.join('x')} ${ctx.data.name} images and ${classes} classes. ` +
      `Each DenseNet layer concatenates every earlier map of its block into a new tensor that its first BatchNorm saves for backward, as a naive implementation (torchvision's without memory_efficient) does; convlab's training graph does the same.`,
    `Estimate: \`convlab memory MODEL --batch ${b.batch} --mode train --optimizer momentum\` (src/analysis/memory.ts, the naive strategy): liveness over the forward and backward pass with what each op saves for backward, plus parameters, buffers, gradients and one velocity per parameter.`,
    `Measured: ${b.steps} training step${b.steps === 1 ? '' : 's'} of convlab's compiled training graph (forward, loss, backward and the SGD update in one onnxruntime graph; Nesterov momentum, the same ${b.batch} training images) in a fresh Node process per model and allocator. ` +
      "The peak is the process's peak resident set (VmHWM in /proc/self/status, reset through /proc/self/clear_refs once the session rests) minus its resident set at that moment, plus the bytes of the state fed to the step (weights, buffers, velocities), which were allocated before it. " +
      'Left out: what the open session holds at rest besides the state (its graph, kernels and execution plan, several to tens of MiB, growing with the node count, not the batch), which no feature-map estimate models. ' +
      'Before the measurement, one step of the family’s shallowest net at batch 1 pages in onnxruntime’s kernels and starts its thread pool. ' +
      "Unlike the seeded training figures, resident memory is not bit-exact from run to run: between this experiment's trial runs the measured peaks moved by up to 3%, the onnxruntime-defaults column by up to 20%.",
    "Which allocator: onnxruntime's defaults (enableCpuMemArena, enableMemPattern; convlab's sessions keep them) hold more than is live: the BFC arena grows in power-of-two chunks and keeps them, and from the second run the memory pattern allocates one pre-planned block for all intermediates while the arena still holds the first run's chunks. " +
      'The measured peak therefore turns both off, so every tensor is its own allocation, and runs the child with glibc’s mmap threshold pinned at 64 KiB (MALLOC_MMAP_THRESHOLD_), so every feature map is mapped when allocated and unmapped when freed: the resident set follows the live tensors. ' +
      `${b.arena ? "The column 'measured, onnxruntime defaults' is the same measurement with the defaults, what `convlab train` holds." : 'This budget does not measure the defaults.'}`,
    `Accuracy: ${b.trained.join(', ')} trained on the first ${data.train.count} training images for ${b.epochs} epoch${b.epochs === 1 ? '' : 's'} (batch ${b.trainBatch}, SGD with Nesterov momentum 0.9, weight decay 5e-4, lr 0.1 with a cosine decay, no augmentation), tested on the first ${data.test.count} test images. ` +
      `${b.epochs * Math.floor(data.train.count / b.trainBatch)} steps leave every net far from converged: the published CIFAR-10 errors, where the papers give one, are the better guide to pairing nets of similar accuracy.` +
      `${b.trained.length < nets.length ? ' The other nets are not trained, to stay within the budget (the step times in the results show their cost).' : ''}`,
  ].join('\n\n');

  return {
    verdict,
    finding,
    setup,
    results,
    figures,
    raw: {
      batch: b.batch,
      input,
      classes,
      growth: { measured: measuredGrowth, estimated: estimatedGrowth },
      models: rows,
    },
  };
}

registerExperiment({
  name: 'densenet-memory',
  title: 'A naive DenseNet’s training memory grows quadratically with depth; a ResNet’s linearly',
  claim:
    '"A naive DenseNet implementation can require a significant amount of GPU memory: If not properly managed, pre-activation batch normalization and contiguous convolution operations can produce feature maps that grow quadratically with network depth." (Pleiss, Chen, Huang, Li, van der Maaten and Weinberger, "Memory-Efficient Implementation of DenseNets", 2017, abstract; their shared-memory implementation brings it "from quadratic to linear".) ' +
    'The network is the DenseNet-BC of Huang, Liu, van der Maaten and Weinberger, "Densely Connected Convolutional Networks", CVPR 2017, in which layer l reads "[x0, x1, ..., xl-1]", "the concatenation of the feature-maps produced in layers 0, ..., l-1" (section 3). A ResNet of the same depth adds a fixed set of feature maps per layer, so its memory grows linearly.',
  run,
});
