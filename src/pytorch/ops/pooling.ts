import type { Arg } from '../python.js';
import { keyword, pair, positional } from '../python.js';
import { callOf, registerTorchOp, type TorchContext } from '../torch_op.js';
import { attr, symmetricPadding } from './util.js';

/**
 * Pooling: nn.MaxPool2d / nn.AvgPool2d / the adaptive ones as modules, F.* inline. PyTorch's
 * stride defaults to the kernel, so a stride equal to it is left out.
 */
function windowArgs(ctx: TorchContext, op: string): Arg[] {
  const kernel = pair(attr(ctx, 'kernel'));
  return [
    positional('kernel_size', kernel),
    keyword('stride', pair(attr(ctx, 'stride')), kernel),
    keyword('padding', symmetricPadding(ctx, op), 0),
  ];
}

const maxArgs = (ctx: TorchContext): Arg[] => [
  ...windowArgs(ctx, 'MaxPool2d'),
  keyword('dilation', pair(attr(ctx, 'dilation')), 1),
  keyword('ceil_mode', attr<boolean>(ctx, 'ceilMode'), false),
];

const avgArgs = (ctx: TorchContext): Arg[] => [
  ...windowArgs(ctx, 'AvgPool2d'),
  keyword('ceil_mode', attr<boolean>(ctx, 'ceilMode'), false),
  keyword('count_include_pad', attr<boolean>(ctx, 'countIncludePad'), true),
];

/** F.max_pool2d(x, 3, stride=2): the kernel size positional, the rest by keyword. */
const inline =
  (fn: string) =>
  ([x]: readonly string[], args: ReadonlyMap<string, string>): string => {
    const rest = new Map(args);
    const kernel = rest.get('kernel_size');
    rest.delete('kernel_size');
    return callOf(fn, kernel === undefined ? [x!] : [x!, kernel], rest);
  };

registerTorchOp({
  kind: 'maxpool2d',
  module: (ctx) => ({ callee: 'nn.MaxPool2d', args: maxArgs(ctx) }),
  functional: (ctx) => ({ args: maxArgs(ctx), render: inline('F.max_pool2d') }),
});

registerTorchOp({
  kind: 'avgpool2d',
  module: (ctx) => ({ callee: 'nn.AvgPool2d', args: avgArgs(ctx) }),
  functional: (ctx) => ({ args: avgArgs(ctx), render: inline('F.avg_pool2d') }),
});

const adaptive = (kind: string, module: string, fn: string) =>
  registerTorchOp({
    kind,
    module: (ctx) => ({ callee: module, args: [positional('output_size', pair(attr(ctx, 'output')))] }),
    functional: (ctx) => ({
      args: [positional('output_size', pair(attr(ctx, 'output')))],
      render: ([x], args) => `${fn}(${x}, ${args.get('output_size')})`,
    }),
  });

adaptive('adaptive_avgpool2d', 'nn.AdaptiveAvgPool2d', 'F.adaptive_avg_pool2d');
adaptive('adaptive_maxpool2d', 'nn.AdaptiveMaxPool2d', 'F.adaptive_max_pool2d');
