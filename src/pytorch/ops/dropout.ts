import { keyword } from '../python.js';
import { registerTorchOp } from '../torch_op.js';
import { attr } from './util.js';

/** dropout is nn.Dropout; inline it follows the module's training flag, as the module does. */
registerTorchOp({
  kind: 'dropout',
  module: (ctx) => ({ callee: 'nn.Dropout', args: [keyword('p', attr<number>(ctx, 'p'), 0.5)] }),
  functional: (ctx) => ({
    args: [keyword('p', attr<number>(ctx, 'p'), 0.5)],
    render: ([x], args) =>
      `F.dropout(${x}, ${args.has('p') ? `p=${args.get('p')}, ` : ''}training=self.training)`,
  }),
});
