import type { Tensor } from '../ir/builder.js';
import { defineOp, IDENTITY, type OnnxWriter } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { type AttrsIn, oneOf } from '../ir/schema.js';
import { numel } from '../ir/shape.js';
import { add, div, emit, mul, scalar } from '../onnx/emit.js';
import { type NameOrOptions, options } from './util.js';

/** sqrt(2 / pi) and the cubic coefficient of GELU's tanh approximation (Hendrycks and Gimpel). */
export const GELU_TANH = { k: Math.sqrt(2 / Math.PI), c: 0.044715 } as const;

/** 0.5 * x * (1 + erf(x / sqrt 2)): the exact form, as torch.onnx.export writes it before opset 20. */
function erfForm(w: OnnxWriter, x: string): string {
  const phi = add(w, emit(w, 'Erf', [div(w, x, scalar(w, Math.SQRT2))]), scalar(w, 1));
  return mul(w, mul(w, x, phi), scalar(w, 0.5));
}

/** 0.5 * x * (1 + tanh(k * (x + c * x^3))). */
function tanhForm(w: OnnxWriter, x: string): string {
  const cube = mul(w, mul(w, x, x), x);
  const inner = mul(w, add(w, x, mul(w, cube, scalar(w, GELU_TANH.c))), scalar(w, GELU_TANH.k));
  return mul(w, mul(w, x, add(w, emit(w, 'Tanh', [inner]), scalar(w, 1))), scalar(w, 0.5));
}

/**
 * GELU (ConvNeXt's MLP activation), PyTorch's nn.GELU: x * Phi(x), exact (erf) or with the tanh
 * approximation (`approximate: 'tanh'`). convlab writes opset 17, which has no Gelu node (opset
 * 20 adds it), so it lowers to the Erf (or Tanh) form torch.onnx.export writes at opset 13 to 17;
 * the importer reads both that pattern and opset 20's Gelu into this op.
 * FLOPs per element: 5 for erf (divide, erf, add, two multiplies), 9 for tanh (x^3 by two
 * multiplies, multiply-add, multiply, tanh, add, two multiplies). Backward needs the input.
 */
export const Gelu = registerOp(
  defineOp({
    kind: 'gelu',
    summary: 'x * Phi(x) (exact erf form, or tanh approximation)',
    arity: 1,
    attrs: { approximate: oneOf(['none', 'tanh'], { default: 'none' }) },
    inferShape: ([x]) => x!,
    params: () => [],
    macs: () => 0,
    flops: ({ attrs: a, output }) => (a.approximate === 'tanh' ? 9 : 5) * numel(output),
    spatial: () => IDENTITY,
    memory: { inplace: true, view: false, saves: { inputs: [0], output: false } },
    onnx: ({ attrs: a }, w, [x]) => (a.approximate === 'tanh' ? tanhForm(w, x!) : erfForm(w, x!)),
  }),
);

export const gelu = (x: Tensor, attrs: AttrsIn<typeof Gelu.attrs> = {}, name?: NameOrOptions): Tensor =>
  x.builder.apply(Gelu, [x], attrs, options(name));
