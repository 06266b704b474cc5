import type { Tensor } from '../ir/builder.js';
import { defineOp, IDENTITY, SAVES_NOTHING } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { type AttrsIn, intList } from '../ir/schema.js';
import { formatShape } from '../ir/shape.js';
import { transpose as transposeNode } from '../onnx/emit.js';
import { type NameOrOptions, options, rule } from './util.js';

/**
 * A static permutation of axes, ONNX's Transpose and PyTorch's permute: ConvNeXt's
 * `Permute([0, 2, 3, 1])` to channels-last and back. `perm` lists every axis, batch first
 * (perm[0] = 0: the batch never moves). No FLOPs, but a copy (as .contiguous() after permute).
 * Receptive fields follow H and W by what they are, not where they sit: a channels-last tensor
 * keeps its positions' fields (the passes read H and W of an NCHW tensor; in the channels-last
 * stretch between two transposes the field is carried through unchanged).
 */
export const Transpose = registerOp(
  defineOp({
    kind: 'transpose',
    summary: 'permute axes, batch first (permute)',
    arity: 1,
    attrs: { perm: intList({ min: 0 }) },
    inferShape([x], a) {
      const rank = x!.length;
      rule(
        a.perm.length === rank && [...a.perm].sort((p, q) => p - q).every((p, i) => p === i),
        () => `perm ${formatShape(a.perm)} must list each of the ${rank} axes of ${formatShape(x!)} once`,
      );
      rule(a.perm[0] === 0, `perm ${formatShape(a.perm)} must keep the batch axis first (perm[0] = 0)`);
      return a.perm.map((p) => x![p]!);
    },
    params: () => [],
    macs: () => 0,
    flops: () => 0,
    spatial: () => IDENTITY,
    memory: { inplace: false, view: false, saves: SAVES_NOTHING },
    onnx: ({ attrs: a }, w, [x]) => transposeNode(w, x!, a.perm),
  }),
);

/** The permutation that undoes `perm`. */
export const inversePermutation = (perm: readonly number[]): number[] => {
  const inverse = new Array<number>(perm.length);
  perm.forEach((p, i) => {
    inverse[p] = i;
  });
  return inverse;
};

export const transpose = (x: Tensor, attrs: AttrsIn<typeof Transpose.attrs>, name?: NameOrOptions): Tensor =>
  x.builder.apply(Transpose, [x], attrs, options(name));
