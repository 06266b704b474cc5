import type { Shape } from '../../ir/shape.js';
import type { Binding, ConvAlgorithm, Md, Pd } from '../binding.js';
import type { Tensor } from '../program.js';
import { backwardData, geometry, registerNative } from '../registry.js';

export interface ConvAttrs {
  readonly out: number;
  readonly kernel: readonly [number, number];
  readonly stride: readonly [number, number];
  readonly padding: readonly [number, number, number, number];
  readonly dilation: readonly [number, number];
  readonly groups: number;
  readonly bias: boolean;
}

interface Kept {
  readonly pd: Pd;
  /** The input in the layout the convolution chose (the forward's src, backward-weights' too). */
  readonly src: Tensor;
  readonly algorithm: ConvAlgorithm;
}

/**
 * conv2d on oneDNN: forward, backward-data and backward-weights convolutions, each letting oneDNN
 * choose its layouts (channel-blocked nChw16c activations, blocked weights). Weights stay plain
 * (oihw, goihw when grouped: the same bytes) in the state; each primitive reads them through a
 * reorder into its own layout, and dW is reordered back into the plain gradient.
 */
registerNative<Kept>({
  kind: 'conv2d',
  forward(c, [x]) {
    const { b, p, node } = c;
    const a = node.ctx.attrs as unknown as ConvAttrs;
    const g = geometry(a);
    const weights = weightShape(a, x!.shape[1]!);
    const any = (dims: readonly number[]) => b.md(dims, 'f32', 'any');
    const bias = a.bias ? b.md([a.out], 'f32', 'x') : null;
    const algorithm = convAlgorithm(a, x!.shape, node.ctx.output, 'forward');
    const pd = b.convFwd(
      algorithm,
      any(x!.shape),
      any(weights),
      bias,
      any(node.ctx.output),
      g.strides,
      g.dilates,
      g.padL,
      g.padR,
      true,
    );
    const src = p.reorder(x!, b.pdMd(pd, 'src', 0), c.label('src'));
    const w = p.reorder(
      c.param('weight', plainWeights(c.b, weights)),
      b.pdMd(pd, 'weights', 0),
      c.label('weight'),
    );
    const y = p.tensor(b.pdMd(pd, 'dst', 0), node.ctx.output, c.label('y'));
    const { ARG } = b;
    p.primitive(
      pd,
      [
        [ARG.SRC, src],
        [ARG.WEIGHTS, w],
        [ARG.BIAS, a.bias ? c.param('bias', bias!) : undefined],
        [ARG.DST, y],
      ],
      c.label('fwd'),
    );
    return { output: y, keep: { pd, src, algorithm } };
  },
  backward(c, f, dy, wanted) {
    const { b, p, node } = c;
    const a = node.ctx.attrs as unknown as ConvAttrs;
    const g = geometry(a);
    const { pd, src } = f.keep;
    const weights = weightShape(a, src.shape[1]!);
    const wAny = b.md(weights, 'f32', 'any');
    const plain = plainWeights(b, weights);
    const { ARG } = b;
    const bias = a.bias ? b.md([a.out], 'f32', 'x') : null;
    const pdW = unlessReference(b, (layout) =>
      b.convBwdWeights(
        convAlgorithm(a, src.shape, node.ctx.output, 'weights'),
        layout(src),
        wAny,
        bias,
        layout(dy),
        g.strides,
        g.dilates,
        g.padL,
        g.padR,
        pd,
      ),
    );
    const gradPlain = c.grad('weight', plain);
    const dwMd = b.pdMd(pdW, 'diff_weights', 0);
    const dw = b.mdEqual(dwMd, plain) ? gradPlain : p.tensor(dwMd, weights, c.label('dw'));
    p.primitive(
      pdW,
      [
        [ARG.SRC, p.reorder(src, b.pdMd(pdW, 'src', 0), c.label('src-bwd'))],
        [ARG.DIFF_DST, p.reorder(dy, b.pdMd(pdW, 'diff_dst', 0), c.label('dy-bwd-weights'))],
        [ARG.DIFF_WEIGHTS, dw],
        [ARG.DIFF_BIAS, a.bias ? c.grad('bias', bias!) : undefined],
      ],
      c.label('bwd-weights'),
    );
    if (dw !== gradPlain) p.copy(dw, gradPlain, c.label('dw'));
    if (!wanted[0]) return [undefined];
    const pdD = unlessReference(b, (layout) =>
      b.convBwdData(
        convAlgorithm(a, src.shape, node.ctx.output, 'data'),
        layout(src),
        wAny,
        layout(dy),
        g.strides,
        g.dilates,
        g.padL,
        g.padR,
        pd,
      ),
    );
    return [backwardData(c, pdD, plain, dy, src)];
  },
});

/**
 * A backward descriptor on the forward's layouts, unless oneDNN would run it on its reference
 * kernel there: then on the layouts it chooses, the tensors reordered into them. Below 16 input
 * channels the forward takes a plain input (its first-layer kernels), on which oneDNN 2.6 has no
 * backward but the reference one: a small GoogLeNet's 8-to-24-channel 5x5 convolutions took 2.5 s
 * each way at batch 128, against milliseconds on channel-blocked layouts.
 */
function unlessReference(b: Binding, make: (layout: (t: Tensor) => Md) => Pd): Pd {
  const fixed = make((t) => t.md);
  if (!b.pdImpl(fixed).startsWith('ref')) return fixed;
  const free = make((t) => b.md(t.shape, 'f32', 'any'));
  return b.pdImpl(free).startsWith('ref') ? fixed : free;
}

/** oneDNN's weight dimensions: [out, in, kh, kw], or [groups, out/g, in/g, kh, kw] when grouped. */
function weightShape(a: ConvAttrs, channels: number): number[] {
  const [kh, kw] = a.kernel;
  return a.groups === 1
    ? [a.out, channels, kh, kw]
    : [a.groups, a.out / a.groups, channels / a.groups, kh, kw];
}

const plainWeights = (b: Binding, dims: readonly number[]) =>
  b.md(dims, 'f32', dims.length === 4 ? 'oihw' : 'goihw');

/**
 * Winograd F(4x4, 3x3) for backward-data where it measured faster on this machine's avx512 cores,
 * direct elsewhere: 3x3, stride 1, undilated, ungrouped convolutions of at least 64 input and
 * output channels (the tile transforms are paid per channel, the products they save per channel
 * pair) and outputs of at least 8x8 (4x4 tiles: below that most of each tile is padding). At
 * batch 128, resnet20's 64-channel 8x8 backward-data took 1.10 ms against direct's 1.87; at 16
 * channels on 32x32 Winograd was slower, and on resnet18's 512-channel 1x1 maps 50 times slower.
 * Its gradients agree with direct's (resnet18 at 64x64, batch 16: the step's gradients within
 * 7.1e-6 of onnxruntime's either way). Forward stays direct: oneDNN 2.6's Winograd forward, as
 * fast as backward-data, moved resnet18's first-step gradients by up to 1.2e-2 relative (against
 * 7.1e-6 direct), too inexact to train on; backward-weights too: its Winograd crashed on
 * resnet18's 4x4 stages.
 */
export function convAlgorithm(
  a: ConvAttrs,
  input: Shape,
  output: Shape,
  pass: 'forward' | 'data' | 'weights',
): ConvAlgorithm {
  const winograd =
    pass === 'data' &&
    a.kernel.every((k) => k === 3) &&
    a.stride.every((s) => s === 1) &&
    a.dilation.every((d) => d === 1) &&
    a.groups === 1 &&
    input[1]! >= 64 &&
    a.out >= 64 &&
    input[1]! % 16 === 0 &&
    a.out % 16 === 0 &&
    output[2]! >= 8 &&
    output[3]! >= 8;
  return winograd ? 'convolution_winograd' : 'convolution_direct';
}
