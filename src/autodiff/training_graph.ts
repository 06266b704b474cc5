import { ConvlabError } from '../ir/errors.js';
import type { Graph } from '../ir/graph.js';
import type { OnnxTarget, TensorSpec } from '../ir/op.js';
import { type ResolvedNode, resolveGraph } from '../ir/resolve.js';
import type { DType, Shape } from '../ir/shape.js';
import { modelBytes } from '../onnx/emit.js';
import { DataType, type DataTypeCode, type ValueInfoProto } from '../onnx/proto.js';
import { GraphWriter } from '../onnx/writer.js';
import { getGradient } from './gradient.js';
import './gradients/index.js';
import { emit } from '../onnx/emit.js';
import { correctCount, softmaxCrossEntropy, totalLoss } from './loss.js';
import { type OptimizerSpec, stateSlots, update } from './optimizer.js';
import { norm, standardDeviation } from './probes.js';
import { bindSaved } from './saved.js';

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

/**
 * What a training step can report besides its loss, computed inside the step graph (a few
 * reductions; nothing is copied out but scalars):
 * - `gradNorms`: the L2 norm of each parameter's gradient, as `grad_norm/<parameter>`;
 * - `headLosses`: each head's own (unweighted) cross-entropy, as `loss/<output node>`;
 * - `activations`: for each named node, the standard deviation of its forward output and of the
 *   loss gradient with respect to that output, as `act_std/<node>` and `grad_std/<node>`.
 */
export interface Probes {
  readonly gradNorms?: boolean;
  readonly headLosses?: boolean;
  readonly activations?: readonly string[];
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

/**
 * One ONNX graph for one training step: the train-mode forward, the loss (auxiliary heads
 * weighted), the backward pass (each op's registered gradient rule, reading only what the op
 * declares it saves), and the optimiser update. Reverse-mode autodiff in a single backward sweep
 * over the nodes, with gradients of tensors read twice summed.
 */
export function trainingGraph(graph: Graph, o: TrainingGraphOptions): TrainingGraph {
  const r = resolveGraph(graph, { batch: o.batch });
  const w = new GraphWriter('train', 'inputs', { ...(o.target && { target: o.target }) });
  const tensorOf: string[] = [];
  const images = w.claim(r.nodes[0]!.node.name);
  const step = w.claim('step');
  w.drawsFrom(o.seed ?? 0, step);
  for (const n of r.nodes)
    tensorOf[n.index] = w.lower(n, n.index === 0 ? [images] : n.inputs.map((i) => tensorOf[i]!));

  const labels = w.claim('labels');
  const lr = w.claim('lr');
  const main = r.outputs.find((out) => out.role === 'main')!;
  const mainNode = r.byName.get(main.node)!;
  const classes = mainNode.ctx.output[1]!;

  const probed = new Set(o.probes?.activations ?? []);
  for (const name of probed) {
    if (!r.byName.has(name))
      throw new ConvlabError(`cannot probe node '${name}': ${graph.name} has no node of that name`);
  }
  const probes: { name: string; tensor: string }[] = [];
  const probe = (name: string, tensor: string) => probes.push({ name: w.output(tensor, name), tensor });

  // Seed the backward sweep with d(weighted loss)/d(logits) of every head.
  const grads: string[][] = r.nodes.map(() => []);
  const terms = r.outputs.map((out) => {
    const n = r.byName.get(out.node)!;
    const weight = out.role === 'aux' ? (o.auxWeight ?? out.lossWeight) : out.lossWeight;
    const ce = w.within(n, () =>
      softmaxCrossEntropy(w, tensorOf[n.index]!, labels, o.batch, classes, o.labelSmoothing ?? 0, weight),
    );
    grads[n.index]!.push(ce.dLogits);
    if (o.probes?.headLosses) probe(`loss/${out.node}`, ce.loss);
    return { loss: ce.loss, weight };
  });
  const loss = w.within(mainNode, () => totalLoss(w, terms));
  const correct = w.within(mainNode, () => correctCount(w, tensorOf[mainNode.index]!, labels));

  const paramGrads = new Map<string, string>();
  for (let i = r.nodes.length - 1; i > 0; i--) {
    const n = r.nodes[i]!;
    const incoming = grads[i]!;
    if (incoming.length === 0) continue;
    const dy = incoming.length === 1 ? incoming[0]! : w.within(n, () => emit(w, 'Sum', incoming));
    if (probed.has(n.node.name)) {
      w.within(n, () => {
        probe(`act_std/${n.node.name}`, standardDeviation(w, tensorOf[n.index]!));
        probe(`grad_std/${n.node.name}`, standardDeviation(w, dy));
      });
    }
    const saved = bindSaved(n, (i) => tensorOf[i]!, w.savedBy(n));
    const result = w.within(n, () => getGradient(n.node.op).backward({ ...n.ctx, saved, dy }, w));
    result.inputs.forEach((g, j) => {
      if (g !== undefined && n.inputs[j] !== 0) grads[n.inputs[j]!]!.push(g);
    });
    for (const [local, g] of Object.entries(result.params ?? {}))
      paramGrads.set(`${n.node.name}.${local}`, g);
  }

  // The optimiser: every parameter and its state slots in, their next values out.
  const state: StateTensor[] = [];
  const slots = stateSlots(o.optimizer);
  for (const n of r.nodes) {
    for (const spec of n.params) {
      const name = `${n.node.name}.${spec.name}`;
      if (spec.role === 'buffer') {
        const next = w.updated(name);
        if (next)
          state.push({
            name,
            next: w.output(next, NEXT(name)),
            shape: spec.shape,
            dtype: spec.dtype,
            kind: 'buffer',
            spec,
            node: n,
          });
        continue;
      }
      const grad = paramGrads.get(name);
      if (!grad)
        throw new ConvlabError(`no gradient reaches parameter '${name}'; is its node on a path to a loss?`);
      if (o.probes?.gradNorms)
        probe(
          `grad_norm/${name}`,
          w.within(n, () => norm(w, grad)),
        );
      const slotNames = slots.map((slot) => w.claim(`${name}.${slot}`));
      const next = w.within(n, () =>
        update(w, o.optimizer, { weight: name, grad, state: slotNames, lr, step }),
      );
      state.push({
        name,
        next: w.output(next.weight, NEXT(name)),
        shape: spec.shape,
        dtype: 'float32',
        kind: 'param',
        spec,
        node: n,
      });
      slotNames.forEach((slot, k) => {
        state.push({
          name: slot,
          next: w.output(next.state[k]!, NEXT(slot)),
          shape: spec.shape,
          dtype: 'float32',
          kind: 'optimizer',
        });
      });
    }
  }

  const value = (
    name: string,
    elemType: DataTypeCode,
    shape: readonly (number | string)[],
  ): ValueInfoProto => ({ name, elemType, shape });
  const dataType = (d: DType) => (d === 'int64' ? DataType.INT64 : DataType.FLOAT);
  const inputs = [
    value(images, DataType.FLOAT, r.nodes[0]!.ctx.output),
    value(labels, DataType.INT32, [o.batch]),
    value(lr, DataType.FLOAT, []),
    value(step, DataType.FLOAT, []),
    ...state.map((s) => value(s.name, dataType(s.dtype), s.shape)),
  ];
  const outputs = [
    value(w.output(loss, 'loss'), DataType.FLOAT, []),
    value(w.output(correct, 'correct'), DataType.INT64, []),
    ...probes.map((p) => value(p.name, DataType.FLOAT, [])),
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
  return {
    model,
    inputs: { images, labels, lr, step },
    outputs: { loss: 'loss', correct: 'correct', probes: probes.map((p) => p.name) },
    state,
  };
}
