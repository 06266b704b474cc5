import { defineOp, IDENTITY, SAVES_NOTHING } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { intList } from '../ir/schema.js';
import { rule } from './util.js';

/**
 * The graph's input. Its one input is the tensor fed from outside ([N, C, H, W]); `shape` is the
 * model's standard [C, H, W], which `--input` replaces.
 */
export const Input = registerOp(
  defineOp({
    kind: 'input',
    summary: 'the image batch fed to the network',
    arity: 1,
    attrs: { shape: intList({ min: 1, minLength: 3 }) },
    inferShape([fed], attrs) {
      rule(attrs.shape.length === 3, `shape must be [C, H, W], got [${attrs.shape.join(',')}]`);
      return fed!;
    },
    params: () => [],
    macs: () => 0,
    flops: () => 0,
    spatial: () => IDENTITY,
    memory: { inplace: false, view: false, saves: SAVES_NOTHING },
    // The fed tensor is the graph's input itself.
    onnx: (_, __, [fed]) => fed!,
  }),
);
