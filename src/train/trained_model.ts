import { join } from 'node:path';
import type { Dataset } from '../data/dataset.js';
import { initTensor, Rng, tensorSpecs, type WeightData } from '../ir/init.js';
import type { ResolvedGraph } from '../ir/resolve.js';
import { onnxModel } from '../onnx/export.js';
import { encodeModel } from '../onnx/proto.js';
import { hostTensor, writeSafetensors } from '../runtime/safetensors.js';
import type { StepSession } from './backend.js';
import { writeFileAtomic } from './checkpoint.js';
import type { TrainConfig } from './config.js';
import { FILES } from './run_folder.js';

/** The model a run trains, as evaluated after each epoch and as written when training completes. */

/**
 * Every parameter and buffer of the model by name: the session's current state, plus the tensors
 * training never changes (none in the zoo; kept for completeness) at their seeded initial values.
 */
export function modelWeights(r: ResolvedGraph, session: StepSession, seed: number): Map<string, WeightData> {
  const state = session.snapshot();
  const out = new Map<string, WeightData>();
  for (const [name, { spec, init }] of tensorSpecs(r)) {
    out.set(name, state.get(name) ?? initTensor(spec, init, new Rng(seed, name)));
  }
  return out;
}

/**
 * The trained inference model (auxiliary heads dropped), its metadata carrying what a user needs
 * to feed it: the normalisation (inputs are (pixel / 255 - mean) / std per channel) and the class
 * names where the data has them.
 */
function inferenceModel(
  r: ResolvedGraph,
  weights: ReadonlyMap<string, WeightData>,
  data: Dataset,
  config: TrainConfig,
): Uint8Array {
  const model = onnxModel(r, { mode: 'infer', weights });
  return encodeModel({
    ...model,
    metadata: {
      ...model.metadata,
      mean: JSON.stringify(config.normalise.mean),
      std: JSON.stringify(config.normalise.std),
      ...(data.train.classNames && { classes: JSON.stringify(data.train.classNames) }),
      trained_on: config.data,
      epochs: String(config.epochs),
    },
  });
}

/** Write model.onnx and model.safetensors into `out`; their paths. */
export function writeTrainedModel(
  out: string,
  r: ResolvedGraph,
  weights: ReadonlyMap<string, WeightData>,
  data: Dataset,
  config: TrainConfig,
): { model: string; weights: string } {
  const model = join(out, FILES.model);
  const weightsFile = join(out, FILES.weights);
  writeFileAtomic(model, inferenceModel(r, weights, data, config));
  const tensors = [...tensorSpecs(r)].map(
    ([name, { spec }]) => [name, hostTensor(weights.get(name)!, spec.shape)] as const,
  );
  writeFileAtomic(weightsFile, writeSafetensors(tensors));
  return { model, weights: weightsFile };
}
