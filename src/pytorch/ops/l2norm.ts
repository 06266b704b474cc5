import { keyword, positional } from '../python.js';
import { registerTorchOp } from '../torch_op.js';
import { attr, inChannels } from './util.js';

/**
 * L2 normalisation over channels, x / sqrt(sum(x^2) + eps) (not F.normalize, which clamps the
 * norm instead of adding eps), with ParseNet's learnt per-channel scale `weight` when it has one.
 */
const L2NORM = `def l2_normalize(x, eps):
    """x / sqrt(sum over channels of x^2 + eps), at every position."""
    return x / torch.sqrt(x.pow(2).sum(1, keepdim=True) + eps)


class L2Norm(nn.Module):
    """L2 normalisation over channels, then a learnt per-channel scale (ParseNet)."""

    def __init__(self, channels, eps=1e-10, scale=20.0):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.full((channels,), float(scale)))

    def forward(self, x):
        return l2_normalize(x, self.eps) * self.weight.view(1, -1, 1, 1)`;

registerTorchOp({
  kind: 'l2norm',
  helpers: [L2NORM],
  module: (ctx) =>
    attr<boolean>(ctx, 'scale')
      ? {
          callee: 'L2Norm',
          args: [
            positional('channels', inChannels(ctx)),
            keyword('eps', attr<number>(ctx, 'eps'), 1e-10),
            keyword('scale', attr<number>(ctx, 'scaleInit'), 20),
          ],
        }
      : undefined,
  functional: (ctx) =>
    attr<boolean>(ctx, 'scale')
      ? undefined
      : {
          args: [positional('eps', attr<number>(ctx, 'eps'))],
          render: ([x], args) => `l2_normalize(${x}, ${args.get('eps')})`,
        },
});
