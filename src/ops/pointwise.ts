import { defineOp, IDENTITY, type OnnxWriter, type OpDef, type SaveDeclaration } from '../ir/op.js';
import type { Attrs } from '../ir/schema.js';

// biome-ignore lint/complexity/noBannedTypes: an activation's schema has no attributes.
type NoAttrs = {};

import { numel } from '../ir/shape.js';

/**
 * The shared shape of element-wise activations: same shape out as in, no parameters, a fixed FLOP
 * count per element, able to run in place. Each activation still lives in its own file with its
 * own FLOP rule and its own saved tensors (and, later, its own gradient).
 */
export function pointwiseOp<const D extends SaveDeclaration<Attrs<NoAttrs>>>(spec: {
  kind: string;
  summary: string;
  flopsPerElement: number;
  saves: D;
  /** The ONNX lowering of y = f(x). */
  onnx: (w: OnnxWriter, x: string) => string;
}): OpDef<NoAttrs, D> {
  return defineOp({
    kind: spec.kind,
    summary: spec.summary,
    arity: 1,
    attrs: {},
    inferShape: ([x]) => x!,
    params: () => [],
    macs: () => 0,
    flops: ({ output }) => spec.flopsPerElement * numel(output),
    spatial: () => IDENTITY,
    memory: { inplace: true, view: false, saves: spec.saves },
    onnx: (_, w, [x]) => spec.onnx(w, x!),
  });
}
