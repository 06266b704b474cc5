import type { Tensor } from '../ir/builder.js';
import { defineOp, IDENTITY } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { type AttrsIn, num } from '../ir/schema.js';
import { numel } from '../ir/shape.js';
import { emit } from '../onnx/emit.js';
import { type NameOrOptions, options } from './util.js';

/**
 * Hard sigmoid, max(0, min(1, alpha * x + beta)), ONNX's HardSigmoid. The defaults are PyTorch's
 * nn.Hardsigmoid (relu6(x + 3) / 6: alpha 1/6, beta 1/2), MobileNetV3's SE gate; ONNX's own default
 * alpha is 0.2, so an imported node always states both. FLOPs: 4 per element (multiply, add, two
 * clamps). Backward needs the input: dX = alpha * dY where 0 < alpha * x + beta < 1, else 0.
 */
export const Hardsigmoid = registerOp(
  defineOp({
    kind: 'hardsigmoid',
    summary: 'max(0, min(1, alpha * x + beta)) (PyTorch: relu6(x + 3) / 6)',
    arity: 1,
    attrs: { alpha: num({ default: 1 / 6 }), beta: num({ default: 0.5 }) },
    inferShape: ([x]) => x!,
    params: () => [],
    macs: () => 0,
    flops: ({ output }) => 4 * numel(output),
    spatial: () => IDENTITY,
    memory: { inplace: true, view: false, saves: { inputs: [0], output: false } },
    onnx: ({ attrs: a }, w, [x]) =>
      emit(w, 'HardSigmoid', [x!], { alpha: { f: a.alpha }, beta: { f: a.beta } }),
  }),
);

export const hardsigmoid = (
  x: Tensor,
  attrs: AttrsIn<typeof Hardsigmoid.attrs> = {},
  name?: NameOrOptions,
): Tensor => x.builder.apply(Hardsigmoid, [x], attrs, options(name));
