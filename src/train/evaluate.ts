import * as ort from 'onnxruntime-node';
import { correctCount } from '../autodiff/loss.js';
import { AUGMENT_NAMES, augmentGraph } from '../data/augment.js';
import { type ImageSet, sampleSize } from '../data/dataset.js';
import { evalBatches } from '../data/loader.js';
import type { Graph } from '../ir/graph.js';
import type { WeightData } from '../ir/init.js';
import type { OnnxAttr } from '../ir/op.js';
import type { ResolvedGraph } from '../ir/resolve.js';
import { onnxModel } from '../onnx/export.js';
import { DataType, encodeModel, type NodeProto, type TensorProto } from '../onnx/proto.js';
import { GraphWriter } from '../onnx/writer.js';
import { openSession, type SessionOptions } from '../runtime/session.js';

/**
 * Test-set evaluation as one onnxruntime graph per batch: uint8 images and int32 labels in, the
 * batch's summed cross-entropy and its number of correct predictions out. The graph is the
 * inference export of the model with the current weights (batch norm on its running statistics,
 * auxiliary heads dropped), with the evaluation preprocessing (cast, normalise) spliced in front
 * and the loss and arg-max comparison after, so JavaScript only adds up two numbers a batch.
 */

export interface Normalisation {
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

export interface EvalResult {
  /** Mean cross-entropy over the set (no label smoothing). */
  readonly loss: number;
  readonly accuracy: number;
  readonly count: number;
}

const PREFIX = 'eval/';
const IMAGES = `${PREFIX}images`;
const LABELS = `${PREFIX}labels`;
const LOSS = `${PREFIX}loss_sum`;
const CORRECT = `${PREFIX}correct`;

/** The evaluation model's bytes: preprocessing, the inference graph with `weights`, the metrics. */
export function evaluationModel(
  graph: Graph | ResolvedGraph,
  weights: ReadonlyMap<string, WeightData>,
  shape: readonly [number, number, number],
  normalise: Normalisation,
): Uint8Array {
  const model = onnxModel(graph, { mode: 'infer', weights });
  const input = model.graph.inputs[0]!.name;
  const logits = model.graph.outputs[0]!.name;
  const pre = augmentGraph({ shape, mean: normalise.mean, std: normalise.std }, 'eval', {
    ...AUGMENT_NAMES,
    images: IMAGES,
    output: input,
    prefix: `${PREFIX}normalise/`,
  });
  const nodes: NodeProto[] = [];
  const node = (
    opType: string,
    name: string,
    inputs: string[],
    attributes: Record<string, OnnxAttr> = {},
  ) => {
    nodes.push({ name: `${PREFIX}${name}`, opType, inputs, outputs: [`${PREFIX}${name}`], attributes });
    return `${PREFIX}${name}`;
  };
  const axis1: TensorProto = { name: `${PREFIX}axis1`, dims: [1], data: BigInt64Array.of(1n) };
  const labels = node('Cast', 'labels64', [LABELS], { to: { i: DataType.INT64 } });
  const logProbabilities = node('LogSoftmax', 'log_softmax', [logits], { axis: { i: 1 } });
  const picked = node(
    'GatherElements',
    'picked',
    [logProbabilities, node('Unsqueeze', 'labels_column', [labels, axis1.name])],
    { axis: { i: 1 } },
  );
  node('ReduceSum', 'log_likelihood', [picked], { keepdims: { i: 0 } });
  nodes.push({
    name: LOSS,
    opType: 'Neg',
    inputs: [`${PREFIX}log_likelihood`],
    outputs: [LOSS],
    attributes: {},
  });
  const metrics = new GraphWriter('infer', 'initializers');
  metrics.within(`${PREFIX}metrics`, () => metrics.output(correctCount(metrics, logits, LABELS), CORRECT));
  return encodeModel({
    ...model,
    graph: {
      name: `${model.graph.name}_eval`,
      nodes: [...pre.nodes, ...model.graph.nodes, ...nodes, ...metrics.nodes],
      initializers: [
        ...pre.initializers,
        ...model.graph.initializers,
        axis1,
        ...metrics.initializers.values(),
      ],
      inputs: [pre.inputs[0]!, { name: LABELS, elemType: DataType.INT32, shape: ['N'] }],
      outputs: [
        { name: LOSS, elemType: DataType.FLOAT, shape: [] },
        { name: CORRECT, elemType: DataType.INT64, shape: [] },
      ],
    },
  });
}

/** Loss and accuracy of the model with `weights` on every sample of `set`, in batches of `batch`. */
export async function evaluate(
  graph: Graph | ResolvedGraph,
  weights: ReadonlyMap<string, WeightData>,
  set: ImageSet,
  normalise: Normalisation,
  batch: number,
  options: SessionOptions = {},
): Promise<EvalResult> {
  const session = await openSession(
    evaluationModel(graph, weights, set.shape, normalise),
    options,
    'the evaluation graph',
  );
  const [c, h, w] = set.shape;
  const size = sampleSize(set);
  let loss = 0;
  let correct = 0;
  try {
    for await (const b of evalBatches(set, batch)) {
      // The last batch is padded up to `batch`; the graph's batch is symbolic, so run only the real samples.
      const out = await session.run({
        [IMAGES]: new ort.Tensor('uint8', b.images.subarray(0, b.size * size), [b.size, c, h, w]),
        [LABELS]: new ort.Tensor('int32', b.labels.subarray(0, b.size), [b.size]),
      });
      loss += (out[LOSS]!.data as Float32Array)[0]!;
      correct += Number((out[CORRECT]!.data as BigInt64Array)[0]!);
    }
  } finally {
    await session.release();
  }
  return { loss: loss / set.count, accuracy: correct / set.count, count: set.count };
}
