import { keyword } from '../python.js';
import { callOf, registerTorchOp } from '../torch_op.js';
import { attr } from './util.js';

/** Binary arithmetic with broadcasting, and element-wise functions: inline Python operators and torch calls. */
const binary = (kind: string, operator: string) =>
  registerTorchOp({ kind, functional: () => ({ args: [], render: ([a, b]) => `${a} ${operator} ${b}` }) });

binary('sub', '-');
binary('div', '/');
binary('pow', '**');

registerTorchOp({
  kind: 'sqrt',
  functional: () => ({ args: [], render: ([x]) => `torch.sqrt(${x})` }),
});

registerTorchOp({
  kind: 'identity',
  module: () => ({ callee: 'nn.Identity', args: [] }),
  functional: () => ({ args: [], render: ([x]) => x! }),
});

const FLOAT32_MAX = 3.4028234663852886e38;

/** clip(min, max) is torch.clamp; a bound at float32's range is no bound. */
registerTorchOp({
  kind: 'clip',
  functional: (ctx) => ({
    args: [
      keyword('min', attr<number>(ctx, 'min'), -FLOAT32_MAX),
      keyword('max', attr<number>(ctx, 'max'), FLOAT32_MAX),
    ],
    render: ([x], args) => callOf('torch.clamp', [x!], args),
  }),
});

registerTorchOp({
  kind: 'reducemean',
  functional: (ctx) => ({
    args: [
      keyword('dim', [...attr<readonly number[]>(ctx, 'axes')]),
      keyword('keepdim', attr<boolean>(ctx, 'keepdims')),
    ],
    render: ([x], args) => `${x}.mean(${args.get('dim')}, keepdim=${args.get('keepdim')})`,
  }),
});

/** Static reshapes keep the batch axis: x.reshape(x.shape[0], ...). */
registerTorchOp({
  kind: 'reshape',
  functional: (ctx) => ({
    args: [keyword('shape', [...attr<readonly number[]>(ctx, 'shape')])],
    render: ([x], args) => `${x}.reshape(${x}.shape[0], *${args.get('shape')})`,
  }),
});

registerTorchOp({
  kind: 'transpose',
  functional: (ctx) => ({
    args: [keyword('perm', [...attr<readonly number[]>(ctx, 'perm')])],
    render: ([x], args) => `${x}.permute(*${args.get('perm')})`,
  }),
});
