import type { Graph } from '../ir/graph.js';
import type { WeightData } from '../ir/init.js';
import { NativeStep } from '../native/executor.js';
import type { ArenaPlan } from '../native/program.js';
import { defaultThreads, type SessionOptions } from '../runtime/session.js';
import type {
  ImageBatch,
  InitialState,
  StateEntry,
  StepOptions,
  StepResult,
  StepSession,
  TrainingBackend,
} from './backend.js';

const NO_PROBES: ReadonlyMap<string, number> = new Map();

/**
 * A model being trained on the native oneDNN backend (src/native): one planned step program, its
 * primitives and buffers created once, the state in plain arrays shared with checkpoints by name.
 */
export class NativeSession implements StepSession {
  readonly backend = 'onednn';
  readonly state: readonly StateEntry[];

  private constructor(private readonly step_: NativeStep) {
    this.state = step_.state.entries;
  }

  static create(
    model: Graph,
    options: StepOptions,
    init: InitialState,
    runtime: SessionOptions = {},
  ): NativeSession {
    const step = new NativeStep(model, options, runtime.threads ?? defaultThreads());
    step.initialise(init.seed);
    if (init.weights) step.state.restore(init.weights);
    return new NativeSession(step);
  }

  /** What the session planned: the activation arena (placed by liveness) and the state. */
  get memory(): { readonly arenas: Readonly<Record<string, number>>; readonly plan: ArenaPlan } {
    const plan = this.step_.plan;
    return { arenas: { activations: plan.arenaBytes, state: this.stateBytes }, plan };
  }

  async step(images: ImageBatch, labels: Int32Array, lr: number, step: number): Promise<StepResult> {
    const { loss, correct } = this.step_.run(images.data, labels, lr, step);
    // A copy: callers keep each step's probes, and the step overwrites its own map.
    const probes = this.step_.options.probes ? new Map(this.step_.probeValues) : NO_PROBES;
    return { loss, correct, probes };
  }

  /** Milliseconds of one step by op ('conv2d', 'batchnorm2d', ..., 'loss', 'update'), timed step by step. */
  profile(images: ImageBatch, labels: Int32Array, lr: number, step: number): Map<string, number> {
    return this.step_.profile(images.data, labels, lr, step);
  }

  /** Each primitive of the step with the implementation oneDNN picked ('jit:avx512_core', 'ref:any'). */
  implementations(): { label: string; impl: string }[] {
    return this.step_.implementations();
  }

  snapshot(): Map<string, WeightData> {
    return this.step_.state.snapshot();
  }

  restore(state: ReadonlyMap<string, WeightData>): void {
    this.step_.state.restore(state);
  }

  get stateBytes(): number {
    return this.step_.state.bytes;
  }

  async release(): Promise<void> {}
}

/** The native oneDNN backend: its binding loads on first use. */
export const onednnBackend: TrainingBackend = {
  name: 'onednn',
  create: async (model, options, init, runtime) => NativeSession.create(model, options, init, runtime),
};
