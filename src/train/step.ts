import * as ort from 'onnxruntime-node';
import { type TrainingGraph, type TrainingGraphOptions, trainingGraph } from '../autodiff/training_graph.js';
import { ConvlabError } from '../ir/errors.js';
import type { Graph } from '../ir/graph.js';
import { initTensor, Rng, type WeightData } from '../ir/init.js';
import { numel } from '../ir/shape.js';
import { nchwcBlockSize } from '../runtime/nchwc.js';
import { openSession, type SessionOptions } from '../runtime/session.js';

export interface StepResult {
  readonly loss: number;
  readonly correct: number;
  /** The step's probe values by output name (empty unless the graph was compiled with probes). */
  readonly probes: ReadonlyMap<string, number>;
}

const toTensor = (data: WeightData, shape: readonly number[]): ort.Tensor =>
  data instanceof BigInt64Array
    ? new ort.Tensor('int64', data, [...shape])
    : new ort.Tensor('float32', data, [...shape]);

/**
 * A model being trained: one compiled training-step graph in onnxruntime, and the state it carries
 * (weights, buffers, optimiser slots) as onnxruntime tensors handed from one step's outputs to the
 * next step's inputs. JavaScript never loops over their elements.
 */
export class TrainingSession {
  private constructor(
    readonly graph: TrainingGraph,
    private readonly session: ort.InferenceSession,
    private state: Map<string, ort.Tensor>,
  ) {}

  /**
   * Compile `model` for `options.batch`; weights come from `weights` where given (a checkpoint),
   * else from each parameter's initialiser with `seed`; optimiser slots start at zero.
   */
  static async create(
    model: Graph,
    options: TrainingGraphOptions,
    init: { seed: number; weights?: ReadonlyMap<string, WeightData> },
    session: SessionOptions = {},
  ): Promise<TrainingSession> {
    const nchwcBlock = options.nchwcBlock ?? (await nchwcBlockSize());
    return TrainingSession.open(trainingGraph(model, { ...options, nchwcBlock }), init, session);
  }

  /** Open an already compiled training graph (see `create`). */
  static async open(
    graph: TrainingGraph,
    init: { seed: number; weights?: ReadonlyMap<string, WeightData> },
    session: SessionOptions = {},
  ): Promise<TrainingSession> {
    const state = new Map<string, ort.Tensor>();
    for (const s of graph.state) {
      let data = init.weights?.get(s.name);
      if (data && data.length !== numel(s.shape)) {
        throw new ConvlabError(
          `checkpoint tensor '${s.name}' has ${data.length} values; the model needs [${s.shape.join(',')}]`,
        );
      }
      if (!data && s.kind === 'optimizer') data = new Float32Array(numel(s.shape));
      if (!data)
        data = initTensor(
          s.spec!,
          s.node!.node.init?.[s.spec!.name] ?? s.spec!.init,
          new Rng(init.seed, s.name),
        );
      state.set(s.name, toTensor(data, s.shape));
    }
    return new TrainingSession(graph, await openSession(graph.model, session, 'the training graph'), state);
  }

  /** One step: forward, loss, backward and update on a full batch of normalised images. */
  async step(images: ort.Tensor, labels: Int32Array, lr: number, step: number): Promise<StepResult> {
    const { inputs, outputs } = this.graph;
    const feeds: Record<string, ort.Tensor> = {
      [inputs.images]: images,
      [inputs.labels]: new ort.Tensor('int32', labels, [labels.length]),
      [inputs.lr]: new ort.Tensor('float32', Float32Array.of(lr), []),
      [inputs.step]: new ort.Tensor('float32', Float32Array.of(step), []),
    };
    for (const [name, tensor] of this.state) feeds[name] = tensor;
    const result = await this.session.run(feeds);
    for (const s of this.graph.state) this.state.set(s.name, result[s.next]!);
    return {
      loss: (result[outputs.loss]!.data as Float32Array)[0]!,
      correct: Number((result[outputs.correct]!.data as BigInt64Array)[0]!),
      probes: new Map(outputs.probes.map((name) => [name, (result[name]!.data as Float32Array)[0]!])),
    };
  }

  /** Bytes of the state fed to every step: weights, buffers and optimiser slots. */
  get stateBytes(): number {
    return [...this.state.values()].reduce((sum, t) => sum + (t.data as WeightData).byteLength, 0);
  }

  /** The current weights, buffers and optimiser state by name (views of onnxruntime's outputs). */
  snapshot(): Map<string, WeightData> {
    return new Map([...this.state].map(([name, t]) => [name, t.data as WeightData]));
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
