/**
 * The library: src/api.ts's functions (build, summarize, receptiveField, memory, run, train) with
 * the types they take and return, and the modules under them for finer work (the graph IR, ops,
 * the zoo, the analyses, ONNX export, weights files). Importing it loads no native runtime:
 * onnxruntime loads when `run` or `train` is first called.
 */
export * from './analysis/memory.js';
export * from './analysis/receptive_field.js';
export * from './analysis/receptive_field_check.js';
export * from './analysis/summary.js';
export * from './api.js';
export * from './ir/index.js';
export type { WeightData } from './ir/init.js';
export { type ExportOptions, exportOnnx } from './onnx/export.js';
export * from './ops/index.js';
export type { InferOptions, InputBatch } from './runtime/infer.js';
export {
  type HostTensor,
  readSafetensors,
  readSafetensorsFile,
  type Safetensors,
  writeSafetensors,
} from './runtime/safetensors.js';
export { fitAuxHeads, matchWeights } from './runtime/weights.js';
export type {
  BackendName,
  ImageBatch,
  InitialState,
  StateEntry,
  StepOptions,
  StepResult,
  StepSession,
  TrainingBackend,
} from './train/backend.js';
export {
  ADAMW,
  type Augmentation,
  DEFAULTS,
  SGD,
  type TrainConfig,
  type TrainOverrides,
} from './train/config.js';
export type { TrainResult } from './train/loop.js';
export type { EpochRecord, StepRecord } from './train/metrics.js';
export { lineSink, type ProgressSink, streamSink } from './train/progress.js';
export * from './zoo/index.js';
