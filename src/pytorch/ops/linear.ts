import { keyword, positional } from '../python.js';
import { registerTorchOp } from '../torch_op.js';
import { attr } from './util.js';

/** linear is nn.Linear: weight [out, in] and bias, over the last axis (perPosition: at every position). */
registerTorchOp({
  kind: 'linear',
  module: (ctx) => ({
    callee: 'nn.Linear',
    args: [
      positional('in_features', ctx.inputs[0]!.at(-1)!),
      positional('out_features', attr<number>(ctx, 'out')),
      keyword('bias', attr<boolean>(ctx, 'bias'), true),
    ],
  }),
});
