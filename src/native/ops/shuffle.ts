import type { Binding } from '../binding.js';
import type { ProgramBuilder, Tensor } from '../program.js';
import { registerNative } from '../registry.js';
import { channelWindow, materialise } from './channels.js';

/**
 * Channel permutations and cuts in the plain layout: channel_shuffle is one reorder from a strided
 * view ([N, C/g, g, H, W] read across the groups) into a plain tensor, its gradient the shuffle
 * with C/g groups; slice copies a channel window out, its gradient pads dY back with zeros.
 */
function shuffle(b: Binding, p: ProgramBuilder, x: Tensor, groups: number, label: string): Tensor {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const plain = p.reorder(x, b.md(x.shape, 'f32', 'nchw'), `${label}/plain`);
  const dims = [n, c / groups, groups, h, w];
  const across = p.view(
    plain,
    b.mdStrides(dims, 'f32', [c * h * w, h * w, (c / groups) * h * w, w, 1]),
    dims,
  );
  const out = p.tensor(b.md(dims, 'f32', 'abcde'), dims, label);
  p.copy(across, out, label);
  return p.view(out, b.md(x.shape, 'f32', 'nchw'), x.shape);
}

registerNative({
  kind: 'channel_shuffle',
  forward: (c, [x]) => ({
    output: shuffle(c.b, c.p, x!, (c.node.ctx.attrs as { groups: number }).groups, c.label('y')),
    keep: undefined,
  }),
  backward: (c, _f, dy) => {
    const groups = (c.node.ctx.attrs as { groups: number }).groups;
    return [shuffle(c.b, c.p, dy, dy.shape[1]! / groups, c.label('dx'))];
  },
});

registerNative({
  kind: 'slice',
  decline: (n) =>
    (n.ctx.attrs as { axis: number }).axis === 1 && n.ctx.inputs[0]!.length === 4
      ? undefined
      : 'slice along an axis other than channels',
  forward(c, [x]) {
    const { b, p, node } = c;
    const { start } = node.ctx.attrs as { start: number };
    const window = channelWindow(b, p, x!, start, node.ctx.output[1]!, c.label('window'));
    return {
      output: materialise(p, window, b.md(node.ctx.output, 'f32', 'nchw'), c.label('y')),
      keep: undefined,
    };
  },
  backward(c, f, dy) {
    const { b, p, node } = c;
    const { start, end } = node.ctx.attrs as { start: number; end: number };
    const [n, channels, h, w] = f.inputs[0]!.shape as [number, number, number, number];
    const zeros = (k: number) => c.zeros(b.md([n, k, h, w], 'f32', 'nchw'), [n, k, h, w]);
    const plain = p.reorder(dy, b.md(dy.shape, 'f32', 'nchw'), c.label('dy'));
    const parts = [
      ...(start ? [zeros(start)] : []),
      plain,
      ...(end < channels ? [zeros(channels - end)] : []),
    ];
    const pd = b.concat(
      b.md(f.inputs[0]!.shape, 'f32', 'nchw'),
      1,
      parts.map((t) => t.md),
    );
    const dx = p.tensor(b.pdMd(pd, 'dst', 0), f.inputs[0]!.shape, c.label('dx'));
    p.primitive(
      pd,
      [...parts.map((t, i) => [b.ARG.MULTIPLE_SRC + i, t] as const), [b.ARG.DST, dx] as const],
      c.label('bwd'),
    );
    return [dx];
  },
});
