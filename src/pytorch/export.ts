import type { ResolvedGraph } from '../ir/resolve.js';
import { type ModelSource, modelPy } from './model_py.js';

/** Files of a PyTorch export, by name inside DIR. */
export type PytorchFiles = ReadonlyMap<string, string>;

export interface PytorchExport extends ModelSource {
  /** Whether DIR also gets the weights as weights.safetensors (build() then loads them). */
  readonly weights: boolean;
}

/**
 * The PyTorch export of a model: model.py (the nn.Module), as text. Declines the whole model, with
 * one line naming the op, when a node has no PyTorch form.
 */
export function pytorchFiles(r: ResolvedGraph, o: PytorchExport): PytorchFiles {
  return new Map([['model.py', modelPy(r, o)]]);
}
