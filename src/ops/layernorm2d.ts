import type { Tensor } from '../ir/builder.js';
import { defineOp, IDENTITY } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { type AttrsIn, bool, num } from '../ir/schema.js';
import { numel } from '../ir/shape.js';
import { add, div, emit, mul, reshape, scalar, sub } from '../onnx/emit.js';
import { affineParams, layerNormFlops } from './layernorm.js';
import { type NameOrOptions, options, requireRank } from './util.js';

/**
 * Layer normalisation over the channels of an NCHW map, separately at every position:
 * torchvision's LayerNorm2d (ConvNeXt's stem and downsampling norms; timm's LayerNorm2d), which
 * PyTorch computes as permute, layer_norm over C, permute back. Parameters weight and bias [C].
 * It lowers without the two transposes: ReduceMean over channels, Sub, Mul, ReduceMean, Add, Sqrt,
 * Div, then the per-channel scale and shift. FLOPs: `layerNormFlops`. Backward needs the input.
 */
export const LayerNorm2d = registerOp(
  defineOp({
    kind: 'layernorm2d',
    summary: 'layer normalisation over the channels of NCHW at each position (ConvNeXt)',
    arity: 1,
    attrs: { eps: num({ min: 0, default: 1e-6 }), affine: bool({ default: true }) },
    inferShape([x]) {
      requireRank(x!, 4);
      return x!;
    },
    params: ({ attrs: a, inputs: [x] }) => affineParams([x![1]!], a.affine),
    macs: () => 0,
    flops: ({ attrs: a, output }) => layerNormFlops(numel(output), a.affine),
    spatial: () => IDENTITY,
    memory: { inplace: false, view: false, saves: { inputs: [0], output: false } },
    onnx({ attrs: a, inputs: [x] }, w, [input]) {
      const channels = { axes: { ints: [1] }, keepdims: { i: 1 } };
      const centred = sub(w, input!, emit(w, 'ReduceMean', [input!], channels));
      const variance = emit(w, 'ReduceMean', [mul(w, centred, centred)], channels);
      const normalized = div(w, centred, emit(w, 'Sqrt', [add(w, variance, scalar(w, a.eps))]));
      if (!a.affine) return normalized;
      const c = x![1]!;
      const perChannel = (p: string) => reshape(w, w.param(p), [1, c, 1, 1]);
      return add(w, mul(w, normalized, perChannel('weight')), perChannel('bias'));
    },
  }),
);

export const layernorm2d = (
  x: Tensor,
  attrs: AttrsIn<typeof LayerNorm2d.attrs> = {},
  name?: NameOrOptions,
): Tensor => x.builder.apply(LayerNorm2d, [x], attrs, options(name));
