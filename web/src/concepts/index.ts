import { denseGrowth } from './dense.js';
import { channelShuffle, depthwiseSeparable } from './efficient.js';
import { fieldFormulas } from './field.js';
import { auxiliaryLosses, factorisedKernels, inceptionReduction } from './inception.js';
import type { Concept } from './kit.js';
import { maxpoolL2, sppFixedLength } from './pooling.js';
import { bottleneckBlock, resnextGroups, seOverhead } from './residual.js';

/** The canon, in the order the ideas appeared. */
export const CONCEPTS: readonly Concept[] = [
  inceptionReduction,
  factorisedKernels,
  auxiliaryLosses,
  bottleneckBlock,
  depthwiseSeparable,
  resnextGroups,
  channelShuffle,
  seOverhead,
  denseGrowth,
  sppFixedLength,
  fieldFormulas,
  maxpoolL2,
];

export type { Concept };
