import type { Tensor } from '../ir/builder.js';
import { registerOp } from '../ir/registry.js';
import { pointwiseOp } from './pointwise.js';
import { type NameOrOptions, options } from './util.js';

/** ReLU6 (MobileNetV2): min(max(x, 0), 6). FLOPs: 2 per element. PyTorch's in-place hardtanh saves its result. */
export const Relu6 = registerOp(
  pointwiseOp({
    kind: 'relu6',
    summary: 'min(max(x, 0), 6)',
    flopsPerElement: 2,
    saves: { inputs: [], output: true },
  }),
);

export const relu6 = (x: Tensor, name?: NameOrOptions): Tensor =>
  x.builder.apply(Relu6, [x], {}, options(name));
