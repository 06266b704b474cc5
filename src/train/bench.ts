import type { OptimizerSpec } from '../autodiff/optimizer.js';
import type { Graph } from '../ir/graph.js';
import { resolveGraph } from '../ir/resolve.js';
import { exportOnnx } from '../onnx/export.js';
import { defaultThreads, openSession } from '../runtime/session.js';
import type { BackendName, TrainingBackend } from './backend.js';
import { SGD } from './config.js';
import { onnxruntimeBackend } from './step.js';
import { randomBatch, type Timing, type TimingOptions, timeRuns, timeSession } from './timing.js';

/** `convlab bench`: throughput of inference and of whole training steps on a seeded batch. */

export type BenchMode = 'infer' | 'train';

export interface BenchResult {
  readonly model: string;
  readonly batch: number;
  readonly mode: BenchMode;
  /** What ran it: inference always runs on onnxruntime; training on the chosen training backend. */
  readonly backend: BackendName;
  readonly imagesPerSec: number;
  /** 2 * MACs / median time, in GFLOP/s: the multiply-accumulates of conv and linear layers, each two FLOPs. */
  readonly gflops: number;
  readonly ms: Timing;
  readonly runs: number;
  readonly threads: number;
  readonly macs: number;
}

export interface BenchOptions extends TimingOptions {
  readonly batch: number;
  readonly threads?: number;
  readonly seed?: number;
  /** What computes the training steps (default: onnxruntime). */
  readonly backend?: TrainingBackend;
}

/**
 * What `bench train` measures, as bench/torch_train.py does in PyTorch: `convlab train`'s SGD
 * (momentum 0.9, weight decay 5e-4) with plain momentum, as torch.optim.SGD defaults to.
 */
export const BENCH_OPTIMIZER: OptimizerSpec = { ...SGD, nesterov: false };

/** Inference throughput of convlab's own export of `graph`, run by onnxruntime with every optimisation. */
export async function benchInfer(graph: Graph, options: BenchOptions): Promise<BenchResult> {
  const r = resolveGraph(graph, { batch: options.batch });
  const macs = r.nodes.reduce((s, n) => s + (n.inference ? n.macs : 0), 0);
  const threads = options.threads ?? defaultThreads();
  const session = await openSession(exportOnnx(r, { mode: 'infer', seed: options.seed ?? 0 }), { threads });
  try {
    const { ms, runs } = await timeSession(session, r.nodes[0]!.ctx.output, options);
    return {
      model: graph.name,
      batch: options.batch,
      mode: 'infer',
      backend: 'onnxruntime',
      imagesPerSec: options.batch / (ms.median / 1000),
      gflops: (2 * macs) / (ms.median / 1000) / 1e9,
      ms,
      runs,
      threads,
      macs,
    };
  } finally {
    await session.release();
  }
}

/**
 * Training throughput: whole training steps (train-mode forward, loss, backward, SGD update: the step
 * `convlab train` runs, on the chosen backend) on a seeded random batch with seeded labels, timed
 * after a warm-up; images/s from the median step. The learning rate is 0, so the weights (and with
 * them the arithmetic) stay the same from step to step and no step can drift into overflow or
 * denormals; the backend cannot know that and does every operation. `gflops` counts the conv and linear layers'
 * multiply-accumulates three times (forward, input gradient, weight gradient), two FLOPs each, over
 * every head the step trains (auxiliary heads included).
 */
export async function benchTrain(graph: Graph, options: BenchOptions): Promise<BenchResult> {
  const { batch } = options;
  const r = resolveGraph(graph, { batch });
  const macs = r.nodes.reduce((s, n) => s + n.macs, 0);
  const threads = options.threads ?? defaultThreads();
  const backend = options.backend ?? onnxruntimeBackend;
  const session = await backend.create(
    graph,
    { batch, optimizer: BENCH_OPTIMIZER },
    { seed: options.seed ?? 0 },
    { threads },
  );
  try {
    const shape = r.nodes[0]!.ctx.output;
    const images = { data: randomBatch(shape, options.seed ?? 0), dims: shape };
    const classes = r.byName.get(r.outputs.find((o) => o.role === 'main')!.node)!.ctx.output[1]!;
    const labels = Int32Array.from({ length: batch }, (_, i) => (i * 7919) % classes);
    let step = 0;
    const { ms, runs } = await timeRuns(() => session.step(images, labels, 0, ++step), options);
    return {
      model: graph.name,
      batch,
      mode: 'train',
      backend: backend.name,
      imagesPerSec: batch / (ms.median / 1000),
      gflops: (3 * 2 * macs) / (ms.median / 1000) / 1e9,
      ms,
      runs,
      threads,
      macs,
    };
  } finally {
    await session.release();
  }
}

/** What each mode measures: an inference batch, or one whole training step as one onnxruntime graph. */
export const BENCHMARKS: Readonly<
  Record<BenchMode, (graph: Graph, options: BenchOptions) => Promise<BenchResult>>
> = { infer: benchInfer, train: benchTrain };
