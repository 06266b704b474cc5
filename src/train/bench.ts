import * as ort from 'onnxruntime-node';
import type { BenchOptions, BenchResult } from '../cli/bench.js';
import { randomBatch, timeRuns } from '../cli/bench.js';
import type { Graph } from '../ir/graph.js';
import { resolveGraph } from '../ir/resolve.js';
import { defaultThreads } from '../runtime/session.js';
import { TrainingSession } from './step.js';

/** What `bench train` measures, as bench/torch_train.py does in PyTorch: SGD, momentum 0.9, weight decay 5e-4. */
export const BENCH_OPTIMIZER = { kind: 'sgd', momentum: 0.9, nesterov: false, weightDecay: 5e-4 } as const;

/**
 * Training throughput: whole training steps (train-mode forward, loss, backward, SGD update: the one
 * onnxruntime graph `convlab train` runs) on a seeded random batch with seeded labels, timed after a
 * warm-up; images/s from the median step. The learning rate is 0, so the weights (and with them the
 * arithmetic) stay the same from step to step and no step can drift into overflow or denormals;
 * onnxruntime cannot know that and does every operation. `gflops` counts the conv and linear layers'
 * multiply-accumulates three times (forward, input gradient, weight gradient), two FLOPs each, over
 * every head the step trains (auxiliary heads included).
 */
export async function benchTrain(graph: Graph, options: BenchOptions): Promise<BenchResult> {
  const { batch } = options;
  const r = resolveGraph(graph, { batch });
  const macs = r.nodes.reduce((s, n) => s + n.macs, 0);
  const threads = options.threads ?? defaultThreads();
  const session = await TrainingSession.create(
    graph,
    { batch, optimizer: BENCH_OPTIMIZER },
    { seed: options.seed ?? 0 },
    { threads },
  );
  try {
    const shape = r.nodes[0]!.ctx.output;
    const images = new ort.Tensor('float32', randomBatch(shape, options.seed ?? 0), [...shape]);
    const classes = r.byName.get(r.outputs.find((o) => o.role === 'main')!.node)!.ctx.output[1]!;
    const labels = Int32Array.from({ length: batch }, (_, i) => (i * 7919) % classes);
    let step = 0;
    const { ms, runs } = await timeRuns(() => session.step(images, labels, 0, ++step), options);
    return {
      model: graph.name,
      batch,
      mode: 'train',
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
