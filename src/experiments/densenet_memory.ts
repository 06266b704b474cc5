import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { analyseMemory, type MemoryBytes } from '../analysis/memory.js';
import { summariseGraph } from '../analysis/summary.js';
import { sampleSize } from '../data/dataset.js';
import { resolveGraph } from '../ir/resolve.js';
import { buildModel } from '../zoo/index.js';
import type { Budget, Experiment, Figure, ReportInput, SeedContext } from './experiment.js';
import { meanWithInterval } from './figures.js';
import type { Effects, Rule } from './judge.js';
import { type Allocator, measureInFreshProcess, type PeakMeasurement, writeBatch } from './measure_memory.js';
import { lineChart } from './plot.js';
import { registerExperiment } from './registry.js';
import { factorSpread, markdownTable, percent, spread } from './report.js';
import { mean } from './stats.js';
import { Stopped, subset, trainRun } from './training.js';

type Family = 'DenseNet-BC' | 'ResNet';
const FAMILIES: readonly Family[] = ['DenseNet-BC', 'ResNet'];

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

interface MemoryBudget {
  /** Models whose memory is measured and estimated. */
  readonly models: readonly string[];
  /** The batch of the memory measurements and estimates; the half budget measures at half of it. */
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

const BUDGETS: Record<Budget, MemoryBudget> = {
  quick: {
    models: ['resnet20', 'densenet_bc_40_k12'],
    batch: 16,
    steps: 1,
    arena: false,
    trained: ['resnet20'],
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

/** One model measured in one repeat. */
export interface MemoryRow extends Net {
  readonly params: number;
  readonly estimate: MemoryBytes;
  /** The peak of the backend that trains (onnxruntime with its arena off, see measure_memory.ts). */
  readonly measured: PeakMeasurement;
  /** The same with onnxruntime's defaults, as `convlab train` runs it. */
  readonly arena?: PeakMeasurement;
  readonly testAccuracy?: number;
  readonly trainSeconds?: number;
}

export interface MemoryMeasurement {
  readonly batch: number;
  readonly input: readonly [number, number, number];
  readonly classes: number;
  readonly backend: string;
  readonly rows: readonly MemoryRow[];
}

/** One model's estimate and measured peaks, each measurement in a fresh process. */
async function measureRow(ctx: SeedContext, net: Net, batch: number, batchFile: string): Promise<MemoryRow> {
  const b = BUDGETS[ctx.budget];
  const [c, h, w] = ctx.data.train.shape;
  const input = [c, h, w] as const;
  const classes = ctx.data.train.classes;
  const graph = buildModel(net.model, { input, classes });
  const peak = async (allocator: Allocator) => {
    if (ctx.stop()) throw new Stopped(ctx.stop()!);
    ctx.log(`measuring ${net.model}, batch ${batch}, ${allocator} allocator, seed ${ctx.seed}`);
    const m = await measureInFreshProcess({
      model: net.model,
      input,
      classes,
      batch,
      steps: b.steps,
      seed: ctx.seed,
      allocator,
      backend: ctx.backend.name,
      // The family's shallowest net pages in the same kernels as its deeper ones, in less time.
      warmUp: NETS.find((n) => n.family === net.family && b.models.includes(n.model))!.model,
      ...(ctx.session?.threads !== undefined && { threads: ctx.session.threads }),
      batchFile,
    });
    ctx.log(
      `  ${net.model}: peak ${mib(m.peak)} (${m.stepSeconds.map((s) => s.toFixed(1)).join(', ')} s/step)`,
    );
    return m;
  };
  const measured = await peak('system');
  // onnxruntime's defaults, as `convlab train` holds them (the native backend has no such choice).
  const arena =
    b.arena && ctx.scale === 'full' && ctx.backend.name === 'onnxruntime' ? await peak('arena') : undefined;
  return {
    ...net,
    params: summariseGraph(graph).totals.params,
    // Nesterov SGD keeps one velocity per parameter: the estimate's 'momentum' optimiser state.
    estimate: analyseMemory(resolveGraph(graph, { batch }), {
      mode: 'train',
      strategy: 'naive',
      optimizer: 'momentum',
    }).bytes,
    measured,
    ...(arena && { arena }),
  };
}

/** A short training run of a model, for its test accuracy (the full budget's shallowest pair only). */
async function accuracyOf(ctx: SeedContext, row: MemoryRow): Promise<MemoryRow> {
  const b = BUDGETS[ctx.budget];
  const data = subset(ctx.data, b);
  ctx.log(`training ${row.model}, seed ${ctx.seed}`);
  const graph = buildModel(row.model, { input: ctx.data.train.shape, classes: ctx.data.train.classes });
  const r = await trainRun(ctx, {
    name: row.model,
    graph,
    data,
    epochs: b.epochs,
    batch: b.trainBatch,
    lr: 0.1,
  });
  return { ...row, testAccuracy: r.epochs.at(-1)!.testAccuracy, trainSeconds: r.seconds };
}

async function measure(ctx: SeedContext): Promise<MemoryMeasurement> {
  const b = BUDGETS[ctx.budget];
  const batch = ctx.scale === 'half' ? b.batch / 2 : b.batch;
  mkdirSync(ctx.work, { recursive: true });
  const batchFile = join(ctx.work, 'batch.bin');
  // The seed picks which images make the batch (memory does not depend on them; the steps' losses do).
  const from = (ctx.seed * batch) % (ctx.data.train.count - batch);
  const size = sampleSize(ctx.data.train);
  writeBatch(
    batchFile,
    ctx.data.train.images.subarray(from * size, (from + batch) * size),
    ctx.data.train.labels.subarray(from, from + batch),
  );
  const rows: MemoryRow[] = [];
  for (const net of NETS.filter((n) => b.models.includes(n.model))) {
    const row = await measureRow(ctx, net, batch, batchFile);
    rows.push(ctx.scale === 'full' && b.trained.includes(net.model) ? await accuracyOf(ctx, row) : row);
  }
  const [c, h, w] = ctx.data.train.shape;
  return { batch, input: [c, h, w], classes: ctx.data.train.classes, backend: ctx.backend.name, rows };
}

const family = (m: MemoryMeasurement, f: Family) =>
  m.rows.filter((r) => r.family === f).sort((x, y) => x.depth - y.depth);

/** A family's growth with depth, by the measured or the estimated peak (undefined under two depths). */
export function growthOf(
  m: MemoryMeasurement,
  f: Family,
  pick: (r: MemoryRow) => number,
): DepthGrowth | undefined {
  const rows = family(m, f);
  return rows.length >= 2 ? depthGrowth(rows.map((r) => ({ depth: r.depth, bytes: pick(r) }))) : undefined;
}

const measuredPeak = (r: MemoryRow) => r.measured.peak;
const estimatedPeak = (r: MemoryRow) => r.estimate.peak;

const riseRule = (f: Family, quadratic: boolean): Rule => ({
  key: `${f}-rise`,
  claim: quadratic
    ? `A naive ${f}'s training peak grows faster than linearly with depth: its bytes per added layer rise by at least ${QUADRATIC_RISE}x from the shallower interval to the deeper`
    : `A ${f}'s training peak grows linearly with depth: its bytes per added layer rise by less than ${QUADRATIC_RISE}x`,
  effect:
    'the measured peak per added layer in the deeper interval over that in the shallower (as a log ratio)',
  test: quadratic
    ? { kind: 'greater', threshold: Math.log(QUADRATIC_RISE) }
    : { kind: 'not-greater', threshold: Math.log(QUADRATIC_RISE) },
  format: 'ratio',
});

export const RULES: readonly Rule[] = [riseRule('DenseNet-BC', true), riseRule('ResNet', false)];

/** Each family's log rise; NaN (the seed left out) where a budget measures fewer than three depths. */
export function effects(m: MemoryMeasurement): Effects {
  const rise = (f: Family) => {
    const g = growthOf(m, f, measuredPeak);
    return g && g.perLayer.length >= 2 ? Math.log(g.rise) : Number.NaN;
  };
  return { 'DenseNet-BC-rise': rise('DenseNet-BC'), 'ResNet-rise': rise('ResNet') };
}

/** Per model (in the first repeat's order), a number of each repeat. */
const perModel = (input: ReportInput<MemoryMeasurement>, pick: (r: MemoryRow) => number | undefined) =>
  input.full[0]!.measurement.rows.map((row) =>
    input.full.map((s) => pick(s.measurement.rows.find((r) => r.model === row.model)!) ?? Number.NaN),
  );

function figures(input: ReportInput<MemoryMeasurement>): Figure[] {
  const m0 = input.full[0]!.measurement;
  const series = (perLayer: boolean) =>
    FAMILIES.flatMap((f, k) =>
      (
        [
          ['measured', measuredPeak, false],
          ['estimate', estimatedPeak, true],
        ] as const
      ).map(([what, pick, dashed]) => {
        const rows = family(m0, f);
        const values = input.full.map((s) =>
          family(s.measurement, f).map((r) => pick(r) / MIB / (perLayer ? r.depth : 1)),
        );
        return meanWithInterval(
          `${f} ${what}`,
          k,
          rows.map((r) => r.depth),
          values,
          { dashed, markers: true },
        );
      }),
    );
  return [
    {
      name: 'peak-vs-depth',
      caption: `Peak memory of a training step at batch ${m0.batch} against depth: measured (solid; onnxruntime without its arena, see the setup; mean over ${input.full.length} repeats with its 95% interval) and convlab's estimate (dashed).`,
      svg: lineChart({
        title: `Training-step peak memory against depth, batch ${m0.batch}`,
        x: 'depth (weighted layers)',
        y: 'peak memory (MiB)',
        series: series(false),
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
        series: series(true),
        includeY: [0],
      }),
    },
  ];
}

/** The bytes a backend planned for a row's step (the native backend's arenas), if it plans them. */
const plannedBytes = (r: MemoryRow) =>
  r.measured.planned ? Object.values(r.measured.planned).reduce((a, x) => a + x, 0) : undefined;

function peakTable(input: ReportInput<MemoryMeasurement>): string {
  const m0 = input.full[0]!.measurement;
  const mibSpread = (values: number[]) => spread(values, (x) => (x / MIB).toFixed(1));
  const [measured, arena, held, steps] = [
    perModel(input, measuredPeak),
    perModel(input, (r) => r.arena?.peak),
    perModel(input, (r) => r.measured.held),
    perModel(input, (r) => Math.min(...r.measured.stepSeconds)),
  ];
  const planned = m0.rows.some((r) => plannedBytes(r) !== undefined);
  return markdownTable(
    [
      'model',
      'depth',
      'params',
      'estimated peak',
      ...(planned ? ['planned by the backend'] : []),
      'measured peak (MiB)',
      'estimate error',
      'session held at the peak (MiB)',
      'measured, onnxruntime defaults (MiB)',
      'step time',
    ],
    m0.rows.map((r, i) => [
      r.model,
      r.depth,
      r.params.toLocaleString('en-US'),
      mib(r.estimate.peak),
      ...(planned ? [mib(plannedBytes(r) ?? Number.NaN)] : []),
      mibSpread(measured[i]!),
      signedPercent(relativeError(r.estimate.peak, mean(measured[i]!))),
      mibSpread(held[i]!),
      arena[i]!.some(Number.isFinite) ? mibSpread(arena[i]!) : 'not measured',
      `${Math.min(...steps[i]!).toFixed(1)} s`,
    ]),
  );
}

function growthTable(input: ReportInput<MemoryMeasurement>): string {
  const rows = FAMILIES.flatMap((f) => {
    const measured = input.full.map((s) => growthOf(s.measurement, f, measuredPeak));
    const estimated = growthOf(input.full[0]!.measurement, f, estimatedPeak);
    if (!estimated || measured.some((g) => !g)) return [];
    const ms = measured as DepthGrowth[];
    const perLayer = estimated.perLayer.map((_, i) =>
      spread(
        ms.map((g) => g.perLayer[i]!),
        (x) => (x / MIB).toFixed(2),
      ),
    );
    return [
      [
        f,
        family(input.full[0]!.measurement, f)
          .map((r) => r.depth)
          .join(' / '),
        perLayer.join(' then '),
        ms[0]!.perLayer.length > 1 ? factorSpread(ms.map((g) => g.rise)) : 'n/a',
        spread(
          ms.map((g) => g.exponent),
          (x) => x.toFixed(2),
        ),
        estimated.perLayer.map(mib).join(' / '),
        estimated.perLayer.length > 1 ? `${estimated.rise.toFixed(2)}x` : 'n/a',
        estimated.exponent.toFixed(2),
      ],
    ];
  });
  if (rows.length === 0)
    return 'Growth with depth needs at least two depths per family; this budget measures fewer.';
  return [
    'Growth with depth (bytes of peak per added layer between consecutive depths, in MiB; the rise is the last interval over the first: 1 for linear growth, above 1 for quadratic; the exponent is the log-log slope from the shallowest to the deepest net):',
    '',
    markdownTable(
      [
        'family',
        'depths',
        'measured per layer (MiB)',
        'rise',
        'exponent',
        'estimated per layer',
        'rise',
        'exponent',
      ],
      rows,
    ),
  ].join('\n');
}

function accuracyTable(input: ReportInput<MemoryMeasurement>): string {
  const b = BUDGETS[input.budget];
  const m0 = input.full[0]!.measurement;
  const acc = perModel(input, (r) => r.testAccuracy);
  return [
    `Accuracy, to pair nets of similar accuracy: test accuracy after ${b.epochs} epoch${b.epochs === 1 ? '' : 's'} on the first ${b.train} training images (tested on ${b.test}), and the published CIFAR-10 error with standard augmentation:`,
    '',
    markdownTable(
      ['model', 'params', 'test accuracy (this run)', 'published CIFAR-10+ error'],
      m0.rows.map((r, i) => [
        r.model,
        r.params.toLocaleString('en-US'),
        acc[i]!.some(Number.isFinite) ? spread(acc[i]!, (x) => percent(x)) : 'not trained',
        r.published ? `${percent(r.published.error)} (${r.published.source})` : 'not published',
      ]),
    ),
  ].join('\n');
}

function results(input: ReportInput<MemoryMeasurement>): string {
  const m0 = input.full[0]!.measurement;
  const [, h, w] = m0.input;
  return [
    `Peak memory of one training step at batch ${m0.batch}, ${m0.input.join('x')} inputs, ${m0.classes} classes; measured peaks over ${input.full.length} repeats (mean ± sd [95% interval]):`,
    '',
    peakTable(input),
    '',
    'The estimate error is (estimated - measured) / measured, against the mean measurement: negative where convlab estimates too little. ' +
      "The estimate models eager, PyTorch-style execution: each op's saved tensors, its output gradient and its input gradient. " +
      'onnxruntime runs the step graph in an order of its own, and its backward ops take workspace the estimate leaves out ' +
      "(for instance the transposed copy of a convolution's input that convlab's weight gradient may take); the measurement includes both. " +
      "'Session held at the peak' is everything the open session held above the process's baseline at the step's peak: the peak plus the session's own structures (graph, kernels, plans). " +
      'A backend that plans its memory (the native oneDNN backend places every buffer once, in arenas, by liveness) reports the bytes it planned; that column appears where it did.',
    '',
    growthTable(input),
    '',
    accuracyTable(input),
    '',
    `For scale: Pleiss et al. report 2.863 GB for the naive DenseNet-BC-100 at batch 64 on 32x32 CIFAR images (PyTorch on a GPU), and 1.605 GB for their memory-efficient version. ` +
      `Every feature map here has ${h}x${w} = ${((h * w) / (32 * 32)).toFixed(2)} of their pixels (the input's channel count changes only the first convolution), so their naive figure scaled by pixels is roughly ${((2.863e9 * h * w) / (32 * 32) / MIB).toFixed(0)} MiB.`,
  ].join('\n');
}

function setup(input: ReportInput<MemoryMeasurement>): string {
  const b = BUDGETS[input.budget];
  const m0 = input.full[0]!.measurement;
  const depths = (f: Family) =>
    family(m0, f)
      .map((r) => r.depth)
      .join(', ');
  return [
    `Models: DenseNet-BC with growth rate k = 12 (Huang et al. 2017: a 3x3 stem to 2k channels, three dense blocks of n bottleneck layers BN-ReLU-1x1 conv to 4k-BN-ReLU-3x3 conv to k, transitions that halve the channels, depth 6n + 4) at depths ${depths('DenseNet-BC')}, ` +
      `and the CIFAR ResNets of He et al. 2016 (option-A shortcuts, depth 6n + 2) at depths ${depths('ResNet')}, built for ${m0.input.join('x')} ${input.data.name} images and ${m0.classes} classes. ` +
      `Each DenseNet layer concatenates every earlier map of its block into a new tensor that its first BatchNorm saves for backward, as a naive implementation (torchvision's without memory_efficient) does; convlab's training graph does the same.`,
    `Estimate: \`convlab memory MODEL --batch ${m0.batch} --mode train --optimizer momentum\` (src/analysis/memory.ts, the naive strategy): liveness over the forward and backward pass with what each op saves for backward, plus parameters, buffers, gradients and one velocity per parameter.`,
    `Measured (backend: ${m0.backend}): ${b.steps} training step${b.steps === 1 ? '' : 's'} of convlab's compiled training graph (forward, loss, backward and the SGD update in one onnxruntime graph; Nesterov momentum, one batch of ${m0.batch} training images picked by the seed) in a fresh Node process per model and allocator; each seed is one such repeat of every measurement. ` +
      "The peak is the process's peak resident set (VmHWM in /proc/self/status, reset through /proc/self/clear_refs once the session rests) minus its resident set at that moment, plus the bytes of the state fed to the step (weights, buffers, velocities), which were allocated before it. " +
      'Left out: what the open session holds at rest besides the state (its graph, kernels and execution plan, several to tens of MiB, growing with the node count, not the batch), which no feature-map estimate models. ' +
      'Before the measurement, one step of the family’s shallowest net at batch 1 pages in onnxruntime’s kernels and starts its thread pool.',
    "Which allocator: onnxruntime's defaults (enableCpuMemArena, enableMemPattern; convlab's sessions keep them) hold more than is live: the BFC arena grows in power-of-two chunks and keeps them, and from the second run the memory pattern allocates one pre-planned block for all intermediates while the arena still holds the first run's chunks. " +
      'The measured peak therefore turns both off, so every tensor is its own allocation, and runs the child with glibc’s mmap threshold pinned at 64 KiB (MALLOC_MMAP_THRESHOLD_), so every feature map is mapped when allocated and unmapped when freed: the resident set follows the live tensors. ' +
      `${b.arena ? "The column 'measured, onnxruntime defaults' is the same measurement with the defaults, what `convlab train` holds." : 'This budget does not measure the defaults.'}`,
    `The half budget measures every model again at batch ${b.batch / 2}: the growth with depth, the claim, should not depend on the batch.`,
    b.trained.length
      ? `Accuracy: ${b.trained.join(', ')} trained on the first ${b.train} training images for ${b.epochs} epoch${b.epochs === 1 ? '' : 's'} (batch ${b.trainBatch}, SGD with Nesterov momentum 0.9, weight decay 5e-4, lr 0.1 with a cosine decay, no augmentation), tested on the first ${b.test} test images; that leaves every net far from converged, so the published CIFAR-10 errors are the better guide to pairing nets of similar accuracy. The other nets are not trained, to stay within the budget.`
      : 'This budget trains no net for its accuracy.',
  ].join('\n\n');
}

function report(input: ReportInput<MemoryMeasurement>) {
  const seeds = input.full.map((s) => s.measurement);
  const rise = (f: Family, pick: (r: MemoryRow) => number) =>
    factorSpread(seeds.map((m) => growthOf(m, f, pick)?.rise ?? Number.NaN));
  const m0 = seeds[0]!;
  const [deepDense, deepRes] = [family(m0, 'DenseNet-BC').at(-1)!, family(m0, 'ResNet').at(-1)!];
  const peak = (model: string) =>
    mean(seeds.map((m) => m.rows.find((r) => r.model === model)!.measured.peak));
  const errors = m0.rows.map((r) => relativeError(r.estimate.peak, peak(r.model)));
  const finding =
    `The measured peak per added layer rose ${rise('DenseNet-BC', measuredPeak)} from the shallower depth interval to the deeper for DenseNet-BC and ` +
    `${rise('ResNet', measuredPeak)} for the ResNets (${seeds.length} repeats; 1x is linear growth). ` +
    `${deepDense.model} peaks at ${mib(peak(deepDense.model))}, ${(peak(deepDense.model) / peak(deepRes.model)).toFixed(1)}x ${deepRes.model}'s ${mib(peak(deepRes.model))}, with ${(deepDense.params / deepRes.params).toFixed(2)}x its parameters. ` +
    `The estimate is ${signedPercent(Math.min(...errors))} to ${signedPercent(Math.max(...errors))} off the measured peaks, and predicts rises of ${rise('DenseNet-BC', estimatedPeak)} and ${rise('ResNet', estimatedPeak)}.`;
  return {
    finding,
    setup: setup(input),
    results: results(input),
    figures: figures(input),
    raw: {
      budget: BUDGETS[input.budget],
      growth: seeds.map((m) =>
        Object.fromEntries(
          FAMILIES.map((f) => [
            f,
            { measured: growthOf(m, f, measuredPeak), estimated: growthOf(m, f, estimatedPeak) },
          ]),
        ),
      ),
    },
  };
}

export const densenetMemory: Experiment<MemoryMeasurement> = registerExperiment({
  name: 'densenet-memory',
  title: 'A naive DenseNet’s training memory grows quadratically with depth; a ResNet’s linearly',
  claim:
    '"A naive DenseNet implementation can require a significant amount of GPU memory: If not properly managed, pre-activation batch normalization and contiguous convolution operations can produce feature maps that grow quadratically with network depth." (Pleiss, Chen, Huang, Li, van der Maaten and Weinberger, "Memory-Efficient Implementation of DenseNets", 2017, abstract; their shared-memory implementation brings it "from quadratic to linear".) ' +
    'The network is the DenseNet-BC of Huang, Liu, van der Maaten and Weinberger, "Densely Connected Convolutional Networks", CVPR 2017, in which layer l reads "[x0, x1, ..., xl-1]", "the concatenation of the feature-maps produced in layers 0, ..., l-1" (section 3). A ResNet of the same depth adds a fixed set of feature maps per layer, so its memory grows linearly.',
  budgets: BUDGETS,
  seeds: { quick: 2, full: 3 },
  half: { kind: 'rerun', describe: 'every model measured again at half the batch' },
  rules: RULES,
  measure,
  effects,
  report,
});
