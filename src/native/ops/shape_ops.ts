import { registerNative } from '../registry.js';
import { channelWindow, materialise } from './channels.js';

/**
 * Ops that only move data: flatten (a plain view of its input), concat (oneDNN's concat; its
 * backward cuts the gradient into channel windows), pad_channels (concat with zero tensors).
 */
registerNative({
  kind: 'flatten',
  decline: (n) => (n.ctx.inputs[0]!.length === 4 ? undefined : 'flatten of a tensor of rank other than 4'),
  forward(c, [x]) {
    const { b, p, node } = c;
    const plain = p.reorder(x!, b.md(x!.shape, 'f32', 'nchw'), c.label('plain'));
    return { output: p.view(plain, b.md(node.ctx.output, 'f32', 'nc'), node.ctx.output), keep: undefined };
  },
  backward(c, f, dy) {
    const x = f.inputs[0]!;
    return [c.p.view(dy, c.b.md(x.shape, 'f32', 'nchw'), x.shape)];
  },
});

registerNative({
  kind: 'concat',
  decline: (n) =>
    (n.ctx.attrs as { axis: number }).axis === 1 ? undefined : 'concat along an axis other than channels',
  forward(c, inputs) {
    const { b, p, node } = c;
    const pd = b.concat(
      null,
      1,
      inputs.map((t) => t.md),
    );
    const y = p.tensor(b.pdMd(pd, 'dst', 0), node.ctx.output, c.label('y'));
    p.primitive(
      pd,
      [...inputs.map((t, i) => [b.ARG.MULTIPLE_SRC + i, t] as const), [b.ARG.DST, y] as const],
      c.label('fwd'),
    );
    return { output: y, keep: undefined };
  },
  backward(c, f, dy, wanted) {
    let offset = 0;
    return f.inputs.map((x, i) => {
      const count = x.shape[1]!;
      const window = channelWindow(c.b, c.p, dy, offset, count, c.label(`d${i}`));
      offset += count;
      return wanted[i] ? materialise(c.p, window, x.md, c.label(`dx${i}`)) : undefined;
    });
  },
});

registerNative({
  kind: 'pad_channels',
  forward(c, [x]) {
    const { b, p, node } = c;
    const a = node.ctx.attrs as { before: number; after: number };
    const [n, , h, w] = x!.shape as [number, number, number, number];
    const plain = p.reorder(x!, b.md(x!.shape, 'f32', 'nchw'), c.label('plain'));
    const zeros = (k: number) => c.zeros(b.md([n, k, h, w], 'f32', 'nchw'), [n, k, h, w]);
    const parts = [...(a.before ? [zeros(a.before)] : []), plain, ...(a.after ? [zeros(a.after)] : [])];
    const pd = b.concat(
      b.md(node.ctx.output, 'f32', 'nchw'),
      1,
      parts.map((t) => t.md),
    );
    const y = p.tensor(b.pdMd(pd, 'dst', 0), node.ctx.output, c.label('y'));
    p.primitive(
      pd,
      [...parts.map((t, i) => [b.ARG.MULTIPLE_SRC + i, t] as const), [b.ARG.DST, y] as const],
      c.label('fwd'),
    );
    return { output: y, keep: undefined };
  },
  backward(c, f, dy) {
    const x = f.inputs[0]!;
    const a = c.node.ctx.attrs as { before: number };
    const window = channelWindow(c.b, c.p, dy, a.before, x.shape[1]!, c.label('d'));
    return [materialise(c.p, window, x.md, c.label('dx'))];
  },
});
