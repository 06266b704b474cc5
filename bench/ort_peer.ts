/**
 * onnxruntime on someone else's ONNX file: the best this engine does with PyTorch's own export of
 * a torchvision model (torch.onnx.export, written by bench/torch_infer.py --export). Same session
 * options and timing as `convlab bench infer`, so the two differ only in the graph.
 *
 *   npx tsx bench/ort_peer.ts FILE.onnx --batch 8 [--input 3x224x224] [--threads 2] [--json]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { InferenceSession } from 'onnxruntime-node';
import { defaultThreads, openSession } from '../src/runtime/session.js';
import { type Timing, type TimingOptions, timeSession } from '../src/train/timing.js';

export interface PeerResult {
  readonly file: string;
  readonly batch: number;
  readonly imagesPerSec: number;
  readonly ms: Timing;
  readonly runs: number;
  readonly threads: number;
}

export const openPeer = (file: string, threads = defaultThreads()): Promise<InferenceSession> =>
  openSession(readFileSync(file), { threads }, file);

export async function benchOnnxFile(
  file: string,
  shape: readonly number[],
  options: TimingOptions & { threads?: number } = {},
): Promise<PeerResult> {
  const threads = options.threads ?? defaultThreads();
  const session = await openPeer(file, threads);
  try {
    const { ms, runs } = await timeSession(session, shape, options);
    return { file, batch: shape[0]!, imagesPerSec: shape[0]! / (ms.median / 1000), ms, runs, threads };
  } finally {
    await session.release();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      batch: { type: 'string', default: '1' },
      input: { type: 'string', default: '3x224x224' },
      threads: { type: 'string' },
      runs: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const file = positionals[0];
  if (!file) {
    process.stderr.write(
      'usage: tsx bench/ort_peer.ts FILE.onnx --batch B [--input CxHxW] [--threads T] [--json]\n',
    );
    process.exit(2);
  }
  const shape = [Number(values.batch), ...values.input.split('x').map(Number)];
  const result = await benchOnnxFile(file, shape, {
    ...(values.threads ? { threads: Number(values.threads) } : {}),
    ...(values.runs ? { runs: Number(values.runs) } : {}),
  });
  process.stdout.write(
    values.json
      ? `${JSON.stringify(result)}\n`
      : `${file} batch ${result.batch}: ${result.imagesPerSec.toFixed(1)} images/s (median ${result.ms.median.toFixed(1)} ms, ${result.runs} runs, ${result.threads} threads)\n`,
  );
}
