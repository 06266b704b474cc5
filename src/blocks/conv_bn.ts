import type { Tensor } from '../ir/builder.js';
import type { AttrsIn } from '../ir/schema.js';
import { batchnorm2d } from '../ops/batchnorm2d.js';
import { type Conv2d, conv2d } from '../ops/conv2d.js';
import { relu } from '../ops/relu.js';
import { relu6 } from '../ops/relu6.js';

export type Activation = 'relu' | 'relu6' | 'none';

export interface ConvBnNames {
  readonly conv: string;
  readonly bn: string;
  /** Name of the activation node; omitted when `act` is 'none'. */
  readonly act?: string;
}

/**
 * conv (no bias) -> batch norm -> activation, the unit every modern CNN repeats. Names are given by
 * the caller because each family spells them its own way (`conv1`/`bn1`, `conv.0`/`conv.1`, ...).
 */
export function convBnAct(
  x: Tensor,
  conv: Omit<AttrsIn<typeof Conv2d.attrs>, 'bias'>,
  names: ConvBnNames,
  act: Activation = 'relu',
  bnEps = 1e-5,
): Tensor {
  let y = conv2d(x, { ...conv, bias: false }, names.conv);
  y = batchnorm2d(y, { eps: bnEps }, names.bn);
  if (act === 'relu') y = relu(y, names.act);
  if (act === 'relu6') y = relu6(y, names.act);
  return y;
}
