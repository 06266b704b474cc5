import type { Algorithm } from '../binding.js';
import type { Tensor } from '../program.js';
import { type NativeContext, registerNative } from '../registry.js';

/**
 * l2norm over channels, composed from oneDNN primitives on plain NCHW: the norm is one Lp-norm
 * reduction, sqrt(sum_c x^2 + eps) (norm_lp_sum at p = 2), and the rest binary primitives whose
 * second source broadcasts (the per-position norm [N, 1, H, W], the per-channel scale [1, C, 1, 1]).
 * With u = x / norm and y = s * u, the backward is dx = (du - u * sum_c(du * u)) / norm, du = s * dy.
 */
interface Kept {
  readonly unit: Tensor;
  readonly norm: Tensor;
}

function binary(c: NativeContext, algorithm: Algorithm, full: Tensor, other: Tensor, what: string): Tensor {
  const { b, p } = c;
  const out = p.tensor(full.md, full.shape, c.label(what));
  p.primitive(
    b.binary(algorithm, full.md, other.md, full.md),
    [
      [b.ARG.SRC, full],
      [b.ARG.SRC_1, other],
      [b.ARG.DST, out],
    ],
    c.label(what),
  );
  return out;
}

/** `x` reduced into `into` (whose dimensions of 1 are the reduced axes): summed, or its L2 norm with `eps`. */
function reduce(c: NativeContext, x: Tensor, into: Tensor, what: string, l2eps?: number): Tensor {
  const pd =
    l2eps === undefined
      ? c.b.reduction('reduction_sum', x.md, into.md, 0, 0)
      : c.b.reduction('reduction_norm_lp_sum', x.md, into.md, 2, l2eps);
  c.p.primitive(
    pd,
    [
      [c.b.ARG.SRC, x],
      [c.b.ARG.DST, into],
    ],
    c.label(what),
  );
  return into;
}

const plain = (c: NativeContext, t: Tensor, what: string) =>
  c.p.reorder(t, c.b.md(t.shape, 'f32', 'nchw'), c.label(what));

const perPosition = (c: NativeContext, [n, , h, w]: readonly number[], what: string) =>
  c.p.tensor(c.b.md([n!, 1, h!, w!], 'f32', 'nchw'), [n!, 1, h!, w!], c.label(what));

const perChannelMd = (c: NativeContext, channels: number) => c.b.md([1, channels, 1, 1], 'f32', 'nchw');

registerNative<Kept>({
  kind: 'l2norm',
  forward(c, [input]) {
    const a = c.node.ctx.attrs as { eps: number; scale: boolean };
    const x = plain(c, input!, 'src');
    const norm = reduce(c, x, perPosition(c, x.shape, 'norm'), 'norm', a.eps);
    const unit = binary(c, 'binary_div', x, norm, 'unit');
    const scale = () => c.param('weight', perChannelMd(c, x.shape[1]!));
    const output = a.scale ? binary(c, 'binary_mul', unit, scale(), 'y') : unit;
    return { output, keep: { unit, norm } };
  },
  backward(c, f, dyIn) {
    const a = c.node.ctx.attrs as { scale: boolean };
    const { unit, norm } = f.keep;
    const dy = plain(c, dyIn, 'dy');
    let du = dy;
    if (a.scale) {
      const scaleMd = perChannelMd(c, unit.shape[1]!);
      reduce(c, binary(c, 'binary_mul', dy, unit, 'dy*u'), c.grad('weight', scaleMd), 'dscale');
      du = binary(c, 'binary_mul', dy, c.param('weight', scaleMd), 'du');
    }
    const dot = reduce(
      c,
      binary(c, 'binary_mul', du, unit, 'du*u'),
      perPosition(c, unit.shape, 'du.u'),
      'du.u',
    );
    const across = binary(c, 'binary_sub', du, binary(c, 'binary_mul', unit, dot, 'u*du.u'), 'du-across');
    return [binary(c, 'binary_div', across, norm, 'dx')];
  },
});
