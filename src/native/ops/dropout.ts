import { numel } from '../../ir/shape.js';
import { MODULUS, salt } from '../../ops/random.js';
import type { Tensor } from '../program.js';
import { plainTag, registerNative } from '../registry.js';

/**
 * dropout: the mask is drawn by the same counter-based hash as the onnxruntime step (ops/random.ts:
 * seed, node, step, element index in NCHW order), so both backends drop the same elements; it is
 * applied in the plain layout, where element indices are NCHW's, as a product with a mask holding
 * 1/(1-p) where kept and 0 where dropped. p = 0 is the identity.
 */
registerNative<{ mask: Tensor } | undefined>({
  kind: 'dropout',
  forward(c, [x]) {
    const { b, p, node } = c;
    const rate = (node.ctx.attrs as { p: number }).p;
    if (rate === 0) return { output: x!, keep: undefined };
    const plain = b.md(x!.shape, 'f32', plainTag(x!.shape.length));
    const src = p.reorder(x!, plain, c.label('plain'));
    const mask = p.tensor(plain, x!.shape, c.label('mask'));
    const count = numel(x!.shape);
    const threshold = Math.round(rate * MODULUS);
    const scale = rate < 1 ? 1 / (1 - rate) : 0;
    const { clock } = c;
    const key = salt(clock.seed, node.node.name);
    p.host(c.label('draw'), [mask], (view) => {
      const m = view(mask);
      return () => b.dropoutMask(m, count, clock.step, key, threshold, scale);
    });
    const y = p.tensor(plain, x!.shape, c.label('y'));
    multiply(c.b, c.p, src, mask, y, c.label('fwd'));
    return { output: y, keep: { mask } };
  },
  backward(c, f, dy) {
    if (!f.keep) return [dy];
    const dx = c.p.tensor(dy.md, dy.shape, c.label('dx'));
    multiply(c.b, c.p, dy, f.keep.mask, dx, c.label('bwd'));
    return [dx];
  },
});

function multiply(
  b: import('../binding.js').Binding,
  p: import('../program.js').ProgramBuilder,
  x: Tensor,
  mask: Tensor,
  y: Tensor,
  label: string,
): void {
  p.primitive(
    b.binary('binary_mul', x.md, mask.md, y.md),
    [
      [b.ARG.SRC, x],
      [b.ARG.SRC_1, mask],
      [b.ARG.DST, y],
    ],
    label,
  );
}
