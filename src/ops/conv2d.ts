import type { Tensor } from '../ir/builder.js';
import { type Convolution, defineOp, type OnnxWriter } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { type AttrsIn, bool, int, padding, pair } from '../ir/schema.js';
import { numel } from '../ir/shape.js';
import { emit } from '../onnx/emit.js';
import { type NameOrOptions, options, requireRank, rule, weightAndBias } from './util.js';
import { windowOutput, windowTransfer } from './window.js';

/**
 * 2-D convolution, PyTorch's Conv2d: weight [out, in/groups, kh, kw]. groups = in = out is
 * depthwise. MACs = N * out * Ho * Wo * (in/groups) * kh * kw; FLOPs = 2 * MACs, plus one add per
 * output element for the bias.
 */
const convMacs = (
  inChannels: number,
  a: { groups: number; kernel: readonly [number, number] },
  outputs: number,
) => outputs * (inChannels / a.groups) * a.kernel[0] * a.kernel[1];

export const Conv2d = registerOp(
  defineOp({
    kind: 'conv2d',
    summary: 'convolution (stride, padding, dilation, groups; depthwise when groups = channels)',
    arity: 1,
    attrs: {
      out: int({ min: 1 }),
      kernel: pair({ min: 1 }),
      stride: pair({ min: 1, default: 1 }),
      padding: padding({ default: 0 }),
      dilation: pair({ min: 1, default: 1 }),
      groups: int({ min: 1, default: 1 }),
      bias: bool({ default: true }),
    },
    inferShape([x], a) {
      requireRank(x!, 4);
      const c = x![1]!;
      rule(c % a.groups === 0, `groups ${a.groups} must divide the input channels ${c}`);
      rule(a.out % a.groups === 0, `groups ${a.groups} must divide the output channels ${a.out}`);
      const [h, w] = windowOutput(x!, { ...a, ceilMode: false });
      return [x![0]!, a.out, h, w];
    },
    params({ attrs: a, inputs: [x] }) {
      const perGroup = x![1]! / a.groups;
      const area = a.kernel[0] * a.kernel[1];
      const fans = { fanIn: perGroup * area, fanOut: a.out * area };
      return weightAndBias([a.out, perGroup, ...a.kernel], a.bias, fans);
    },
    macs: ({ attrs: a, inputs: [x], output }) => convMacs(x![1]!, a, numel(output)),
    flops: ({ attrs: a, inputs: [x], output }) =>
      2 * convMacs(x![1]!, a, numel(output)) + (a.bias ? numel(output) : 0),
    spatial: ({ attrs }) => windowTransfer({ ...attrs, ceilMode: false }),
    // PyTorch's convolution backward needs the input (for dW) and the weight (a parameter, never counted).
    memory: { inplace: false, view: false, saves: { inputs: [0], output: false } },
    onnx: ({ attrs: a, inputs: [x] }, w, [input]) =>
      convolution(w, {
        ...a,
        x: input!,
        weight: w.param('weight'),
        bias: a.bias ? w.param('bias') : undefined,
        channels: x![1]!,
      }),
  }),
);

export const conv2d = (x: Tensor, attrs: AttrsIn<typeof Conv2d.attrs>, name?: NameOrOptions): Tensor =>
  x.builder.apply(Conv2d, [x], attrs, options(name));

/** ONNX Conv's attributes for convolution `c`: onnxruntime's NCHWc Conv takes the same. */
export const convAttributes = (c: Convolution) => ({
  kernel_shape: { ints: c.kernel },
  strides: { ints: c.stride },
  pads: { ints: c.padding },
  dilations: { ints: c.dilation },
  group: { i: c.groups },
});

/**
 * A 2-D convolution as ONNX: the writer's target's own lowering where it has one (onnxruntime's
 * channel-blocked kernels for a training step: runtime/nchwc.ts), else a standard Conv.
 */
export const convolution = (w: OnnxWriter, c: Convolution): string =>
  w.target.convolution?.(w, c) ??
  emit(w, 'Conv', [c.x, c.weight, ...(c.bias ? [c.bias] : [])], convAttributes(c));
