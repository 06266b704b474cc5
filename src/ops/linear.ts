import type { Tensor } from '../ir/builder.js';
import { defineOp, GLOBAL, IDENTITY } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { type AttrsIn, bool, int } from '../ir/schema.js';
import { numel } from '../ir/shape.js';
import { add, emit, transpose } from '../onnx/emit.js';
import { type NameOrOptions, options, requireRank, rule, weightAndBias } from './util.js';

/**
 * Fully connected layer, PyTorch's Linear over the last axis: weight [out, F]. On [N, F] it is the
 * classifier (ONNX Gemm). With `perPosition` it takes any rank and maps the last axis at every
 * other index, as ConvNeXt's channels-last MLP ([N, H, W, C], ONNX MatMul + Add, what
 * torch.onnx.export writes for it); without it a feature map is refused (a forgotten flatten).
 * MACs = (elements of x / F) * F * out; FLOPs = 2 * MACs, plus one bias add per output element.
 * Receptive field: on [N, F] every feature reads the whole image; on higher ranks the last axis is
 * channels (channels-last), so positions keep their fields.
 */
export const Linear = registerOp(
  defineOp({
    kind: 'linear',
    summary: 'fully connected layer (over the last axis)',
    arity: 1,
    attrs: { out: int({ min: 1 }), bias: bool({ default: true }), perPosition: bool({ default: false }) },
    inferShape([x], a) {
      if (a.perPosition) {
        rule(x!.length >= 2, `input must have a batch axis and a feature axis, got [${x!.join(',')}]`);
      } else {
        requireRank(x!, 2);
      }
      return [...x!.slice(0, -1), a.out];
    },
    params({ attrs: a, inputs: [x] }) {
      const features = x!.at(-1)!;
      return weightAndBias([a.out, features], a.bias, { fanIn: features, fanOut: a.out });
    },
    macs: ({ attrs: a, inputs: [x] }) => numel(x!) * a.out,
    flops: ({ attrs: a, inputs: [x], output }) => 2 * numel(x!) * a.out + (a.bias ? numel(output) : 0),
    spatial: ({ inputs: [x] }) => (x!.length === 2 ? GLOBAL : IDENTITY),
    memory: { inplace: false, view: false, saves: { inputs: [0], output: false } },
    onnx({ attrs: a, inputs: [x] }, w, [input]) {
      if (x!.length === 2) {
        return emit(w, 'Gemm', [input!, w.param('weight'), ...(a.bias ? [w.param('bias')] : [])], {
          transB: { i: 1 },
        });
      }
      const product = emit(w, 'MatMul', [input!, transpose(w, w.param('weight'), [1, 0])]);
      return a.bias ? add(w, product, w.param('bias')) : product;
    },
  }),
);

export const linear = (x: Tensor, attrs: AttrsIn<typeof Linear.attrs>, name?: NameOrOptions): Tensor =>
  x.builder.apply(Linear, [x], attrs, options(name));
