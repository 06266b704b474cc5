import { keyword, pair, positional } from '../python.js';
import { registerTorchOp } from '../torch_op.js';
import { attr, inChannels, symmetricPadding } from './util.js';

/** conv2d is nn.Conv2d: weight [out, in/groups, kh, kw] and bias, as convlab names them. */
registerTorchOp({
  kind: 'conv2d',
  module: (ctx) => ({
    callee: 'nn.Conv2d',
    args: [
      positional('in_channels', inChannels(ctx)),
      positional('out_channels', attr<number>(ctx, 'out')),
      keyword('kernel_size', pair(attr(ctx, 'kernel'))),
      keyword('stride', pair(attr(ctx, 'stride')), 1),
      keyword('padding', symmetricPadding(ctx, 'Conv2d'), 0),
      keyword('dilation', pair(attr(ctx, 'dilation')), 1),
      keyword('groups', attr<number>(ctx, 'groups'), 1),
      keyword('bias', attr<boolean>(ctx, 'bias'), true),
    ],
  }),
});
