import { keyword, positional } from '../python.js';
import { registerTorchOp } from '../torch_op.js';
import { attr, inChannels } from './util.js';

/** linear is nn.Linear: weight [out, in] and bias. */
registerTorchOp({
  kind: 'linear',
  module: (ctx) => ({
    callee: 'nn.Linear',
    args: [
      positional('in_features', inChannels(ctx)),
      positional('out_features', attr<number>(ctx, 'out')),
      keyword('bias', attr<boolean>(ctx, 'bias'), true),
    ],
  }),
});
