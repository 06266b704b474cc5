import { ConvlabError } from '../ir/errors.js';
import { BENCHMARKS, type BenchMode } from '../train/bench.js';
import type { Command, Values } from './command.js';
import { json, table } from './format.js';
import { BACKEND_OPTION, backendOf, batchOf, loadModel, MODEL_OPTIONS, positiveInt } from './options.js';

const optionalInt = (values: Values, option: string): number | undefined =>
  values[option] === undefined ? undefined : positiveInt(values[option] as string, option, 1);

const isMode = (mode: string): mode is BenchMode => Object.hasOwn(BENCHMARKS, mode);

export const bench: Command = {
  name: 'bench',
  usage:
    'convlab bench (infer|train) MODEL [--batch B] [--runs R] [--warmup W] [--threads T] [--input CxHxW] [--backend onnxruntime|onednn] [--json]',
  summary: 'throughput on onnxruntime: median, min and max time per batch, images/s, GFLOP/s',
  options: {
    ...MODEL_OPTIONS,
    ...BACKEND_OPTION,
    runs: { type: 'string' },
    warmup: { type: 'string' },
    threads: { type: 'string' },
  },
  positionals: [2, 2],
  async run([mode, model], values, io) {
    if (!isMode(mode!)) {
      throw new ConvlabError(`unknown bench mode '${mode}'; modes: ${Object.keys(BENCHMARKS).join(', ')}`);
    }
    if (mode === 'infer' && values['backend'] !== undefined && values['backend'] !== 'onnxruntime') {
      throw new ConvlabError('bench infer runs on onnxruntime; --backend applies to bench train');
    }
    const backend = mode === 'train' ? await backendOf(values) : undefined;
    const graph = loadModel(model!, values);
    const runs = optionalInt(values, 'runs');
    const threads = optionalInt(values, 'threads');
    const warmup = values['warmup'] === '0' ? 0 : optionalInt(values, 'warmup');
    io.stderr(`benchmarking ${graph.name} (${mode}, batch ${batchOf(values)})...`);
    const result = await BENCHMARKS[mode](graph, {
      batch: batchOf(values),
      ...(runs !== undefined ? { runs } : {}),
      ...(warmup !== undefined ? { warmup } : {}),
      ...(threads !== undefined ? { threads } : {}),
      ...(backend && { backend }),
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
