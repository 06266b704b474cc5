import type { Shape } from '../../ir/shape.js';
import type { Algorithm, Binding } from '../binding.js';
import type { ProgramBuilder, Tensor } from '../program.js';
import { type NativeContext, plainTag, registerNative } from '../registry.js';

/**
 * add and mul on oneDNN's binary primitive. The full-shaped input is the first source, the other
 * may broadcast (SE's [N, C, 1, 1] gate); same-shaped inputs are read in one layout. A broadcast
 * input's gradient is summed over the axes it was broadcast along (oneDNN's reduction).
 */
const sameShape = (a: Shape, b: Shape) => a.length === b.length && a.every((d, i) => d === b[i]);

/** Which input has the output's shape (the binary primitive's first source). */
const fullInput = (c: NativeContext) => (sameShape(c.node.ctx.inputs[0]!, c.node.ctx.output) ? 0 : 1);

function binary(
  c: NativeContext,
  algorithm: Algorithm,
  full: Tensor,
  other: Tensor,
  label: string,
  relu = false,
): Tensor {
  const { b, p } = c;
  const src1 = sameShape(full.shape, other.shape) ? p.reorder(other, full.md, `${label}/src1`) : other;
  const y = p.tensor(full.md, full.shape, label);
  p.primitive(
    b.binary(algorithm, full.md, src1.md, full.md, relu ? 'relu' : null),
    [
      [b.ARG.SRC, full],
      [b.ARG.SRC_1, src1],
      [b.ARG.DST, y],
    ],
    label,
  );
  return y;
}

/** `g` summed down to `shape` over the axes where `shape` is 1 (the gradient of a broadcast input). */
function unbroadcast(b: Binding, p: ProgramBuilder, g: Tensor, shape: Shape, label: string): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const dst = b.md(shape, 'f32', plainTag(shape.length));
  const out = p.tensor(dst, shape, label);
  p.primitive(
    b.reduction('reduction_sum', g.md, dst, 0, 0),
    [
      [b.ARG.SRC, g],
      [b.ARG.DST, out],
    ],
    label,
  );
  return out;
}

const broadcastable = (n: NativeContext['node']) => {
  const [a, b] = n.ctx.inputs as [Shape, Shape];
  const out = n.ctx.output;
  const ok = (s: Shape) => s.length === out.length && s.every((d, i) => d === out[i] || d === 1);
  return (sameShape(a, out) || sameShape(b, out)) && ok(a) && ok(b)
    ? undefined
    : 'broadcasting where neither input has the output shape';
};

/** ReLU's backward from its output: dY where the output is positive. */
function reluBackward(c: NativeContext, y: Tensor, dy: Tensor): Tensor {
  const { b, p } = c;
  const hint = b.eltwiseFwd('relu_use_dst', y.md, 0, 0, true);
  const pd = b.eltwiseBwd('relu_use_dst', dy.md, y.md, 0, 0, hint);
  const dx = p.tensor(dy.md, dy.shape, c.label('drelu'));
  p.primitive(
    pd,
    [
      [b.ARG.DST, y],
      [b.ARG.DIFF_DST, dy],
      [b.ARG.DIFF_SRC, dx],
    ],
    c.label('drelu'),
  );
  return dx;
}

/** add, with a following ReLU fused in as a post-op (the residual block's last step). */
registerNative<{ relu: boolean }>({
  kind: 'add',
  decline: broadcastable,
  absorbs: (_, next) => next.node.op === 'relu',
  forward(c, inputs, absorbed) {
    const f = fullInput(c);
    const relu = absorbed !== undefined;
    return {
      output: binary(c, 'binary_add', inputs[f]!, inputs[1 - f]!, c.label('y'), relu),
      keep: { relu },
    };
  },
  backward(c, f, dyIn) {
    const dy = f.keep.relu ? reluBackward(c, f.output, dyIn) : dyIn;
    return f.inputs.map((x, i) => unbroadcast(c.b, c.p, dy, x.shape, c.label(`d${i}`)));
  },
});

registerNative({
  kind: 'mul',
  decline: broadcastable,
  forward(c, inputs) {
    const f = fullInput(c);
    return { output: binary(c, 'binary_mul', inputs[f]!, inputs[1 - f]!, c.label('y')), keep: undefined };
  },
  backward(c, f, dy, wanted) {
    const [a, b] = f.inputs as [Tensor, Tensor];
    return [
      [a, b],
      [b, a],
    ].map(([self, other], i) => {
      if (!wanted[i]) return undefined;
      const product = binary(c, 'binary_mul', dy, other!, c.label(`dy*x${1 - i}`));
      return unbroadcast(c.b, c.p, product, self!.shape, c.label(`d${i}`));
    });
  },
});
