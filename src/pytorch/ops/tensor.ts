import { positional } from '../python.js';
import { registerTorchOp } from '../torch_op.js';
import { attr } from './util.js';

/** Ops on whole tensors: arithmetic, concatenation, slicing, reshaping; inline in forward. */

registerTorchOp({ kind: 'add', functional: () => ({ args: [], render: ([a, b]) => `${a} + ${b}` }) });
registerTorchOp({ kind: 'mul', functional: () => ({ args: [], render: ([a, b]) => `${a} * ${b}` }) });

registerTorchOp({
  kind: 'concat',
  functional: (ctx) => ({
    args: [positional('dim', attr<number>(ctx, 'axis'))],
    render: (inputs, args) => `torch.cat([${inputs.join(', ')}], ${args.get('dim')})`,
  }),
});

registerTorchOp({
  kind: 'flatten',
  module: () => ({ callee: 'nn.Flatten', args: [] }),
  functional: () => ({ args: [], render: ([x]) => `torch.flatten(${x}, 1)` }),
});

/** A channel range: `x[:, a:b]` (a view, as convlab's slice is). */
registerTorchOp({
  kind: 'slice',
  functional: (ctx) => ({
    args: [
      positional('start', attr<number>(ctx, 'start')),
      positional('end', attr<number>(ctx, 'end')),
      positional('dim', attr<number>(ctx, 'axis')),
    ],
    render: ([x], args) =>
      args.get('dim') === '1'
        ? `${x}[:, ${args.get('start')}:${args.get('end')}]`
        : `${x}.narrow(${args.get('dim')}, ${args.get('start')}, ${args.get('end')} - ${args.get('start')})`,
  }),
});

/** Zero channels before and after (the ResNet paper's option-A shortcut). */
registerTorchOp({
  kind: 'pad_channels',
  functional: (ctx) => ({
    args: [
      positional('before', attr<number>(ctx, 'before')),
      positional('after', attr<number>(ctx, 'after')),
    ],
    render: ([x], args) => `F.pad(${x}, (0, 0, 0, 0, ${args.get('before')}, ${args.get('after')}))`,
  }),
});

const CHANNEL_SHUFFLE = `def channel_shuffle(x, groups):
    """ShuffleNet's channel shuffle: regroup the channels so that each group sees every group."""
    n, c, h, w = x.shape
    x = x.view(n, groups, c // groups, h, w).transpose(1, 2).contiguous()
    return x.view(n, c, h, w)`;

registerTorchOp({
  kind: 'channel_shuffle',
  helpers: [CHANNEL_SHUFFLE],
  functional: (ctx) => ({
    args: [positional('groups', attr<number>(ctx, 'groups'))],
    render: ([x], args) => `channel_shuffle(${x}, ${args.get('groups')})`,
  }),
});
