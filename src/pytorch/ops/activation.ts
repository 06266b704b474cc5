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

activation('silu', 'nn.SiLU', 'F.silu', true);

/** GELU, exact or with the tanh approximation, as nn.GELU's `approximate`. */
registerTorchOp({
  kind: 'gelu',
  module: (ctx) => ({
    callee: 'nn.GELU',
    args: [keyword('approximate', attr<string>(ctx, 'approximate'), 'none')],
  }),
  functional: (ctx) => ({
    args: [keyword('approximate', attr<string>(ctx, 'approximate'), 'none')],
    render: ([x], args) => callOf('F.gelu', [x!], args),
  }),
});

/** max(0, min(1, alpha x + beta)); PyTorch's hardsigmoid is alpha 1/6, beta 0.5. */
registerTorchOp({
  kind: 'hardsigmoid',
  functional: (ctx) => ({
    args: [keyword('alpha', attr<number>(ctx, 'alpha')), keyword('beta', attr<number>(ctx, 'beta'))],
    render: ([x], args) =>
      Math.abs(Number(args.get('alpha')) - 1 / 6) < 1e-12 && args.get('beta') === '0.5'
        ? `F.hardsigmoid(${x})`
        : `torch.clamp(${x} * ${args.get('alpha')} + ${args.get('beta')}, 0, 1)`,
  }),
});
