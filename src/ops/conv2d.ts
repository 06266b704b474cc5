import type { Tensor } from '../ir/builder.js';
import { defineOp, NCHWC_DOMAIN, type OnnxWriter } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { type AttrsIn, bool, int, padding, pair } from '../ir/schema.js';
import { numel, type Padding4, type Pair } from '../ir/shape.js';
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
      convolution(w, input!, w.param('weight'), a.bias ? w.param('bias') : undefined, {
        ...a,
        channels: x![1]!,
      }),
  }),
);

export const conv2d = (x: Tensor, attrs: AttrsIn<typeof Conv2d.attrs>, name?: NameOrOptions): Tensor =>
  x.builder.apply(Conv2d, [x], attrs, options(name));

/** What `convolution` needs to know of one: its channels and its window. */
export interface ConvolutionShape {
  /** Input channels C. */
  readonly channels: number;
  /** Output channels O. */
  readonly out: number;
  readonly kernel: Pair;
  readonly stride: Pair;
  readonly padding: Padding4;
  readonly dilation: Pair;
  readonly groups: number;
}

/**
 * A 2-D convolution of NCHW `x` by `weight` [O, C/g, kh, kw] (plus `bias`) as ONNX nodes.
 *
 * onnxruntime runs a Conv through its fast channel-blocked (NCHWc) kernels only when the weight is
 * a constant it can reorder once, while loading; a training step's weights are graph inputs, so
 * its Conv would take the slower im2col path (1.6-1.9x the time at resnet20's shapes). Where the
 * writer allows it (`nchwcBlock`, probed from the onnxruntime that will run the graph), a
 * convolution of one group over a multiple of the block's channels is instead written as
 * onnxruntime's own NCHWc ops, with the weight reordered in the graph:
 *   ReorderInput(x) -> nchwc Conv(x, W blocked [O/B, C/B, kh, kw, B_in, B_out]) -> ReorderOutput,
 * the output channels padded to a multiple of B with zero filters and dropped again by ReorderOutput.
 */
export function convolution(
  w: OnnxWriter,
  x: string,
  weight: string,
  bias: string | undefined,
  c: ConvolutionShape,
): string {
  const attrs = {
    kernel_shape: { ints: c.kernel },
    strides: { ints: c.stride },
    pads: { ints: c.padding },
    dilations: { ints: c.dilation },
    group: { i: c.groups },
  };
  const block = w.nchwcBlock;
  if (!(block > 1 && c.groups === 1 && c.channels % block === 0)) {
    return emit(w, 'Conv', [x, weight, ...(bias ? [bias] : [])], attrs);
  }
  const [kh, kw] = c.kernel;
  const padded = Math.ceil(c.out / block) * block;
  const ints = (values: readonly number[]) => w.constant(values, [values.length], 'int64');
  // Zero filters (and biases) up to a whole block of output channels.
  const padOut = (t: string, rank: number) =>
    padded === c.out
      ? t
      : emit(w, 'Pad', [
          t,
          ints([...new Array<number>(rank).fill(0), padded - c.out, ...new Array<number>(rank - 1).fill(0)]),
        ]);
  const split = emit(w, 'Reshape', [
    padOut(weight, 4),
    ints([padded / block, block, c.channels / block, block, kh, kw]),
  ]);
  const blocked = emit(w, 'Reshape', [
    emit(w, 'Transpose', [split], { perm: { ints: [0, 2, 4, 5, 3, 1] } }),
    ints([padded, c.channels, kh, kw]),
  ]);
  const [xBlocked] = w.node('ReorderInput', [x], {}, 1, NCHWC_DOMAIN);
  const [yBlocked] = w.node(
    'Conv',
    [xBlocked!, blocked, ...(bias ? [padOut(bias, 1)] : [])],
    attrs,
    1,
    NCHWC_DOMAIN,
  );
  return w.node('ReorderOutput', [yBlocked!], { channels: { i: c.out } }, 1, NCHWC_DOMAIN)[0]!;
}
