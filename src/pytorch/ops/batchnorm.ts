import { keyword, positional } from '../python.js';
import { registerTorchOp } from '../torch_op.js';
import { attr, inChannels } from './util.js';

/** batchnorm2d is nn.BatchNorm2d; its running statistics are buffers of the same names. */
registerTorchOp({
  kind: 'batchnorm2d',
  module: (ctx) => ({
    callee: 'nn.BatchNorm2d',
    args: [
      positional('num_features', inChannels(ctx)),
      keyword('eps', attr<number>(ctx, 'eps'), 1e-5),
      keyword('momentum', attr<number>(ctx, 'momentum'), 0.1),
    ],
  }),
});
