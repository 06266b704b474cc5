import type { Tensor } from '../ir/builder.js';
import { defineOp, IDENTITY, SAVES_NOTHING } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { type NameOrOptions, options } from './util.js';

/**
 * The identity, ONNX's Identity (and PyTorch's nn.Identity, e.g. a classifier removed for feature
 * extraction): its output is its input. A view: no FLOPs, no bytes, no ONNX node (the input's
 * tensor carries the output; the export adds an Identity node only if it is a graph output).
 */
export const Identity = registerOp(
  defineOp({
    kind: 'identity',
    summary: 'the output is the input',
    arity: 1,
    attrs: {},
    inferShape: ([x]) => x!,
    params: () => [],
    macs: () => 0,
    flops: () => 0,
    spatial: () => IDENTITY,
    memory: { inplace: false, view: true, saves: SAVES_NOTHING },
    onnx: (_, __, [x]) => x!,
  }),
);

export const identity = (x: Tensor, name?: NameOrOptions): Tensor =>
  x.builder.apply(Identity, [x], {}, options(name));
