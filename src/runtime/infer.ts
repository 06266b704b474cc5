import type { Graph } from '../ir/graph.js';
import type { WeightData } from '../ir/init.js';
import type { ResolvedGraph } from '../ir/resolve.js';
import { exportOnnx } from '../onnx/export.js';
import { openSession, runBatch, type SessionOptions } from './session.js';

/** A batch of inputs, NCHW float32 (onnxruntime's float32 tensor passes as is). */
export interface InputBatch {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

export interface InferOptions {
  /** Values by parameter and buffer name; anything absent is initialised from `seed`. */
  readonly weights?: ReadonlyMap<string, WeightData>;
  readonly seed?: number;
  readonly session?: SessionOptions;
}

/**
 * One batch through the model's inference export (auxiliary heads dropped) on onnxruntime: its
 * outputs by name. The session lives for this batch only.
 */
export async function infer(
  graph: Graph | ResolvedGraph,
  input: InputBatch,
  options: InferOptions = {},
): Promise<Map<string, { data: Float32Array; shape: readonly number[] }>> {
  const model = exportOnnx(graph, {
    mode: 'infer',
    ...(options.weights && { weights: options.weights }),
    ...(options.seed !== undefined && { seed: options.seed }),
  });
  const session = await openSession(model, options.session);
  try {
    return await runBatch(session, input.data, input.dims);
  } finally {
    await session.release();
  }
}
