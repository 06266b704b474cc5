import { keyword } from '../python.js';
import { callOf, registerTorchOp } from '../torch_op.js';
import { attr } from './util.js';

/** Element-wise activations: a module for nn.Sequential, a function in forward. */
const activation = (kind: string, module: string, fn: string, inplace: boolean) =>
  registerTorchOp({
    kind,
    module: () => ({ callee: module, args: inplace ? [keyword('inplace', true)] : [] }),
    functional: () => ({ args: [], render: ([x]) => `${fn}(${x})` }),
  });

activation('relu', 'nn.ReLU', 'F.relu', true);
activation('relu6', 'nn.ReLU6', 'F.relu6', true);
activation('sigmoid', 'nn.Sigmoid', 'torch.sigmoid', false);
activation('hardswish', 'nn.Hardswish', 'F.hardswish', false);

registerTorchOp({
  kind: 'softmax',
  module: (ctx) => ({ callee: 'nn.Softmax', args: [keyword('dim', attr<number>(ctx, 'axis'))] }),
  functional: (ctx) => ({
    args: [keyword('dim', attr<number>(ctx, 'axis'))],
    render: ([x], args) => callOf('torch.softmax', [x!], args),
  }),
});
