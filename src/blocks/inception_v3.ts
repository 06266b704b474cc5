import type { Tensor } from '../ir/builder.js';
import { avgpool2d } from '../ops/avgpool2d.js';
import { concat } from '../ops/concat.js';
import { maxpool2d } from '../ops/maxpool2d.js';
import { basicConv2d } from './inception.js';

/*
 * The Inception v3 modules (Szegedy et al. 2015, "Rethinking the Inception Architecture"), with
 * torchvision's names and widths. Each replaces large kernels by cheaper stacks: a 5x5 by two 3x3s
 * (A), an n x n by 1 x n then n x 1 (C, D, E), and grid reduction by a strided conv branch beside a
 * strided pool rather than a pool after the convs (B, D), which avoids both a representational
 * bottleneck and a costly full-resolution conv.
 */

/**
 * Module A (35x35): 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | avg pool -> 1x1. The double 3x3 is
 * Figure 5's factorised 5x5; the released model keeps a plain 5x5 branch beside it.
 */
export function inceptionA(x: Tensor, name: string, o: { poolFeatures: number }): Tensor {
  return x.builder.scope(name, 'InceptionA', () => {
    const branch1x1 = basicConv2d(x, 'branch1x1', { out: 64, kernel: 1 });

    let branch5x5 = basicConv2d(x, 'branch5x5_1', { out: 48, kernel: 1 });
    branch5x5 = basicConv2d(branch5x5, 'branch5x5_2', { out: 64, kernel: 5, padding: 2 });

    let branch3x3dbl = basicConv2d(x, 'branch3x3dbl_1', { out: 64, kernel: 1 });
    branch3x3dbl = basicConv2d(branch3x3dbl, 'branch3x3dbl_2', { out: 96, kernel: 3, padding: 1 });
    branch3x3dbl = basicConv2d(branch3x3dbl, 'branch3x3dbl_3', { out: 96, kernel: 3, padding: 1 });

    const pooled = avgpool2d(x, { kernel: 3, stride: 1, padding: 1 }, 'avgpool');
    const branchPool = basicConv2d(pooled, 'branch_pool', { out: o.poolFeatures, kernel: 1 });
    return concat([branch1x1, branch5x5, branch3x3dbl, branchPool], {}, 'cat');
  });
}

/** Module B, grid reduction 35 -> 17 (Figure 10): stride-2 3x3 | 1x1 -> 3x3 -> stride-2 3x3 | max pool. */
export function inceptionB(x: Tensor, name: string): Tensor {
  return x.builder.scope(name, 'InceptionB', () => {
    const branch3x3 = basicConv2d(x, 'branch3x3', { out: 384, kernel: 3, stride: 2 });

    let branch3x3dbl = basicConv2d(x, 'branch3x3dbl_1', { out: 64, kernel: 1 });
    branch3x3dbl = basicConv2d(branch3x3dbl, 'branch3x3dbl_2', { out: 96, kernel: 3, padding: 1 });
    branch3x3dbl = basicConv2d(branch3x3dbl, 'branch3x3dbl_3', { out: 96, kernel: 3, stride: 2 });

    const branchPool = maxpool2d(x, { kernel: 3, stride: 2 }, 'maxpool');
    return concat([branch3x3, branch3x3dbl, branchPool], {}, 'cat');
  });
}

/**
 * Module C (17x17, Figure 6): 7x7s factorised into 1x7 then 7x1, which costs 2*7*c*c weights
 * instead of 49*c*c. `channels7x7` is the width inside the factorised branches.
 */
export function inceptionC(x: Tensor, name: string, o: { channels7x7: number }): Tensor {
  const c7 = o.channels7x7;
  return x.builder.scope(name, 'InceptionC', () => {
    const branch1x1 = basicConv2d(x, 'branch1x1', { out: 192, kernel: 1 });

    let branch7x7 = basicConv2d(x, 'branch7x7_1', { out: c7, kernel: 1 });
    branch7x7 = basicConv2d(branch7x7, 'branch7x7_2', { out: c7, kernel: [1, 7], padding: [0, 3] });
    branch7x7 = basicConv2d(branch7x7, 'branch7x7_3', { out: 192, kernel: [7, 1], padding: [3, 0] });

    let dbl = basicConv2d(x, 'branch7x7dbl_1', { out: c7, kernel: 1 });
    dbl = basicConv2d(dbl, 'branch7x7dbl_2', { out: c7, kernel: [7, 1], padding: [3, 0] });
    dbl = basicConv2d(dbl, 'branch7x7dbl_3', { out: c7, kernel: [1, 7], padding: [0, 3] });
    dbl = basicConv2d(dbl, 'branch7x7dbl_4', { out: c7, kernel: [7, 1], padding: [3, 0] });
    dbl = basicConv2d(dbl, 'branch7x7dbl_5', { out: 192, kernel: [1, 7], padding: [0, 3] });

    const pooled = avgpool2d(x, { kernel: 3, stride: 1, padding: 1 }, 'avgpool');
    const branchPool = basicConv2d(pooled, 'branch_pool', { out: 192, kernel: 1 });
    return concat([branch1x1, branch7x7, dbl, branchPool], {}, 'cat');
  });
}

/** Module D, grid reduction 17 -> 8: 1x1 -> stride-2 3x3 | 1x1 -> 1x7 -> 7x1 -> stride-2 3x3 | max pool. */
export function inceptionD(x: Tensor, name: string): Tensor {
  return x.builder.scope(name, 'InceptionD', () => {
    let branch3x3 = basicConv2d(x, 'branch3x3_1', { out: 192, kernel: 1 });
    branch3x3 = basicConv2d(branch3x3, 'branch3x3_2', { out: 320, kernel: 3, stride: 2 });

    let branch7x7x3 = basicConv2d(x, 'branch7x7x3_1', { out: 192, kernel: 1 });
    branch7x7x3 = basicConv2d(branch7x7x3, 'branch7x7x3_2', { out: 192, kernel: [1, 7], padding: [0, 3] });
    branch7x7x3 = basicConv2d(branch7x7x3, 'branch7x7x3_3', { out: 192, kernel: [7, 1], padding: [3, 0] });
    branch7x7x3 = basicConv2d(branch7x7x3, 'branch7x7x3_4', { out: 192, kernel: 3, stride: 2 });

    const branchPool = maxpool2d(x, { kernel: 3, stride: 2 }, 'maxpool');
    return concat([branch3x3, branch7x7x3, branchPool], {}, 'cat');
  });
}

/**
 * Module E (8x8, Figure 7): the 3x3s are split into a 1x3 and a 3x1 applied side by side and
 * concatenated, widening the coarsest grid's representation rather than deepening it.
 */
export function inceptionE(x: Tensor, name: string): Tensor {
  return x.builder.scope(name, 'InceptionE', () => {
    const branch1x1 = basicConv2d(x, 'branch1x1', { out: 320, kernel: 1 });

    const b3 = basicConv2d(x, 'branch3x3_1', { out: 384, kernel: 1 });
    const branch3x3 = concat(
      [
        basicConv2d(b3, 'branch3x3_2a', { out: 384, kernel: [1, 3], padding: [0, 1] }),
        basicConv2d(b3, 'branch3x3_2b', { out: 384, kernel: [3, 1], padding: [1, 0] }),
      ],
      {},
      'branch3x3_cat',
    );

    let dbl = basicConv2d(x, 'branch3x3dbl_1', { out: 448, kernel: 1 });
    dbl = basicConv2d(dbl, 'branch3x3dbl_2', { out: 384, kernel: 3, padding: 1 });
    const branch3x3dbl = concat(
      [
        basicConv2d(dbl, 'branch3x3dbl_3a', { out: 384, kernel: [1, 3], padding: [0, 1] }),
        basicConv2d(dbl, 'branch3x3dbl_3b', { out: 384, kernel: [3, 1], padding: [1, 0] }),
      ],
      {},
      'branch3x3dbl_cat',
    );

    const pooled = avgpool2d(x, { kernel: 3, stride: 1, padding: 1 }, 'avgpool');
    const branchPool = basicConv2d(pooled, 'branch_pool', { out: 192, kernel: 1 });
    return concat([branch1x1, branch3x3, branch3x3dbl, branchPool], {}, 'cat');
  });
}
