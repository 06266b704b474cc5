import type { Tensor } from '../ir/builder.js';
import { defineOp, GLOBAL } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { type AttrsIn, bool, int } from '../ir/schema.js';
import { emit } from '../onnx/emit.js';
import { type NameOrOptions, options, requireRank, weightAndBias } from './util.js';

/**
 * Fully connected layer, PyTorch's Linear on [N, F]: weight [out, F]. MACs = N * F * out;
 * FLOPs = 2 * MACs, plus N * out bias adds.
 */
export const Linear = registerOp(
  defineOp({
    kind: 'linear',
    summary: 'fully connected layer',
    arity: 1,
    attrs: { out: int({ min: 1 }), bias: bool({ default: true }) },
    inferShape([x], a) {
      requireRank(x!, 2);
      return [x![0]!, a.out];
    },
    params({ attrs: a, inputs: [x] }) {
      return weightAndBias([a.out, x![1]!], a.bias, { fanIn: x![1]!, fanOut: a.out });
    },
    macs: ({ attrs: a, inputs: [x] }) => x![0]! * x![1]! * a.out,
    flops: ({ attrs: a, inputs: [x] }) => 2 * x![0]! * x![1]! * a.out + (a.bias ? x![0]! * a.out : 0),
    spatial: () => GLOBAL,
    memory: { inplace: false, view: false, saves: { inputs: [0], output: false } },
    onnx: ({ attrs: a }, w, [x]) =>
      emit(w, 'Gemm', [x!, w.param('weight'), ...(a.bias ? [w.param('bias')] : [])], {
        transB: { i: 1 },
      }),
  }),
);

export const linear = (x: Tensor, attrs: AttrsIn<typeof Linear.attrs>, name?: NameOrOptions): Tensor =>
  x.builder.apply(Linear, [x], attrs, options(name));
