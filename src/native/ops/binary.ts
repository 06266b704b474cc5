import { registerNative } from '../registry.js';

/**
 * add on oneDNN's binary primitive, for inputs of one shape (the residual connection): the second
 * input is read in the first's layout, and the gradient passes to both unchanged.
 */
registerNative({
  kind: 'add',
  decline: (n) => (n.ctx.inputs[0]!.join() === n.ctx.inputs[1]!.join() ? undefined : 'add with broadcasting'),
  forward(c, [x0, x1]) {
    const { b, p, node } = c;
    const other = p.reorder(x1!, x0!.md, c.label('src1'));
    const pd = b.binary('binary_add', x0!.md, other.md, x0!.md);
    const y = p.tensor(x0!.md, node.ctx.output, c.label('y'));
    p.primitive(
      pd,
      [
        [b.ARG.SRC, x0],
        [b.ARG.SRC_1, other],
        [b.ARG.DST, y],
      ],
      c.label('fwd'),
    );
    return { output: y, keep: undefined };
  },
  backward: (_c, _f, dy) => [dy, dy],
});
