import type { ResolvedNode } from '../../ir/resolve.js';
import { adaptiveBins } from '../../ops/adaptive.js';
import type { Algorithm, Md, Pd } from '../binding.js';
import type { Tensor } from '../program.js';
import { type NativeContext, registerNative } from '../registry.js';

/**
 * Adaptive pooling with PyTorch's bins (ops/adaptive.ts) where they are not one ordinary window:
 * oneDNN has no adaptive pooling, so each axis's bins are grouped into runs of equal size and
 * equal step (an ordinary window over a slice), and every pair of a row run and a column run is
 * one oneDNN pooling primitive over a window of the plain (nchw) input, writing a window of the
 * output. Backward runs each primitive into its own buffer and adds it into the zeroed input
 * gradient, since the bins of neighbouring runs may overlap.
 */

/** Consecutive bins of one axis with the same size and a constant step: one pooling window. */
export interface Run {
  readonly first: number;
  readonly count: number;
  readonly start: number;
  readonly size: number;
  readonly step: number;
}

/** PyTorch's bins of `length` into `n`, as the fewest runs (greedily, in order). */
export function adaptiveRuns(length: number, n: number): Run[] {
  const runs: Run[] = [];
  adaptiveBins(length, n).forEach(([start, end], i) => {
    const size = end - start;
    const last = runs[runs.length - 1];
    if (last && last.size === size) {
      const step = start - (last.start + (last.count - 1) * last.step);
      // A step of 0 (the same bin again, when n exceeds length) is no oneDNN window.
      if (step > 0 && (last.count === 1 || step === last.step)) {
        runs[runs.length - 1] = { ...last, count: last.count + 1, step };
        return;
      }
    }
    runs.push({ first: i, count: 1, start, size, step: 1 });
  });
  return runs;
}

interface Piece {
  readonly pd: Pd;
  readonly src: Md;
  readonly srcDims: number[];
  readonly dst: Md;
  readonly window: Md;
  readonly dstDims: number[];
  readonly strides: number[];
  readonly kernel: number[];
  readonly workspace: Tensor | undefined;
}

export interface AdaptiveKept {
  readonly algorithm: Algorithm;
  readonly plain: Tensor;
  readonly output: Tensor;
  readonly pieces: readonly Piece[];
}

const extent = (r: Run) => (r.count - 1) * r.step + r.size;

/** The forward of adaptive pooling `algorithm` on `x`, one primitive per pair of runs. */
export function adaptiveForward(c: NativeContext, x: Tensor, algorithm: Algorithm): AdaptiveKept {
  const { b, p, node } = c;
  const [n, ch, h, w] = x.shape as [number, number, number, number];
  const [, , oh, ow] = node.ctx.output as [number, number, number, number];
  const plain = p.reorder(x, b.md(x.shape, 'f32', 'nchw'), c.label('plain'));
  const output = p.tensor(b.md(node.ctx.output, 'f32', 'nchw'), node.ctx.output, c.label('y'));
  const pieces: Piece[] = [];
  const { ARG } = b;
  for (const rows of adaptiveRuns(h, oh))
    for (const cols of adaptiveRuns(w, ow)) {
      const srcDims = [n, ch, extent(rows), extent(cols)];
      // Each piece pools dense copies of its windows (in, out, and so its workspace): the forward
      // and backward descriptors then match, and oneDNN's optimised kernels take them.
      const src = b.md(srcDims, 'f32', 'nchw');
      const input = p.tensor(src, srcDims, c.label('x-part'));
      p.copy(
        p.view(plain, b.mdSub(plain.md, srcDims, [0, 0, rows.start, cols.start]), srcDims),
        input,
        c.label('x-window'),
      );
      const dstDims = [n, ch, rows.count, cols.count];
      const window = b.mdSub(output.md, dstDims, [0, 0, rows.first, cols.first]);
      const dst = b.md(dstDims, 'f32', 'nchw');
      const strides = [rows.step, cols.step];
      const kernel = [rows.size, cols.size];
      const pd = b.poolFwd(algorithm, src, dst, strides, kernel, [0, 0], [0, 0], true);
      const wsMd = b.pdMd(pd, 'workspace', 0);
      const workspace = b.mdBytes(wsMd) > 0 ? p.tensor(wsMd, [], c.label('workspace')) : undefined;
      // A dense output (and workspace) per piece, copied into its window of the output.
      const part = p.tensor(dst, dstDims, c.label('y-part'));
      p.primitive(
        pd,
        [
          [ARG.SRC, input],
          [ARG.DST, part],
          [ARG.WORKSPACE, workspace],
        ],
        c.label('fwd'),
      );
      p.copy(part, p.view(output, window, dstDims), c.label('y-window'));
      const srcWindow = b.mdSub(plain.md, srcDims, [0, 0, rows.start, cols.start]);
      pieces.push({ pd, src: srcWindow, srcDims, dst, window, dstDims, strides, kernel, workspace });
    }
  return { algorithm, plain, output, pieces };
}

/** dX of adaptive pooling: each piece's backward into a buffer of its window, added into dX. */
export function adaptiveBackward(c: NativeContext, k: AdaptiveKept, dy: Tensor): Tensor {
  const { b, p } = c;
  const { ARG } = b;
  const dyPlain = p.reorder(dy, k.output.md, c.label('dy-plain'));
  const dx = p.tensor(k.plain.md, k.plain.shape, c.label('dx'));
  p.copy(c.zeros(k.plain.md, k.plain.shape), dx, c.label('dx-zero'));
  for (const piece of k.pieces) {
    const dims = piece.srcDims;
    const dense = b.md(dims, 'f32', 'nchw');
    const part = p.tensor(dense, dims, c.label('dx-part'));
    const pd = b.poolBwd(
      k.algorithm,
      dense,
      piece.dst,
      piece.strides,
      piece.kernel,
      [0, 0],
      [0, 0],
      piece.pd,
    );
    const dyPart = p.tensor(piece.dst, piece.dstDims, c.label('dy-part'));
    p.copy(p.view(dyPlain, piece.window, piece.dstDims), dyPart, c.label('dy-window'));
    p.primitive(
      pd,
      [
        [ARG.DIFF_DST, dyPart],
        [ARG.WORKSPACE, piece.workspace],
        [ARG.DIFF_SRC, part],
      ],
      c.label('bwd'),
    );
    const window = p.view(dx, piece.src, dims);
    p.primitive(
      b.binary('binary_add', piece.src, dense, piece.src),
      [
        [ARG.SRC, window],
        [ARG.SRC_1, part],
        [ARG.DST, window],
      ],
      c.label('dx-add'),
    );
  }
  return dx;
}

/** Whether adaptive pooling of `n` is one ordinary window (its bins tile the input evenly). */
export function evenBins(n: ResolvedNode): boolean {
  const [, , h, w] = n.ctx.inputs[0] as [number, number, number, number];
  const [, , oh, ow] = n.ctx.output as [number, number, number, number];
  return h % oh === 0 && w % ow === 0;
}

registerNative<AdaptiveKept>({
  kind: 'adaptive_maxpool2d',
  forward: (c, [x]) => {
    const kept = adaptiveForward(c, x!, 'pooling_max');
    return { output: kept.output, keep: kept };
  },
  backward: (c, f, dy) => [adaptiveBackward(c, f.keep, dy)],
});
