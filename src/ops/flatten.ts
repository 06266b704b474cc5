import type { Tensor } from '../ir/builder.js';
import { defineOp, GLOBAL, SAVES_NOTHING } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { emit } from '../onnx/emit.js';
import { type NameOrOptions, options, rule } from './util.js';

/** [N, C, H, W] -> [N, C*H*W], torch.flatten(x, 1). A view: no FLOPs, no new bytes. */
export const Flatten = registerOp(
  defineOp({
    kind: 'flatten',
    summary: 'flatten all but the batch axis',
    arity: 1,
    attrs: {},
    inferShape([x]) {
      rule(x!.length >= 2, `input must have a batch axis and at least one more, got [${x!.join(',')}]`);
      return [x![0]!, x!.slice(1).reduce((a, b) => a * b, 1)];
    },
    params: () => [],
    macs: () => 0,
    flops: () => 0,
    spatial: () => GLOBAL,
    memory: { inplace: false, view: true, saves: SAVES_NOTHING },
    onnx: (_, w, [x]) => emit(w, 'Flatten', [x!], { axis: { i: 1 } }),
  }),
);

export const flatten = (x: Tensor, name?: NameOrOptions): Tensor =>
  x.builder.apply(Flatten, [x], {}, options(name));
