import type { Tensor } from '../ir/builder.js';
import { defineOp, type SpatialTransfer } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { AttrError, type AttrsIn, bool, type Field, oneOf, pair } from '../ir/schema.js';
import { numel, type Pair } from '../ir/shape.js';
import { emit, ints } from '../onnx/emit.js';
import { type NameOrOptions, options, requireRank, rule } from './util.js';

/** A scale factor per spatial axis: one positive number or [h, w]; [0, 0] when `size` is given. */
const scalePair: Field<number | readonly [number, number], Pair, true> = {
  describe: 'a positive number or a pair [h, w] of them',
  optional: true,
  parse(value, path) {
    if (value === undefined) return [0, 0];
    const ok = (v: unknown): v is number =>
      typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1024;
    if (ok(value)) return [value, value];
    if (Array.isArray(value) && value.length === 2 && ok(value[0]) && ok(value[1]))
      return [value[0], value[1]];
    throw new AttrError(
      `attribute '${path}' must be a number in (0, 1024] or a pair [h, w] of them, got ${JSON.stringify(value)}`,
    );
  },
};

type ResizeAttrs = Parameters<typeof Resize.inferShape>[1];

/**
 * The scale each axis's coordinates are mapped with: the given factor (as PyTorch's
 * scale_factor and ONNX's `scales` use it, even where the output size was rounded down), or
 * output / input when a size is given.
 */
export const resizeScales = (a: ResizeAttrs, input: Pair, output: Pair): Pair =>
  a.size[0] > 0 ? [output[0] / input[0], output[1] / input[1]] : a.scale;

/**
 * Where output position `i` of an axis reads the input (length `n`, output length `m`): PyTorch's
 * and ONNX's coordinate rules. Nearest (PyTorch 'nearest' = ONNX asymmetric, floor): one tap,
 * floor(i / scale). Bilinear (ONNX linear; pytorch_half_pixel, or align_corners): two taps and
 * their weights. Used by the gradient (the transposed interpolation) and documents the lowering.
 */
export function resizeTaps(
  mode: 'nearest' | 'bilinear',
  alignCorners: boolean,
  n: number,
  m: number,
  scale: number,
  i: number,
): readonly (readonly [number, number])[] {
  if (mode === 'nearest') return [[Math.min(n - 1, Math.floor(i / scale)), 1]];
  let x: number;
  if (alignCorners) x = m > 1 ? (i * (n - 1)) / (m - 1) : 0;
  else x = m > 1 ? (i + 0.5) / scale - 0.5 : 0;
  x = Math.min(Math.max(x, 0), n - 1);
  const x0 = Math.floor(x);
  const x1 = Math.min(x0 + 1, n - 1);
  const t = x - x0;
  return x1 === x0
    ? [[x0, 1]]
    : [
        [x0, 1 - t],
        [x1, t],
      ];
}

/**
 * Spatial resizing of an NCHW map, ONNX's Resize and PyTorch's nn.Upsample / F.interpolate: to
 * `size` [h, w], or by `scale` (output = floor(input * scale), coordinates mapped by the scale
 * itself, as PyTorch's scale_factor). `mode` 'nearest' (PyTorch's nearest: ONNX asymmetric +
 * floor) or 'bilinear' (ONNX linear with pytorch_half_pixel, or align_corners). FLOPs: 0 for
 * nearest (a copy), 7 per output element for bilinear (4 multiplies, 3 adds). Receptive field: a
 * window of 1 (nearest) or 2 (bilinear) taps moving 1/scale input pixels per output, so fields
 * become fractional. Linear in x, so backward needs only shapes.
 */
export const Resize = registerOp(
  defineOp({
    kind: 'resize',
    summary: 'resize H and W (nearest or bilinear) to a size or by a scale',
    arity: 1,
    attrs: {
      size: pair({ min: 0, default: 0 }),
      scale: scalePair,
      mode: oneOf(['nearest', 'bilinear'], { default: 'nearest' }),
      alignCorners: bool({ default: false }),
    },
    inferShape([x], a) {
      requireRank(x!, 4);
      const bySize = a.size[0] > 0 && a.size[1] > 0;
      const byScale = a.scale[0] > 0 && a.scale[1] > 0;
      rule(bySize !== byScale, 'give either size [h, w] or scale (one of them, each entry positive)');
      rule(!a.alignCorners || a.mode === 'bilinear', 'alignCorners applies to bilinear resizing only');
      const [h, w] = bySize ? a.size : [Math.floor(x![2]! * a.scale[0]), Math.floor(x![3]! * a.scale[1])];
      rule(h >= 1 && w >= 1, `the output ${h}x${w} is empty`);
      rule(h * w <= 2 ** 26, `the output ${h}x${w} is too large`);
      return [x![0]!, x![1]!, h, w];
    },
    params: () => [],
    macs: () => 0,
    flops: ({ attrs: a, output }) => (a.mode === 'bilinear' ? 7 * numel(output) : 0),
    spatial({ attrs: a, inputs: [x], output }): SpatialTransfer {
      const [sh, sw] = resizeScales(a, [x![2]!, x![3]!], [output[2]!, output[3]!]);
      const taps = a.mode === 'bilinear' ? 2 : 1;
      const begin = (s: number) =>
        a.mode === 'bilinear' && !a.alignCorners ? Math.max(0, 0.5 - 0.5 / s) : 0;
      return {
        kind: 'window',
        kernel: [taps, taps],
        stride: [1 / sh, 1 / sw],
        padding: [begin(sh), begin(sw), 0, 0],
        dilation: [1, 1],
        ceilMode: false,
      };
    },
    memory: { inplace: false, view: false, saves: { inputs: [], output: false } },
    onnx({ attrs: a, output }, w, [x]) {
      const attrs = {
        mode: { s: a.mode === 'bilinear' ? 'linear' : 'nearest' },
        coordinate_transformation_mode: {
          s: a.mode === 'nearest' ? 'asymmetric' : a.alignCorners ? 'align_corners' : 'pytorch_half_pixel',
        },
        nearest_mode: { s: 'floor' },
      };
      if (a.size[0] === 0) {
        return emit(w, 'Resize', [x!, '', w.constant([1, 1, ...a.scale], [4], 'float32')], attrs);
      }
      // Sizes must name every axis (opset 17 has no `axes`): the batch and channels come from x's shape.
      const leading = emit(w, 'Slice', [emit(w, 'Shape', [x!]), ints(w, [0]), ints(w, [2]), ints(w, [0])]);
      const sizes = emit(w, 'Concat', [leading, ints(w, output.slice(2))], { axis: { i: 0 } });
      return emit(w, 'Resize', [x!, '', '', sizes], attrs);
    },
  }),
);

export const resize = (x: Tensor, attrs: AttrsIn<typeof Resize.attrs>, name?: NameOrOptions): Tensor =>
  x.builder.apply(Resize, [x], attrs, options(name));
