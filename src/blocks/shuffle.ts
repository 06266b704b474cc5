import type { Tensor } from '../ir/builder.js';
import { GraphError } from '../ir/errors.js';
import { add } from '../ops/add.js';
import { avgpool2d } from '../ops/avgpool2d.js';
import { batchnorm2d } from '../ops/batchnorm2d.js';
import { channelShuffle } from '../ops/channel_shuffle.js';
import { concat } from '../ops/concat.js';
import { conv2d } from '../ops/conv2d.js';
import { relu } from '../ops/relu.js';
import { split } from '../ops/slice.js';

export interface ShuffleV1Options {
  readonly out: number;
  readonly stride: number;
  /** Groups of the 1x1 convolutions, and of the channel shuffle between them. */
  readonly groups: number;
  /**
   * Whether the first 1x1 is grouped. The paper leaves it plain in the very first unit: its input
   * (the 24-channel stem) is too narrow to split into groups usefully.
   */
  readonly groupedInput: boolean;
}

/**
 * ShuffleNet v1 unit (Zhang et al. 2017, Fig. 2b/c): grouped 1x1 to a bottleneck of out/4 -> BN
 * -> ReLU -> channel shuffle -> depthwise 3x3 -> BN -> grouped 1x1 -> BN, merged with the input,
 * then ReLU. Grouped 1x1s make the pointwise convs cheap, but then each group would only ever see
 * its own channels; the shuffle lets information cross groups. A stride-2 unit concatenates a
 * 3x3 average-pooled shortcut (so the branch makes only out - in channels: width grows for free),
 * a stride-1 unit adds the identity. No ReLU after the depthwise conv (the paper follows Xception there).
 *
 * Layout of the official release (megvii ShuffleNet-Series): the bottleneck is out/4 of the full
 * output even in stride-2 units, the shuffle follows the first 1x1 even when it is plain, and the
 * pooled shortcut comes first in the concatenation. Names follow the paper's figure.
 */
export function shuffleUnitV1(x: Tensor, name: string, o: ShuffleV1Options): Tensor {
  return x.builder.scope(name, 'ShuffleUnit', () => {
    const mid = Math.floor(o.out / 4);
    const branchOut = o.stride === 1 ? o.out : o.out - x.channels;
    const firstGroups = o.groupedInput ? o.groups : 1;
    let y = conv2d(x, { out: mid, kernel: 1, groups: firstGroups, bias: false }, 'gconv1');
    y = relu(batchnorm2d(y, {}, 'bn1'), 'relu1');
    if (o.groups > 1) y = channelShuffle(y, { groups: o.groups }, 'shuffle');
    y = conv2d(y, { out: mid, kernel: 3, stride: o.stride, padding: 1, groups: mid, bias: false }, 'dwconv');
    y = batchnorm2d(y, {}, 'bn2');
    y = conv2d(y, { out: branchOut, kernel: 1, groups: o.groups, bias: false }, 'gconv2');
    y = batchnorm2d(y, {}, 'bn3');
    const merged =
      o.stride === 1
        ? add(y, x, 'add')
        : concat([avgpool2d(x, { kernel: 3, stride: o.stride, padding: 1 }, 'shortcut'), y], {}, 'concat');
    return relu(merged, 'relu');
  });
}

/**
 * ShuffleNet v2 unit (Ma et al. 2018, Fig. 3c/d), torchvision's `InvertedResidual` with its names.
 * Stride 1: channel split in halves; one half passes untouched, the other runs 1x1 -> dw 3x3 ->
 * 1x1 (`branch2`); concat; channel shuffle (2 groups) so the next unit's split mixes both. Stride 2:
 * no split; both branches see the whole input (`branch1`: dw 3x3 -> 1x1; `branch2` as above, both
 * strided), doubling the width. Equal widths in and out of every conv and no grouped 1x1 follow the
 * paper's guidelines on memory access cost.
 */
export function shuffleUnitV2(x: Tensor, name: string, o: { out: number; stride: number }): Tensor {
  return x.builder.scope(name, 'InvertedResidual', () => {
    const half = Math.floor(o.out / 2);
    let passed: Tensor;
    let input: Tensor;
    if (o.stride === 1) {
      if (x.channels !== 2 * half) {
        throw new GraphError(
          x.builder.qualify('split'),
          'slice',
          [x.shape],
          `a stride-1 unit keeps its width: input channels ${x.channels} must equal 2 x ${half}`,
        );
      }
      [passed, input] = split(x, [half, half], ['split.0', 'split.1']) as [Tensor, Tensor];
    } else {
      // torchvision registers branch1 before branch2, so its parameters come first in the state_dict.
      let b = conv2d(
        x,
        { out: x.channels, kernel: 3, stride: o.stride, padding: 1, groups: x.channels, bias: false },
        'branch1.0',
      );
      b = batchnorm2d(b, {}, 'branch1.1');
      b = conv2d(b, { out: half, kernel: 1, bias: false }, 'branch1.2');
      passed = relu(batchnorm2d(b, {}, 'branch1.3'), 'branch1.4');
      input = x;
    }
    let y = conv2d(input, { out: half, kernel: 1, bias: false }, 'branch2.0');
    y = relu(batchnorm2d(y, {}, 'branch2.1'), 'branch2.2');
    y = conv2d(
      y,
      { out: half, kernel: 3, stride: o.stride, padding: 1, groups: half, bias: false },
      'branch2.3',
    );
    y = batchnorm2d(y, {}, 'branch2.4');
    y = conv2d(y, { out: half, kernel: 1, bias: false }, 'branch2.5');
    y = relu(batchnorm2d(y, {}, 'branch2.6'), 'branch2.7');
    return channelShuffle(concat([passed, y], {}, 'concat'), { groups: 2 }, 'channel_shuffle');
  });
}
