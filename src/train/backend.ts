import type { TrainingGraphOptions } from '../autodiff/training_graph.js';
import type { Graph } from '../ir/graph.js';
import type { WeightData } from '../ir/init.js';
import type { Shape } from '../ir/shape.js';
import type { SessionOptions } from '../runtime/session.js';

/**
 * The seam between training and what computes a training step. The loop, checkpoints, the
 * evaluation and `bench train` see a model being trained only through `StepSession`: a step on a
 * batch, and the state (weights, buffers, optimiser slots) by the names torch's state_dict and
 * torch.optim give them. A backend compiles a model into such a session:
 *
 * - `onnxruntime` (train/step.ts): convlab's autodiff emits one ONNX graph per step (forward, loss,
 *   backward, update) and onnxruntime runs it;
 * - `onednn`: the native backend (a oneDNN binding; its adapter implements this interface in
 *   src/train, over the executor in src/native).
 *
 * Both must give the same results as far as float arithmetic allows; a checkpoint written by one
 * resumes on the other, since the state crosses this seam by name and as plain typed arrays.
 */

/** The backends `--backend` names; whether each is available is backends.ts's business. */
export const BACKENDS = ['onnxruntime', 'onednn'] as const;
export type BackendName = (typeof BACKENDS)[number];

/**
 * A batch of normalised images, NCHW, float32, row-major: plain data, so every backend takes it
 * without a copy (onnxruntime wraps `data` in a tensor, a native backend reads it in place). The
 * fields are those of onnxruntime's float32 tensor, so the augmentation graph's output passes as is.
 */
export interface ImageBatch {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

/** What a step session is compiled for (training_graph.ts documents each field). */
export type StepOptions = Pick<
  TrainingGraphOptions,
  'batch' | 'optimizer' | 'labelSmoothing' | 'auxWeight' | 'probes' | 'seed'
>;

/** Where a session's state starts: a checkpoint's tensors by name, else each initialiser with `seed`. */
export interface InitialState {
  readonly seed: number;
  readonly weights?: ReadonlyMap<string, WeightData>;
}

/** One tensor of the state a session carries from step to step. */
export interface StateEntry {
  readonly name: string;
  readonly shape: Shape;
  readonly kind: 'param' | 'buffer' | 'optimizer';
}

export interface StepResult {
  /** The batch's mean loss (label smoothing and auxiliary heads included, as optimised). */
  readonly loss: number;
  /** Correctly classified samples of the batch (main head). */
  readonly correct: number;
  /** The step's probe values by output name (empty unless compiled with probes). */
  readonly probes: ReadonlyMap<string, number>;
}

/** A model being trained. */
export interface StepSession {
  /** The backend that runs it, as `--backend` names it. */
  readonly backend: BackendName;
  /** Every tensor of the state, in a fixed order: parameters, buffers and optimiser slots. */
  readonly state: readonly StateEntry[];
  /** One step: forward, loss, backward and update, on a full batch; `step` is 1-based. */
  step(images: ImageBatch, labels: Int32Array, lr: number, step: number): Promise<StepResult>;
  /**
   * The current state by name. The arrays may be the session's own: read them before the next
   * step or `release`, and never write into them.
   */
  snapshot(): Map<string, WeightData>;
  /** Replace the named tensors of the state (others stay); the session never writes into them. */
  restore(state: ReadonlyMap<string, WeightData>): void;
  /** Bytes of the state the session carries. */
  readonly stateBytes: number;
  release(): Promise<void>;
}

export interface TrainingBackend {
  readonly name: BackendName;
  /** Compile `model` for `options` and set its state from `init`. */
  create(
    model: Graph,
    options: StepOptions,
    init: InitialState,
    runtime?: SessionOptions,
  ): Promise<StepSession>;
}
