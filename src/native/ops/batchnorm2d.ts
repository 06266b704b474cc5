import { BN, type Pd } from '../binding.js';
import type { Tensor } from '../program.js';
import { registerNative } from '../registry.js';

interface Kept {
  readonly pd: Pd;
  readonly flags: number;
  readonly mean: Tensor;
  readonly variance: Tensor;
  readonly workspace: Tensor | undefined;
  /** The input in the channel-blocked layout the primitive runs on. */
  readonly src: Tensor;
}

/**
 * batchnorm2d on oneDNN's batch normalisation (batch statistics, scale and shift), with a
 * following ReLU fused in when the ReLU is its only consumer (the ReLU's mask then lives in the
 * primitive's workspace, one bit per element). The running statistics follow PyTorch: an
 * exponential average with `momentum`, the unbiased batch variance. The input is reordered into
 * nChw16c when it comes plain (a DenseNet's concatenations of 12-channel growths): oneDNN's batch
 * normalisation on plain NCHW took 69% of a densenet_bc_100_k12 step, its blocked kernel a fraction.
 */
registerNative<Kept>({
  kind: 'batchnorm2d',
  absorbs: (_, next) => next.node.op === 'relu',
  forward(c, [x], absorbed) {
    const { b, p, node } = c;
    const a = node.ctx.attrs as { eps: number; momentum: number };
    const channels = x!.shape[1]!;
    const flags = BN.scale | BN.shift | (absorbed ? BN.fuseRelu : 0);
    const src = p.reorder(x!, b.md(x!.shape, 'f32', 'nChw16c'), c.label('src'));
    const pd = b.bnFwd(src.md, a.eps, flags, true);
    const stat = b.md([channels], 'f32', 'x');
    const y = p.tensor(b.pdMd(pd, 'dst', 0), x!.shape, c.label('y'));
    const mean = p.tensor(stat, [channels], c.label('mean'));
    const variance = p.tensor(stat, [channels], c.label('variance'));
    const wsMd = b.pdMd(pd, 'workspace', 0);
    const workspace = b.mdBytes(wsMd) > 0 ? p.tensor(wsMd, [], c.label('workspace')) : undefined;
    const { ARG } = b;
    p.primitive(
      pd,
      [
        [ARG.SRC, src],
        [ARG.SCALE, c.param('weight', stat)],
        [ARG.SHIFT, c.param('bias', stat)],
        [ARG.DST, y],
        [ARG.MEAN, mean],
        [ARG.VARIANCE, variance],
        [ARG.WORKSPACE, workspace],
      ],
      c.label('fwd'),
    );
    const [n, , h, w] = x!.shape as [number, number, number, number];
    const count = n * h * w;
    const runningMean = c.state('running_mean') as Float32Array;
    const runningVar = c.state('running_var') as Float32Array;
    const tracked = c.state('num_batches_tracked') as BigInt64Array;
    const unbias = count / Math.max(1, count - 1);
    p.host(c.label('running'), [mean, variance], (view) => {
      const [m, v] = [view(mean), view(variance)];
      return () => {
        b.runningStats(runningMean, runningVar, m, v, channels, a.momentum, unbias);
        tracked[0]! += 1n;
      };
    });
    return { output: y, keep: { pd, flags, mean, variance, workspace, src } };
  },
  backward(c, f, dy) {
    const { b, p, node } = c;
    const a = node.ctx.attrs as { eps: number };
    const { pd, flags, mean, variance, workspace, src: x } = f.keep;
    const channels = x.shape[1]!;
    const stat = b.md([channels], 'f32', 'x');
    const pdB = b.bnBwd(x.md, x.md, a.eps, flags, pd);
    const dx = p.tensor(x.md, x.shape, c.label('dx'));
    const { ARG } = b;
    p.primitive(
      pdB,
      [
        [ARG.SRC, x],
        [ARG.MEAN, mean],
        [ARG.VARIANCE, variance],
        [ARG.DIFF_DST, dy],
        [ARG.SCALE, c.param('weight', stat)],
        [ARG.SHIFT, c.param('bias', stat)],
        [ARG.WORKSPACE, workspace],
        [ARG.DIFF_SRC, dx],
        [ARG.DIFF_SCALE, c.grad('weight', stat)],
        [ARG.DIFF_SHIFT, c.grad('bias', stat)],
      ],
      c.label('bwd'),
    );
    return [dx];
  },
});
