import type { Pd } from '../binding.js';
import { backwardData, registerNative } from '../registry.js';

/**
 * linear on oneDNN's inner product: y = x W^T + b with x [N, in] and y [N, out] plain (the loss
 * reads the logits), W [out, in] plain in the state and reordered into the primitives' layouts.
 */
registerNative<{ pd: Pd }>({
  kind: 'linear',
  decline: (n) => (n.ctx.inputs[0]!.length === 2 ? undefined : 'linear on a tensor of rank other than 2'),
  forward(c, [x]) {
    const { b, p, node } = c;
    const [out, inputs] = [node.ctx.output[1]!, x!.shape[1]!];
    const hasBias = (node.ctx.attrs as { bias: boolean }).bias;
    const bias = hasBias ? b.md([out], 'f32', 'x') : null;
    const src = p.reorder(x!, b.md(x!.shape, 'f32', 'nc'), c.label('src'));
    const dst = b.md(node.ctx.output, 'f32', 'nc');
    const pd = b.ipFwd(src.md, b.md([out, inputs], 'f32', 'any'), bias, dst, true);
    const w = p.reorder(
      c.param('weight', b.md([out, inputs], 'f32', 'oi')),
      b.pdMd(pd, 'weights', 0),
      c.label('weight'),
    );
    const y = p.tensor(dst, node.ctx.output, c.label('y'));
    const { ARG } = b;
    p.primitive(
      pd,
      [
        [ARG.SRC, src],
        [ARG.WEIGHTS, w],
        [ARG.BIAS, hasBias ? c.param('bias', bias!) : undefined],
        [ARG.DST, y],
      ],
      c.label('fwd'),
    );
    return { output: y, keep: { pd } };
  },
  backward(c, f, dy, wanted) {
    const { b, p, node } = c;
    const x = f.inputs[0]!;
    const [out, inputs] = [node.ctx.output[1]!, x.shape[1]!];
    const hasBias = (node.ctx.attrs as { bias: boolean }).bias;
    const bias = hasBias ? b.md([out], 'f32', 'x') : null;
    const src = p.reorder(x, b.md(x.shape, 'f32', 'nc'), c.label('src-bwd'));
    const plain = b.md([out, inputs], 'f32', 'oi');
    const wAny = b.md([out, inputs], 'f32', 'any');
    const { ARG } = b;
    const pdW = b.ipBwdWeights(src.md, wAny, bias, dy.md, f.keep.pd);
    const grad = c.grad('weight', plain);
    const dwMd = b.pdMd(pdW, 'diff_weights', 0);
    const dw = b.mdEqual(dwMd, plain) ? grad : p.tensor(dwMd, [out, inputs], c.label('dw'));
    p.primitive(
      pdW,
      [
        [ARG.SRC, src],
        [ARG.DIFF_DST, dy],
        [ARG.DIFF_WEIGHTS, dw],
        [ARG.DIFF_BIAS, hasBias ? c.grad('bias', bias!) : undefined],
      ],
      c.label('bwd-weights'),
    );
    if (dw !== grad) p.copy(dw, grad, c.label('dw'));
    if (!wanted[0]) return [undefined];
    const pdD = b.ipBwdData(src.md, wAny, dy.md, f.keep.pd);
    return [backwardData(c, pdD, plain, dy, src)];
  },
});
