import * as ort from 'onnxruntime-node';
import { trainingGraph } from '../../src/autodiff/training_graph.js';
import type { Graph } from '../../src/ir/graph.js';
import { initTensor, Rng } from '../../src/ir/init.js';
import type { OnnxTarget } from '../../src/ir/op.js';
import { numel } from '../../src/ir/shape.js';

/**
 * Gradients from the compiled training graph, read back through plain SGD (lr 1, no momentum, no
 * weight decay: next = w - grad), against central finite differences of the same graph's loss
 * (lr 0) on a sample of coordinates of every parameter.
 */
export async function gradientCheck(
  graph: Graph,
  options: { batch?: number; seed?: number; samples?: number; inputScale?: number; target?: OnnxTarget } = {},
) {
  const batch = options.batch ?? 2;
  const tg = trainingGraph(graph, {
    batch,
    optimizer: { kind: 'sgd', momentum: 0, nesterov: false, weightDecay: 0 },
    ...(options.target && { target: options.target }),
  });
  const session = await ort.InferenceSession.create(tg.model, {
    graphOptimizationLevel: 'disabled',
    intraOpNumThreads: 1,
    logSeverityLevel: 3,
  });
  const rng = new Rng(options.seed ?? 1, 'gradcheck');
  const shape = [batch, ...(graph.nodes[0]!.attrs['shape'] as number[])];
  const images = Float32Array.from(
    { length: numel(shape) },
    () => (rng.uniform() * 2 - 1) * (options.inputScale ?? 1),
  );
  const labels = Int32Array.from({ length: batch }, (_, i) => i % 3);
  const params = new Map<string, Float32Array | BigInt64Array>();
  for (const s of tg.state) {
    params.set(
      s.name,
      s.kind === 'optimizer'
        ? new Float32Array(numel(s.shape))
        : initTensor(s.spec!, s.spec!.init, new Rng(3, s.name)),
    );
  }
  const run = async (lr: number) => {
    const feeds: Record<string, ort.Tensor> = {
      [tg.inputs.images]: new ort.Tensor('float32', images, shape),
      [tg.inputs.labels]: new ort.Tensor('int32', labels, [batch]),
      [tg.inputs.lr]: new ort.Tensor('float32', Float32Array.of(lr), []),
      [tg.inputs.step]: new ort.Tensor('float32', Float32Array.of(1), []),
    };
    for (const s of tg.state) {
      const data = params.get(s.name)!;
      feeds[s.name] = new ort.Tensor(data instanceof BigInt64Array ? 'int64' : 'float32', data, [...s.shape]);
    }
    return session.run(feeds);
  };
  const analytic = await run(1);
  const lossAt = async () => ((await run(0))[tg.outputs.loss]!.data as Float32Array)[0]!;
  const slope = async (w: Float32Array, i: number, h: number) => {
    const original = w[i]!;
    w[i] = original + h;
    const plus = await lossAt();
    w[i] = original - h;
    const minus = await lossAt();
    w[i] = original;
    return (plus - minus) / (2 * h);
  };
  const report: { name: string; worst: number; checked: number; sampled: number }[] = [];
  for (const s of tg.state.filter((t) => t.kind === 'param')) {
    const w = params.get(s.name) as Float32Array;
    const next = analytic[s.next]!.data as Float32Array;
    const sampled = Math.min(w.length, options.samples ?? 6);
    let worst = 0;
    let checked = 0;
    for (let k = 0; k < sampled; k++) {
      const i = Math.floor((k * w.length) / sampled);
      const grad = w[i]! - next[i]!;
      const h = 1e-3 * Math.max(1, Math.abs(w[i]!));
      const [coarse, fine] = [await slope(w, i, h), await slope(w, i, h / 4)];
      // Two step sizes that disagree mean a kink (ReLU, a max switching) lies within the step:
      // the finite difference says nothing there, so the coordinate is skipped.
      const scale = Math.max(1e-2, Math.abs(coarse), Math.abs(fine));
      // (float32 losses make the finer estimate noisy by about 1e-3 in absolute terms).
      if (Math.abs(coarse - fine) > 1e-2 * scale + 2e-3) continue;
      checked++;
      worst = Math.max(worst, Math.abs(grad - coarse) / Math.max(1e-2, Math.abs(coarse), Math.abs(grad)));
    }
    report.push({ name: s.name, worst, checked, sampled });
  }
  await session.release();
  return report;
}
