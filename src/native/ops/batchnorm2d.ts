import type { Tensor } from '../program.js';
import { registerNative } from '../registry.js';

interface Kept {
  /** The input in the channel-blocked layout the kernels run on. */
  readonly src: Tensor;
  readonly mean: Tensor;
  readonly variance: Tensor;
  readonly relu: boolean;
}

/**
 * batchnorm2d over the batch's statistics, with a following ReLU fused in when the ReLU is its only
 * consumer (its mask recomputed in the backward from the kept input and statistics). It runs on
 * the binding's own kernels rather than oneDNN's batch normalisation, which sums in float32: they
 * accumulate in double as PyTorch's CPU kernels do, which a DenseNet's one-step parity with
 * PyTorch needs (native/batch_norm.h). Both run on nChw16c, into which a plain input is reordered
 * (a DenseNet's concatenations of 12-channel growths): on plain NCHW oneDNN's kernel took 69% of a
 * densenet_bc_100_k12 step. The running statistics follow PyTorch: an exponential average with
 * `momentum`, the unbiased batch variance.
 */
registerNative<Kept>({
  kind: 'batchnorm2d',
  absorbs: (_, next) => next.node.op === 'relu',
  forward(c, [x], absorbed) {
    const { b, p, node } = c;
    const a = node.ctx.attrs as { eps: number; momentum: number };
    const [n, channels, h, w] = x!.shape as [number, number, number, number];
    const blocked = b.md(x!.shape, 'f32', 'nChw16c');
    const src = p.reorder(x!, blocked, c.label('src'));
    const stat = b.md([channels], 'f32', 'x');
    const y = p.tensor(blocked, x!.shape, c.label('y'));
    const mean = p.tensor(stat, [channels], c.label('mean'));
    const variance = p.tensor(stat, [channels], c.label('variance'));
    const [gamma, beta] = [c.param('weight', stat), c.param('bias', stat)];
    const relu = absorbed !== undefined;
    const runningMean = c.state('running_mean') as Float32Array;
    const runningVar = c.state('running_var') as Float32Array;
    const tracked = c.state('num_batches_tracked') as BigInt64Array;
    const count = n * h * w;
    const unbias = count / Math.max(1, count - 1);
    p.host(c.label('fwd'), [src, y, gamma, beta, mean, variance], (view) => {
      const [vx, vy, vg, vb, vm, vv] = [src, y, gamma, beta, mean, variance].map(view) as Float32Array[];
      return () => {
        b.bnForward(vx!, vy!, vg!, vb!, vm!, vv!, n, channels, h * w, a.eps, relu);
        b.runningStats(runningMean, runningVar, vm!, vv!, channels, a.momentum, unbias);
        tracked[0]! += 1n;
      };
    });
    return { output: y, keep: { src, mean, variance, relu } };
  },
  backward(c, f, dy) {
    const { b, p, node } = c;
    const a = node.ctx.attrs as { eps: number };
    const { src: x, mean, variance, relu } = f.keep;
    const [n, channels, h, w] = x.shape as [number, number, number, number];
    const stat = b.md([channels], 'f32', 'x');
    const dx = p.tensor(x.md, x.shape, c.label('dx'));
    const [gamma, beta] = [c.param('weight', stat), c.param('bias', stat)];
    const [dgamma, dbeta] = [c.grad('weight', stat), c.grad('bias', stat)];
    const touched = [x, dy, dx, gamma, beta, mean, variance, dgamma, dbeta];
    p.host(c.label('bwd'), touched, (view) => {
      const [vx, vdy, vdx, vg, vb, vm, vv, vdg, vdb] = touched.map(view) as Float32Array[];
      return () =>
        b.bnBackward(vx!, vdy!, vdx!, vg!, vb!, vm!, vv!, vdg!, vdb!, n, channels, h * w, a.eps, relu);
    });
    return [dx];
  },
});
