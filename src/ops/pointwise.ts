import { defineOp, IDENTITY, type OnnxWriter, type OpDef, type SaveDeclaration } from '../ir/op.js';
import type { Schema } from '../ir/schema.js';
import { numel } from '../ir/shape.js';

/**
 * The shared shape of element-wise activations: same shape out as in, no parameters, a fixed FLOP
 * count per element, able to run in place. Each activation still lives in its own file with its
 * own FLOP rule and its own saved tensors (and, later, its own gradient).
 */
export function pointwiseOp(spec: {
  kind: string;
  summary: string;
  flopsPerElement: number;
  saves: SaveDeclaration<Record<string, never>>;
  /** The ONNX lowering of y = f(x). */
  onnx: (w: OnnxWriter, x: string) => string;
}): OpDef<Schema> {
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
