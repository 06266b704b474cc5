import type { InferenceSession } from 'onnxruntime-node';
import { ConvlabError } from '../ir/errors.js';
import type { Graph } from '../ir/graph.js';
import { Rng } from '../ir/init.js';
import { resolveGraph } from '../ir/resolve.js';
import { numel } from '../ir/shape.js';
import { exportOnnx } from '../onnx/export.js';
import { defaultThreads, floatTensor, openSession } from '../runtime/session.js';
import { benchTrain } from '../train/bench.js';
import type { Command, Values } from './command.js';
import { json, table } from './format.js';
import { batchOf, loadModel, MODEL_OPTIONS, positiveInt } from './options.js';

export interface Timing {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export interface BenchResult {
  readonly model: string;
  readonly batch: number;
  readonly mode: 'infer' | 'train';
  readonly imagesPerSec: number;
  /** 2 * MACs / median time, in GFLOP/s: the multiply-accumulates of conv and linear layers, each two FLOPs. */
  readonly gflops: number;
  readonly ms: Timing;
  readonly runs: number;
  readonly threads: number;
  readonly macs: number;
}

export interface TimingOptions {
  /** Untimed runs first: onnxruntime allocates and tunes on its first runs. */
  readonly warmup?: number;
  /** Timed runs; default: as many as fill `seconds`, at least 10. */
  readonly runs?: number;
  readonly seconds?: number;
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Time `run` after a warm-up: median, min and max milliseconds of the timed runs. */
export async function timeRuns(
  run: () => Promise<unknown>,
  options: TimingOptions = {},
): Promise<{ ms: Timing; runs: number }> {
  const warm: number[] = [];
  for (let i = 0; i < (options.warmup ?? 3); i++) {
    const t = performance.now();
    await run();
    warm.push(performance.now() - t);
  }
  const estimate = warm.length ? median(warm) : 1;
  const runs =
    options.runs ?? Math.min(200, Math.max(10, Math.ceil(((options.seconds ?? 5) * 1000) / estimate)));
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await run();
    times.push(performance.now() - t);
  }
  return { ms: { median: median(times), min: Math.min(...times), max: Math.max(...times) }, runs };
}

/** A seeded batch of standard-normal values (what a normalised image batch looks like). */
export function randomBatch(shape: readonly number[], seed = 0): Float32Array {
  const rng = new Rng(seed, 'input');
  return Float32Array.from({ length: numel(shape) }, () => rng.normal());
}

/** Time one ONNX session on a seeded batch of the given NCHW shape. */
export async function timeSession(
  session: InferenceSession,
  shape: readonly number[],
  options: TimingOptions = {},
): Promise<{ ms: Timing; runs: number }> {
  const feeds = { [session.inputNames[0]!]: floatTensor(randomBatch(shape), shape) };
  return timeRuns(() => session.run(feeds), options);
}

export interface BenchOptions extends TimingOptions {
  readonly batch: number;
  readonly threads?: number;
  readonly seed?: number;
}

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

type Mode = (graph: Graph, options: BenchOptions) => Promise<BenchResult>;

/** What each mode measures: an inference batch, or one whole training step as one onnxruntime graph. */
const MODES: Readonly<Record<string, Mode | undefined>> = {
  infer: benchInfer,
  train: benchTrain,
};

const optionalInt = (values: Values, option: string): number | undefined =>
  values[option] === undefined ? undefined : positiveInt(values[option] as string, option, 1);

export const bench: Command = {
  name: 'bench',
  usage:
    'convlab bench (infer|train) MODEL [--batch B] [--runs R] [--warmup W] [--threads T] [--input CxHxW] [--json]',
  summary: 'throughput on onnxruntime: median, min and max time per batch, images/s, GFLOP/s',
  options: {
    ...MODEL_OPTIONS,
    runs: { type: 'string' },
    warmup: { type: 'string' },
    threads: { type: 'string' },
  },
  positionals: [2, 2],
  async run([mode, model], values, io) {
    if (!(mode! in MODES)) {
      throw new ConvlabError(`unknown bench mode '${mode}'; modes: ${Object.keys(MODES).join(', ')}`);
    }
    const measure = MODES[mode!];
    if (!measure) throw new ConvlabError(`'bench ${mode}' is not available yet; 'bench infer' is`);
    const graph = loadModel(model!, values);
    const runs = optionalInt(values, 'runs');
    const threads = optionalInt(values, 'threads');
    const warmup = values['warmup'] === '0' ? 0 : optionalInt(values, 'warmup');
    io.stderr(`benchmarking ${graph.name} (${mode}, batch ${batchOf(values)})...`);
    const result = await measure(graph, {
      batch: batchOf(values),
      ...(runs !== undefined ? { runs } : {}),
      ...(warmup !== undefined ? { warmup } : {}),
      ...(threads !== undefined ? { threads } : {}),
    });
    if (values['json']) {
      io.stdout(json(result));
      return 0;
    }
    const f = (x: number) => x.toFixed(1);
    io.stdout(
      table(
        ['model', 'mode', 'batch', 'images/s', 'GFLOP/s', 'median ms', 'min ms', 'max ms', 'runs', 'threads'],
        [
          [
            result.model,
            result.mode,
            String(result.batch),
            f(result.imagesPerSec),
            f(result.gflops),
            f(result.ms.median),
            f(result.ms.min),
            f(result.ms.max),
            String(result.runs),
            String(result.threads),
          ],
        ],
        ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
      ),
    );
    return 0;
  },
};
