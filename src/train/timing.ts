import type { InferenceSession } from 'onnxruntime-node';
import { Rng } from '../ir/init.js';
import { numel } from '../ir/shape.js';
import { floatTensor } from '../runtime/session.js';

/** Timing of repeated runs, for `convlab bench` and the bench/ scripts. */

export interface Timing {
  readonly median: number;
  readonly min: number;
  readonly max: number;
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
