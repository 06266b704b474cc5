import type { Tensor } from '../ir/builder.js';
import { add } from '../ops/add.js';
import { batchnorm2d } from '../ops/batchnorm2d.js';
import { conv2d } from '../ops/conv2d.js';
import { maxpool2d } from '../ops/maxpool2d.js';
import { relu } from '../ops/relu.js';
import { separableConv2d } from './separable.js';

/**
 * Keras's BatchNormalization defaults, which the reference Xception uses: epsilon 1e-3 and a
 * moving-average momentum of 0.99, i.e. PyTorch's momentum 0.01.
 */
export const XCEPTION_BN = { eps: 1e-3, momentum: 0.01 } as const;

interface XceptionBlockOptions {
  /** Output width of each separable conv, in order. */
  readonly widths: readonly number[];
  /** 2: end in a 3x3 stride-2 max pool and project the shortcut; 1: identity shortcut. */
  readonly stride: 1 | 2;
  readonly startWithRelu: boolean;
}

/**
 * The residual unit of Xception's Figure 5: [ReLU -> SeparableConv -> BN] per width, an optional
 * 3x3/2 max pool, plus a shortcut (a 1x1 stride-2 conv + BN when the shape changes). The ReLU comes
 * before each separable conv, so the block's output is the un-rectified sum.
 */
function xceptionBlock(x: Tensor, name: string, o: XceptionBlockOptions): Tensor {
  const b = x.builder;
  return b.scope(name, 'XceptionBlock', () => {
    const out = o.widths[o.widths.length - 1]!;
    // Built first, as Keras does, so the parameter order reads shortcut, then the residual branch.
    const shortcut =
      o.stride === 1 && out === x.channels
        ? x
        : b.scope('shortcut', 'Projection', () =>
            batchnorm2d(
              conv2d(x, { out, kernel: 1, stride: o.stride, bias: false }, 'conv'),
              XCEPTION_BN,
              'bn',
            ),
          );
    let y = x;
    o.widths.forEach((width, i) => {
      if (i > 0 || o.startWithRelu) y = relu(y, `relu${i + 1}`);
      y = separableConv2d(y, `sepconv${i + 1}`, { out: width });
      y = batchnorm2d(y, XCEPTION_BN, `bn${i + 1}`);
    });
    // Keras pads this pool "same" (asymmetrically on even inputs); symmetric padding 1 gives the
    // same ceil(n/2) output for every n, as pytorchcv and Cadene's port do.
    if (o.stride === 2) y = maxpool2d(y, { kernel: 3, stride: 2, padding: 1 }, 'pool');
    return add(y, shortcut, 'add');
  });
}

/**
 * Entry-flow block: two separable convs to `out`, then halve the grid. The first one follows the
 * stem's ReLU and so starts without its own.
 */
export const entryFlowBlock = (x: Tensor, name: string, o: { out: number; startWithRelu: boolean }): Tensor =>
  xceptionBlock(x, name, { widths: [o.out, o.out], stride: 2, startWithRelu: o.startWithRelu });

/** Middle-flow block (repeated eight times): three separable convs at constant width, identity shortcut. */
export const middleFlowBlock = (x: Tensor, name: string): Tensor =>
  xceptionBlock(x, name, { widths: [x.channels, x.channels, x.channels], stride: 1, startWithRelu: true });

/** Exit-flow block: separable convs to `widths` (728 then 1024), then halve the grid. */
export const exitFlowBlock = (x: Tensor, name: string, o: { widths: readonly number[] }): Tensor =>
  xceptionBlock(x, name, { widths: o.widths, stride: 2, startWithRelu: true });
