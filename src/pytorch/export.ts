import type { ResolvedGraph } from '../ir/resolve.js';
import { type ModelSource, modelPy } from './model_py.js';
import { readme } from './readme.js';
import { type TrainDefaults, trainPy } from './train_py.js';

/** Files of a PyTorch export, by name inside DIR. */
export type PytorchFiles = ReadonlyMap<string, string>;

export interface PytorchExport extends ModelSource {
  /** Whether DIR also gets the weights as weights.safetensors (build() then loads them). */
  readonly weights: boolean;
  /** convlab train's defaults, which train.py takes. */
  readonly train: TrainDefaults;
}

/**
 * The PyTorch export of a model: model.py (the nn.Module), train.py (torchrun/DDP) and README.md,
 * as text. Declines the whole model, with
 * one line naming the op, when a node has no PyTorch form.
 */
export function pytorchFiles(r: ResolvedGraph, o: PytorchExport): PytorchFiles {
  return new Map([
    ['model.py', modelPy(r, o)],
    ['train.py', trainPy(r.graph.name, o.train)],
    [
      'README.md',
      readme({
        model: r.graph.name,
        input: r.nodes[0]!.ctx.output.slice(1),
        classes: r.byName.get(r.outputs.find((x) => x.role === 'main')!.node)!.ctx.output[1]!,
        command: o.command,
        weights: o.weights,
        train: o.train,
      }),
    ],
  ]);
}
