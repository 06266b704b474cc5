import * as ort from 'onnxruntime-node';
import {
  type StateTensor,
  type TrainingGraph,
  type TrainingGraphOptions,
  trainingGraph,
} from '../autodiff/training_graph.js';
import { ConvlabError } from '../ir/errors.js';
import type { Graph } from '../ir/graph.js';
import { initTensor, Rng, type WeightData } from '../ir/init.js';
import { numel } from '../ir/shape.js';
import { onnxruntimeTarget, openSession, type SessionOptions } from '../runtime/session.js';
import type {
  ImageBatch,
  InitialState,
  StateEntry,
  StepResult,
  StepSession,
  TrainingBackend,
} from './backend.js';

const toTensor = (data: WeightData, shape: readonly number[]): ort.Tensor =>
  data instanceof BigInt64Array
    ? new ort.Tensor('int64', data, [...shape])
    : new ort.Tensor('float32', data, [...shape]);

/** A state tensor's first values: zero for optimiser slots, else its initialiser's draw with `seed`. */
function initialValues(s: StateTensor, seed: number): WeightData {
  if (s.kind === 'optimizer') return new Float32Array(numel(s.shape));
  return initTensor(s.spec!, s.node!.node.init?.[s.spec!.name] ?? s.spec!.init, new Rng(seed, s.name));
}

/** A state tensor's values checked against its shape, as an onnxruntime tensor. */
function stateTensor(s: StateTensor, data: WeightData): ort.Tensor {
  if (data.length !== numel(s.shape)) {
    throw new ConvlabError(
      `checkpoint tensor '${s.name}' has ${data.length} values; the model needs [${s.shape.join(',')}]`,
    );
  }
  return toTensor(data, s.shape);
}

/**
 * A model being trained: one compiled training-step graph in onnxruntime, and the state it carries
 * (weights, buffers, optimiser slots) as onnxruntime tensors handed from one step's outputs to the
 * next step's inputs. JavaScript never loops over their elements.
 */
export class TrainingSession implements StepSession {
  readonly backend = 'onnxruntime';
  readonly state: readonly StateEntry[];

  private constructor(
    readonly graph: TrainingGraph,
    private readonly session: ort.InferenceSession,
    private readonly tensors: Map<string, ort.Tensor>,
  ) {
    this.state = graph.state.map(({ name, shape, kind }) => ({ name, shape, kind }));
  }

  /**
   * Compile `model` for `options.batch`; weights come from `weights` where given (a checkpoint),
   * else from each parameter's initialiser with `seed`; optimiser slots start at zero.
   */
  static async create(
    model: Graph,
    options: TrainingGraphOptions,
    init: InitialState,
    session: SessionOptions = {},
  ): Promise<TrainingSession> {
    const target = options.target ?? (await onnxruntimeTarget());
    return TrainingSession.open(trainingGraph(model, { ...options, target }), init, session);
  }

  /** Open an already compiled training graph (see `create`). */
  static async open(
    graph: TrainingGraph,
    init: InitialState,
    session: SessionOptions = {},
  ): Promise<TrainingSession> {
    const state = new Map<string, ort.Tensor>();
    for (const s of graph.state) {
      const given = init.weights?.get(s.name);
      state.set(s.name, given ? stateTensor(s, given) : toTensor(initialValues(s, init.seed), s.shape));
    }
    return new TrainingSession(graph, await openSession(graph.model, session, 'the training graph'), state);
  }

  /** One step: forward, loss, backward and update on a full batch of normalised images. */
  async step(images: ImageBatch, labels: Int32Array, lr: number, step: number): Promise<StepResult> {
    const { inputs, outputs } = this.graph;
    const feeds: Record<string, ort.Tensor> = {
      [inputs.images]: new ort.Tensor('float32', images.data, [...images.dims]),
      [inputs.labels]: new ort.Tensor('int32', labels, [labels.length]),
      [inputs.lr]: new ort.Tensor('float32', Float32Array.of(lr), []),
      [inputs.step]: new ort.Tensor('float32', Float32Array.of(step), []),
    };
    for (const [name, tensor] of this.tensors) feeds[name] = tensor;
    const result = await this.session.run(feeds);
    for (const s of this.graph.state) this.tensors.set(s.name, result[s.next]!);
    return {
      loss: (result[outputs.loss]!.data as Float32Array)[0]!,
      correct: Number((result[outputs.correct]!.data as BigInt64Array)[0]!),
      probes: new Map(outputs.probes.map((name) => [name, (result[name]!.data as Float32Array)[0]!])),
    };
  }

  /** Bytes of the state fed to every step: weights, buffers and optimiser slots. */
  get stateBytes(): number {
    return [...this.tensors.values()].reduce((sum, t) => sum + (t.data as WeightData).byteLength, 0);
  }

  /** The current weights, buffers and optimiser state by name (views of onnxruntime's outputs). */
  snapshot(): Map<string, WeightData> {
    return new Map([...this.tensors].map(([name, t]) => [name, t.data as WeightData]));
  }

  /** Feed the given arrays as the named state from the next step on (onnxruntime never writes inputs). */
  restore(state: ReadonlyMap<string, WeightData>): void {
    const byName = new Map(this.graph.state.map((s) => [s.name, s]));
    const unknown = [...state.keys()].filter((name) => !byName.has(name));
    if (unknown.length) {
      throw new ConvlabError(
        `cannot restore ${unknown.join(', ')}: the model being trained has no such state`,
      );
    }
    for (const [name, data] of state) this.tensors.set(name, stateTensor(byName.get(name)!, data));
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** convlab's autodiff emits one ONNX graph per training step; onnxruntime runs it. */
export const onnxruntimeBackend: TrainingBackend = {
  name: 'onnxruntime',
  create: (model, options, init, runtime) => TrainingSession.create(model, options, init, runtime),
};
