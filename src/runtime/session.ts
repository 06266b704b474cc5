import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { ConvlabError } from '../ir/errors.js';
import type { OnnxTarget } from '../ir/op.js';
import { nchwcBlockSize, nchwcTarget } from './nchwc.js';

/**
 * onnxruntime sessions as convlab runs them: every graph optimisation on (constant folding,
 * Conv+BatchNormalization and Conv+activation fusion, the NCHWc layout on AVX-512), one
 * intra-op thread per core, nodes run in order. All tensor arithmetic happens inside onnxruntime.
 */

export interface SessionOptions {
  /** Intra-op threads; default: every core. */
  readonly threads?: number;
  /**
   * onnxruntime's CPU arena and memory-pattern planning (default on: fastest). Off, every tensor
   * is allocated and freed on its own, so the process's resident memory follows the live tensors
   * (what a memory measurement wants).
   */
  readonly arena?: boolean;
}

export const defaultThreads = (): number => availableParallelism();

export function sessionOptions(options: SessionOptions = {}): ort.InferenceSession.SessionOptions {
  return {
    graphOptimizationLevel: 'all',
    intraOpNumThreads: options.threads ?? defaultThreads(),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    enableCpuMemArena: options.arena ?? true,
    enableMemPattern: options.arena ?? true,
    // Warnings about initializers that optimisation made unused are noise on a user's stderr.
    logSeverityLevel: 3,
  };
}

/**
 * The target for graphs this process's onnxruntime will run with weights as graph inputs (a
 * training step's): its channel-blocked convolution kernels where its build and this CPU have them.
 */
export const onnxruntimeTarget = async (): Promise<OnnxTarget> => nchwcTarget(await nchwcBlockSize());

/** Open an ONNX model from its bytes; a corrupt or unsupported file is a user error (exit code 2). */
export async function openSession(
  model: Uint8Array,
  options: SessionOptions = {},
  source = 'the ONNX model',
): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(model, sessionOptions(options));
  } catch (e) {
    throw new ConvlabError(`cannot load ${source}: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** A float32 NCHW batch (or any float32 tensor) for a session's input. */
export const floatTensor = (data: Float32Array, shape: readonly number[]): ort.Tensor =>
  new ort.Tensor('float32', data, [...shape]);

/** Run one batch through a single-input model and return its outputs by name as float32 arrays. */
export async function runBatch(
  session: ort.InferenceSession,
  data: Float32Array,
  shape: readonly number[],
): Promise<Map<string, { data: Float32Array; shape: readonly number[] }>> {
  const [input] = session.inputNames;
  if (session.inputNames.length !== 1 || input === undefined) {
    throw new ConvlabError(
      `runBatch needs a model with one input, this one has ${session.inputNames.length}`,
    );
  }
  let results: ort.InferenceSession.ReturnType;
  try {
    results = await session.run({ [input]: floatTensor(data, shape) });
  } catch (e) {
    throw new ConvlabError(
      `onnxruntime cannot run a batch of shape [${shape.join(',')}]: ${(e as Error).message.split('\n')[0]}`,
    );
  }
  const out = new Map<string, { data: Float32Array; shape: readonly number[] }>();
  for (const name of session.outputNames) {
    const t = results[name]!;
    out.set(name, { data: t.data as Float32Array, shape: t.dims });
  }
  return out;
}
