import type { Tensor } from '../ir/builder.js';
import { add } from '../ops/add.js';
import { batchnorm2d } from '../ops/batchnorm2d.js';
import { conv2d } from '../ops/conv2d.js';
import { maxpool2d } from '../ops/maxpool2d.js';
import { padChannels } from '../ops/pad_channels.js';
import { relu } from '../ops/relu.js';
import { squeezeExcitation } from './squeeze_excitation.js';

/** How a block whose shape changes gets its shortcut. */
export type Shortcut =
  /** 1x1 conv with stride + BN (ResNet option B, torchvision's `downsample`). */
  | 'projection'
  /** Parameter-free: stride-2 subsampling and zero channels (ResNet paper option A, CIFAR nets). */
  | 'zero-pad'
  /** No shortcut at all: the plain networks of the ResNet paper's degradation study. */
  | 'none';

export interface ResidualOptions {
  readonly planes: number;
  readonly stride: number;
  readonly shortcut: Shortcut;
  /** Grouped 3x3 conv (ResNeXt's cardinality). */
  readonly groups?: number;
  /** Width per group; 64 = ResNet, 128 = Wide ResNet-50-2, 4 with 32 groups = ResNeXt-50 32x4d. */
  readonly baseWidth?: number;
  /** Where a bottleneck strides: in its 3x3 (torchvision's ResNet V1.5) or first 1x1 (paper, SENet). */
  readonly strideIn?: '3x3' | '1x1';
  /** Squeeze-and-excitation reduction ratio on the residual branch (SENet); omitted = no SE. */
  readonly seReduction?: number;
}

function shortcut(x: Tensor, out: number, o: ResidualOptions): Tensor | undefined {
  if (o.shortcut === 'none') return undefined;
  if (o.stride === 1 && x.channels === out) return x;
  if (o.shortcut === 'projection') {
    const s = conv2d(x, { out, kernel: 1, stride: o.stride, bias: false }, 'downsample.0');
    return batchnorm2d(s, {}, 'downsample.1');
  }
  const sub = o.stride === 1 ? x : maxpool2d(x, { kernel: 1, stride: o.stride }, 'shortcut.subsample');
  const extra = out - x.channels;
  return padChannels(
    sub,
    { before: Math.floor(extra / 2), after: extra - Math.floor(extra / 2) },
    'shortcut.pad',
  );
}

/**
 * Add the shortcut (when there is one) and apply the block's last ReLU. The shortcut is built after
 * the branch, as torchvision runs and registers `downsample`, so state_dict order matches.
 */
function merge(branch: Tensor, identity: Tensor | undefined): Tensor {
  return relu(identity ? add(branch, identity, 'add') : branch);
}

/** ResNet's basic block: 3x3 -> BN -> ReLU -> 3x3 -> BN, plus the shortcut, then ReLU. Expansion 1. */
export function basicBlock(x: Tensor, name: string, o: ResidualOptions): Tensor {
  return x.builder.scope(name, 'BasicBlock', () => {
    let y = conv2d(x, { out: o.planes, kernel: 3, stride: o.stride, padding: 1, bias: false }, 'conv1');
    y = relu(batchnorm2d(y, {}, 'bn1'));
    y = conv2d(y, { out: o.planes, kernel: 3, padding: 1, bias: false }, 'conv2');
    y = batchnorm2d(y, {}, 'bn2');
    if (o.seReduction) y = squeezeExcitation(y, 'se', o.seReduction);
    return merge(y, shortcut(x, o.planes, o));
  });
}

export const BOTTLENECK_EXPANSION = 4;

/**
 * ResNet's bottleneck: 1x1 reduce -> 3x3 (grouped for ResNeXt) -> 1x1 expand to 4x planes, each
 * followed by BN, ReLU between; plus the shortcut, then ReLU. The 1x1s make the 3x3 cheap.
 */
export function bottleneck(x: Tensor, name: string, o: ResidualOptions): Tensor {
  return x.builder.scope(name, 'Bottleneck', () => {
    const groups = o.groups ?? 1;
    const width = Math.floor(o.planes * ((o.baseWidth ?? 64) / 64)) * groups;
    const out = o.planes * BOTTLENECK_EXPANSION;
    const [stride1x1, stride3x3] = o.strideIn === '1x1' ? [o.stride, 1] : [1, o.stride];
    let y = conv2d(x, { out: width, kernel: 1, stride: stride1x1, bias: false }, 'conv1');
    y = relu(batchnorm2d(y, {}, 'bn1'));
    y = conv2d(y, { out: width, kernel: 3, stride: stride3x3, padding: 1, groups, bias: false }, 'conv2');
    y = relu(batchnorm2d(y, {}, 'bn2'));
    y = conv2d(y, { out, kernel: 1, bias: false }, 'conv3');
    y = batchnorm2d(y, {}, 'bn3');
    if (o.seReduction) y = squeezeExcitation(y, 'se', o.seReduction);
    return merge(y, shortcut(x, out, o));
  });
}

export type ResidualBlock = typeof basicBlock;
