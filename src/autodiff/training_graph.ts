import { ConvlabError } from '../ir/errors.js';
import type { Graph } from '../ir/graph.js';
import type { OnnxTarget, TensorSpec } from '../ir/op.js';
import { type ResolvedGraph, type ResolvedNode, resolveGraph } from '../ir/resolve.js';
import type { DType, Shape } from '../ir/shape.js';
import { emit, modelBytes } from '../onnx/emit.js';
import { DataType, type DataTypeCode, type ValueInfoProto } from '../onnx/proto.js';
import { GraphWriter } from '../onnx/writer.js';
import { type BackwardStep, backwardSweep, type Seed } from './backward.js';
import { getGradient } from './gradient.js';
import './gradients/index.js';
import { correctCount, softmaxCrossEntropy, totalLoss } from './loss.js';
import { type OptimizerSpec, stateSlots, update } from './optimizer.js';
import { ProbeOutputs, type Probes } from './probes.js';
import { bindSaved } from './saved.js';

export type { Probes } from './probes.js';

export interface TrainingGraphOptions {
  /** The batch the graph is compiled for (training batches are full; see src/data/loader.ts). */
  readonly batch: number;
  readonly optimizer: OptimizerSpec;
  readonly labelSmoothing?: number;
  /** Loss weight of every auxiliary head, overriding the graph's (0.3 by default, as in GoogLeNet). */
  readonly auxWeight?: number;
  /** Measurements of the step for experiments, each a scalar output (see `Probes`). */
  readonly probes?: Probes;
  /**
   * Seed of the step's random draws (dropout masks; default 0). A draw is a function of the seed,
   * the node and the step number, so a resumed run draws exactly what an uninterrupted one would.
   */
  readonly seed?: number;
  /**
   * The back-end the step is written for (runtime/session.ts `onnxruntimeTarget`: convolutions of
   * the forward and of dX through onnxruntime's channel-blocked kernels). Default: standard ONNX.
   */
  readonly target?: OnnxTarget;
}

/** A tensor the training loop carries from one step to the next: fed as `name`, returned as `next`. */
export interface StateTensor {
  readonly name: string;
  readonly next: string;
  readonly shape: Shape;
  readonly dtype: DType;
  readonly kind: 'param' | 'buffer' | 'optimizer';
  /** For parameters and buffers, their spec (initialiser included); optimiser slots start at zero. */
  readonly spec?: TensorSpec;
  readonly node?: ResolvedNode;
}

export interface TrainingGraph {
  readonly model: Uint8Array;
  readonly inputs: {
    readonly images: string;
    readonly labels: string;
    readonly lr: string;
    readonly step: string;
  };
  readonly outputs: {
    readonly loss: string;
    readonly correct: string;
    /** The probes' output names (see `Probes`). */
    readonly probes: readonly string[];
  };
  readonly state: readonly StateTensor[];
}

const NEXT = (name: string) => `next/${name}`;

/** The step graph's data inputs: the batch, its labels, the learning rate and the step number. */
interface StepInputs {
  readonly images: string;
  readonly labels: string;
  readonly lr: string;
  readonly step: string;
}

/** What the step graph reads and returns, by tensor name. */
interface StepTensors {
  readonly io: StepInputs;
  readonly loss: string;
  readonly correct: string;
  readonly probes: ProbeOutputs;
  readonly state: readonly StateTensor[];
}

/**
 * One ONNX graph for one training step: the train-mode forward, the loss (auxiliary heads
 * weighted), the backward sweep (each op's registered gradient rule, reading only what the op
 * declares it saves), the optimiser update and the probes.
 */
export function trainingGraph(graph: Graph, o: TrainingGraphOptions): TrainingGraph {
  const r = resolveGraph(graph, { batch: o.batch });
  const w = new GraphWriter('train', 'inputs', { ...(o.target && { target: o.target }) });
  const images = w.claim(r.nodes[0]!.node.name);
  const step = w.claim('step');
  w.drawsFrom(o.seed ?? 0, step);
  const tensorOf = lowerForward(r, w, images);
  const io: StepInputs = { images, labels: w.claim('labels'), lr: w.claim('lr'), step };
  const probes = new ProbeOutputs(w, r, o.probes);
  const heads = lossHeads(r, w, tensorOf, io.labels, o, probes);
  const paramGrads = backwardSweep(r, heads.seeds, onnxBackward(w, tensorOf, probes));
  const state = optimiserStep(r, w, paramGrads, { ...io, optimizer: o.optimizer }, probes);
  return stepModel(graph, r, w, { io, loss: heads.loss, correct: heads.correct, probes, state }, o);
}

/** The train-mode forward pass; returns the tensor of each node's output, by node index. */
function lowerForward(r: ResolvedGraph, w: GraphWriter, images: string): string[] {
  const tensorOf: string[] = [];
  for (const n of r.nodes)
    tensorOf[n.index] = w.lower(n, n.index === 0 ? [images] : n.inputs.map((i) => tensorOf[i]!));
  return tensorOf;
}

/**
 * Each head's cross-entropy, weighted into the loss, and d(weighted loss)/d(logits) of each head,
 * the seeds of the backward sweep; the main head's count of correct predictions.
 */
function lossHeads(
  r: ResolvedGraph,
  w: GraphWriter,
  tensorOf: readonly string[],
  labels: string,
  o: TrainingGraphOptions,
  probes: ProbeOutputs,
): { seeds: Seed<string>[]; loss: string; correct: string } {
  const mainNode = r.byName.get(r.outputs.find((out) => out.role === 'main')!.node)!;
  const classes = mainNode.ctx.output[1]!;
  const seeds: Seed<string>[] = [];
  const terms = r.outputs.map((out) => {
    const n = r.byName.get(out.node)!;
    const weight = out.role === 'aux' ? (o.auxWeight ?? out.lossWeight) : out.lossWeight;
    const ce = w.within(n, () =>
      softmaxCrossEntropy(w, tensorOf[n.index]!, labels, o.batch, classes, o.labelSmoothing ?? 0, weight),
    );
    seeds.push({ node: n.index, grad: ce.dLogits });
    probes.headLoss(out.node, ce.loss);
    return { loss: ce.loss, weight };
  });
  const loss = w.within(mainNode, () => totalLoss(w, terms));
  const correct = w.within(mainNode, () => correctCount(w, tensorOf[mainNode.index]!, labels));
  return { seeds, loss, correct };
}

/** The backward sweep's steps in ONNX: each op's registered gradient rule, written into `w`. */
function onnxBackward(
  w: GraphWriter,
  tensorOf: readonly string[],
  probes: ProbeOutputs,
): BackwardStep<string> {
  return {
    sum: (n, parts) => w.within(n, () => emit(w, 'Sum', parts)),
    backward(n, dy) {
      probes.activation(n, tensorOf[n.index]!, dy);
      const saved = bindSaved(n, (i) => tensorOf[i]!, w.savedBy(n));
      return w.within(n, () => getGradient(n.node.op).backward({ ...n.ctx, saved, dy }, w));
    },
  };
}

/**
 * The optimiser: every parameter and its state slots in, their next values out; buffers a
 * train-mode forward updates (BatchNorm's running statistics) out too.
 */
function optimiserStep(
  r: ResolvedGraph,
  w: GraphWriter,
  paramGrads: ReadonlyMap<string, string>,
  o: { readonly optimizer: OptimizerSpec; readonly lr: string; readonly step: string },
  probes: ProbeOutputs,
): StateTensor[] {
  const state: StateTensor[] = [];
  const slots = stateSlots(o.optimizer);
  for (const n of r.nodes) {
    for (const spec of n.params) {
      const name = `${n.node.name}.${spec.name}`;
      const own = { shape: spec.shape, spec, node: n };
      if (spec.role === 'buffer') {
        const next = w.updated(name);
        if (next)
          state.push({ name, next: w.output(next, NEXT(name)), dtype: spec.dtype, kind: 'buffer', ...own });
        continue;
      }
      const grad = paramGrads.get(name);
      if (!grad)
        throw new ConvlabError(`no gradient reaches parameter '${name}'; is its node on a path to a loss?`);
      probes.gradNorm(n, name, grad);
      const slotNames = slots.map((slot) => w.claim(`${name}.${slot}`));
      const next = w.within(n, () =>
        update(w, o.optimizer, { weight: name, grad, state: slotNames, lr: o.lr, step: o.step }),
      );
      state.push({ name, next: w.output(next.weight, NEXT(name)), dtype: 'float32', kind: 'param', ...own });
      slotNames.forEach((slot, k) => {
        const nextSlot = w.output(next.state[k]!, NEXT(slot));
        state.push({ name: slot, next: nextSlot, shape: spec.shape, dtype: 'float32', kind: 'optimizer' });
      });
    }
  }
  return state;
}

/** The step's graph inputs and outputs around what `w` holds, pruned to what the outputs read. */
function stepModel(
  graph: Graph,
  r: ResolvedGraph,
  w: GraphWriter,
  step: StepTensors,
  o: TrainingGraphOptions,
): TrainingGraph {
  const { io, probes, state } = step;
  const value = (
    name: string,
    elemType: DataTypeCode,
    shape: readonly (number | string)[],
  ): ValueInfoProto => ({ name, elemType, shape });
  const dataType = (d: DType) => (d === 'int64' ? DataType.INT64 : DataType.FLOAT);
  const inputs = [
    value(io.images, DataType.FLOAT, r.nodes[0]!.ctx.output),
    value(io.labels, DataType.INT32, [o.batch]),
    value(io.lr, DataType.FLOAT, []),
    value(io.step, DataType.FLOAT, []),
    ...state.map((s) => value(s.name, dataType(s.dtype), s.shape)),
  ];
  const outputs = [
    value(w.output(step.loss, 'loss'), DataType.FLOAT, []),
    value(w.output(step.correct, 'correct'), DataType.INT64, []),
    ...probes.names.map((name) => value(name, DataType.FLOAT, [])),
    ...state.map((s) => value(s.next, dataType(s.dtype), s.shape)),
  ];
  const model = modelBytes(
    { name: `${graph.name}_train`, ...w.pruned(outputs.map((v) => v.name)), inputs, outputs },
    {
      docString: `${graph.name}: one training step (forward, loss, backward, ${o.optimizer.kind})`,
      metadata: { model: graph.name, mode: 'train-step' },
      domains: w.domains,
    },
  );
  return { model, inputs: io, outputs: { loss: 'loss', correct: 'correct', probes: probes.names }, state };
}
