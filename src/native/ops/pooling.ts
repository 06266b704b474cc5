import type { ResolvedNode } from '../../ir/resolve.js';
import type { Algorithm, Pd } from '../binding.js';
import type { Tensor } from '../program.js';
import { registerNative } from '../registry.js';
import { type AdaptiveKept, adaptiveBackward, adaptiveForward, evenBins } from './adaptive_pooling.js';

/**
 * Pooling on oneDNN: max pooling with its workspace (where each maximum came from), average
 * pooling, and adaptive average pooling where every bin has the same size (global average pooling
 * included); other adaptive bins are adaptive_pooling.ts's runs of windows. ceil_mode is the same pooling with the right/bottom padding extended to reach the
 * last window, which max pooling ignores.
 */
interface Window {
  readonly algorithm: Algorithm;
  readonly kernel: number[];
  readonly strides: number[];
  readonly padL: number[];
  readonly padR: number[];
}

interface Kept {
  readonly pd: Pd;
  readonly window: Window;
  readonly workspace: Tensor | undefined;
}

interface PoolAttrs {
  readonly kernel: readonly [number, number];
  readonly stride: readonly [number, number];
  readonly padding: readonly [number, number, number, number];
  readonly dilation?: readonly [number, number];
  readonly ceilMode: boolean;
  readonly countIncludePad?: boolean;
}

/** Padding at the end of each axis that makes oneDNN's floor rule give the op's output size. */
function endPadding(n: ResolvedNode, a: PoolAttrs): number[] {
  const [, , h, w] = n.ctx.inputs[0] as [number, number, number, number];
  const [, , oh, ow] = n.ctx.output as [number, number, number, number];
  const [top, left] = a.padding;
  return [(oh - 1) * a.stride[0] + a.kernel[0] - h - top, (ow - 1) * a.stride[1] + a.kernel[1] - w - left];
}

function windowOf(n: ResolvedNode): Window {
  const a = n.ctx.attrs as unknown as PoolAttrs;
  if (n.node.op === 'adaptive_avgpool2d') {
    const [, , h, w] = n.ctx.inputs[0] as [number, number, number, number];
    const [, , oh, ow] = n.ctx.output as [number, number, number, number];
    const kernel = [h / oh, w / ow];
    return { algorithm: 'pooling_avg_exclude_padding', kernel, strides: kernel, padL: [0, 0], padR: [0, 0] };
  }
  const [top, left] = a.padding;
  const algorithm: Algorithm =
    n.node.op === 'maxpool2d'
      ? 'pooling_max'
      : a.countIncludePad
        ? 'pooling_avg_include_padding'
        : 'pooling_avg_exclude_padding';
  return {
    algorithm,
    kernel: [...a.kernel],
    strides: [...a.stride],
    padL: [top, left],
    padR: endPadding(n, a),
  };
}

function decline(n: ResolvedNode): string | undefined {
  const a = n.ctx.attrs as unknown as PoolAttrs;
  if (n.node.op === 'adaptive_avgpool2d') return undefined;
  if (a.dilation && (a.dilation[0] !== 1 || a.dilation[1] !== 1)) return 'dilated pooling';
  if (n.node.op === 'avgpool2d' && a.ceilMode && a.countIncludePad) {
    const [, , bottom, right] = a.padding;
    const [endH, endW] = endPadding(n, a);
    if (endH !== bottom || endW !== right) return 'ceil_mode average pooling counting padding';
  }
  return undefined;
}

/** Adaptive average pooling whose bins are not one ordinary window. */
const uneven = (n: ResolvedNode) => n.node.op === 'adaptive_avgpool2d' && !evenBins(n);

for (const kind of ['maxpool2d', 'avgpool2d', 'adaptive_avgpool2d']) {
  registerNative<Kept | AdaptiveKept>({
    kind,
    decline,
    forward(c, [x]) {
      const { b, p, node } = c;
      if (uneven(node)) {
        const kept = adaptiveForward(c, x!, 'pooling_avg_exclude_padding');
        return { output: kept.output, keep: kept };
      }
      const window = windowOf(node);
      const { algorithm, strides, kernel, padL, padR } = window;
      const dst = b.md(node.ctx.output, 'f32', 'any');
      const pd = b.poolFwd(algorithm, x!.md, dst, strides, kernel, padL, padR, true);
      const y = p.tensor(b.pdMd(pd, 'dst', 0), node.ctx.output, c.label('y'));
      const wsMd = b.pdMd(pd, 'workspace', 0);
      const workspace = b.mdBytes(wsMd) > 0 ? p.tensor(wsMd, [], c.label('workspace')) : undefined;
      const { ARG } = b;
      p.primitive(
        pd,
        [
          [ARG.SRC, x],
          [ARG.DST, y],
          [ARG.WORKSPACE, workspace],
        ],
        c.label('fwd'),
      );
      return { output: y, keep: { pd, window, workspace } };
    },
    backward(c, f, dy) {
      const { b, p } = c;
      if ('pieces' in f.keep) return [adaptiveBackward(c, f.keep, dy)];
      const x = f.inputs[0]!;
      const { algorithm, strides, kernel, padL, padR } = f.keep.window;
      const pd = b.poolBwd(algorithm, x.md, dy.md, strides, kernel, padL, padR, f.keep.pd);
      const dx = p.tensor(x.md, x.shape, c.label('dx'));
      const { ARG } = b;
      p.primitive(
        pd,
        [
          [ARG.DIFF_DST, dy],
          [ARG.WORKSPACE, f.keep.workspace],
          [ARG.DIFF_SRC, dx],
        ],
        c.label('bwd'),
      );
      return [dx];
    },
  });
}
