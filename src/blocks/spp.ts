import type { Tensor } from '../ir/builder.js';
import { adaptiveMaxpool2d } from '../ops/adaptive_maxpool2d.js';
import { concat } from '../ops/concat.js';
import { flatten } from '../ops/flatten.js';

/**
 * Spatial pyramid pooling (He et al. 2014, SPP-net): max-pool the map into n x n bins for each
 * pyramid level n, flatten each level and concatenate. The bins scale with the input, so the
 * vector has C * sum(n^2) features at any input size and the FC layers after it accept any image
 * size. Levels [4, 2, 1] on VGG's 512 channels give 512 * 21 = 10752 features.
 */
export function spatialPyramidPool(x: Tensor, name: string, levels: readonly number[]): Tensor {
  return x.builder.scope(name, 'SpatialPyramidPooling', () => {
    const pooled = levels.map((n) => flatten(adaptiveMaxpool2d(x, { output: n }, `pool${n}`), `flatten${n}`));
    return concat(pooled, { axis: 1 }, 'concat');
  });
}
