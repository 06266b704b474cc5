import { ConvlabError } from '../../ir/errors.js';
import type { Leaf } from '../python.js';
import { pair } from '../python.js';
import type { TorchContext } from '../torch_op.js';

/** The attribute `key` of a node, typed by the caller (the op's schema has normalised it). */
export const attr = <T>(ctx: TorchContext, key: string): T => ctx.attrs[key] as T;

/**
 * convlab's padding [top, left, bottom, right] as PyTorch's (symmetric) padding; PyTorch's
 * convolution and pooling layers pad both sides alike, so uneven padding has no equivalent.
 */
export function symmetricPadding(ctx: TorchContext, op: string): Leaf {
  const [top, left, bottom, right] = attr<readonly number[]>(ctx, 'padding');
  if (top !== bottom || left !== right) {
    throw new ConvlabError(
      `op '${op}' (node '${ctx.name}') pads unevenly (${[top, left, bottom, right].join(', ')}): PyTorch's ${op} has no equivalent; pad evenly`,
    );
  }
  return pair([top!, left!]);
}

/** Channels of the node's first input. */
export const inChannels = (ctx: TorchContext): number => ctx.inputs[0]![1]!;
