import { type Const, constWeight, type NodeContext, registerHandler } from '../convert.js';
import type { OnnxNode } from '../proto.js';
import { isConst } from '../values.js';
import { computed } from './elementwise.js';

/*
 * Layer normalisation and GELU, as one op each: ONNX LayerNormalization (opset 17) and the
 * ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div (then Mul, Add) chain older opsets get; Gelu
 * (opset 20) and the Erf form x * 0.5 * (1 + erf(x / sqrt 2)) PyTorch writes before it.
 */

/** ReduceMean's axes, non-negative and sorted: an attribute until opset 17, an input since 18. */
export function reduceAxes(c: NodeContext, rank: number): number[] {
  const given =
    c.opset >= 18 ? (c.has(1) ? c.constant(1).ints('ReduceMean axes') : undefined) : c.ints('axes');
  const axes = given ?? Array.from({ length: rank }, (_, i) => i);
  for (const a of axes) if (a < -rank || a >= rank) c.fail(`axis ${a} is out of range for rank ${rank}`);
  return axes.map((a) => (a < 0 ? a + rank : a)).sort((a, b) => a - b);
}

/** The constant input of binary node `n` other than `tensor`, if there is one. */
function otherConst(c: NodeContext, n: OnnxNode, tensor: string): Const | undefined {
  if (n.inputs.length !== 2) return undefined;
  const other = n.inputs[0] === tensor ? n.inputs[1] : n.inputs[1] === tensor ? n.inputs[0] : undefined;
  const v = other === undefined ? undefined : c.cv.values.get(other);
  return v && isConst(v) ? v : undefined;
}

const scalarIs = (k: Const | undefined, want: number, tolerance = 1e-6): boolean =>
  k !== undefined && k.size === 1 && Math.abs(k.values()[0]! - want) <= tolerance * Math.abs(want);

/** Follow a chain of sole consumers of the given op types from `start`'s output. */
function chain(c: NodeContext, start: OnnxNode, opTypes: readonly string[]): OnnxNode[] | undefined {
  const out: OnnxNode[] = [];
  let at = start;
  for (const t of opTypes) {
    const next = c.soleConsumer(at.outputs[0]!, t);
    if (!next) return undefined;
    out.push(next);
    at = next;
  }
  return out;
}

/** ReduceMean(x) -> Sub(x, mean) -> Pow 2 -> ReduceMean -> Add eps -> Sqrt -> Div, then Mul weight, Add bias. */
export function layerNormChain(c: NodeContext): boolean {
  const x = c.node.inputs[0]!;
  const sub = c.soleConsumer(c.node.outputs[0]!, 'Sub');
  if (!sub || sub.inputs[0] !== x || sub.inputs[1] !== c.node.outputs[0]) return false;
  const readers = c.cv.consumers(sub.outputs[0]!);
  const pow = readers.find((n) => n.opType === 'Pow');
  const div = readers.find((n) => n.opType === 'Div');
  if (readers.length !== 2 || !pow || !div || !scalarIs(otherConst(c, pow, sub.outputs[0]!), 2)) return false;
  const steps = chain(c, pow, ['ReduceMean', 'Add', 'Sqrt']);
  if (!steps || c.soleConsumer(steps[2]!.outputs[0]!, 'Div') !== div || div.inputs[0] !== sub.outputs[0])
    return false;
  const eps = otherConst(c, steps[1]!, steps[0]!.outputs[0]!);
  if (eps?.size !== 1) return false;
  const rank = c.tensor(0).shape.length;
  const axes = reduceAxes(c, rank);
  if (axes.some((a, i) => a !== rank - axes.length + i) || axes[0] === 0) return false;
  const mul = c.soleConsumer(div.outputs[0]!, 'Mul');
  const weight = mul && otherConst(c, mul, div.outputs[0]!);
  const add = weight && c.soleConsumer(mul!.outputs[0]!, 'Add');
  const bias = add && otherConst(c, add, mul!.outputs[0]!);
  const affine = weight !== undefined && bias !== undefined;
  const used = [sub, pow, ...steps, div, ...(affine ? [mul!, add!] : [])];
  for (const n of used) c.cv.consume(n);
  c.cv.fused('layernorm (ReduceMean, Sub, Pow, Sqrt, Div)');
  const y = c.apply(
    'layernorm',
    [c.tensor(0)],
    { axis: axes[0]! - rank, eps: eps.values()[0]!, affine },
    {
      ...(affine && {
        weightName: weight.name,
        params: { weight: constWeight(weight), bias: constWeight(bias) },
      }),
    },
  );
  c.cv.values.set(used[used.length - 1]!.outputs[0]!, y);
  return true;
}

registerHandler(['LayerNormalization'], (c) => {
  if (c.node.outputs.slice(1).some((o) => o && c.cv.consumers(o).length))
    c.fail('its Mean or InvStdDev output is used');
  const x = c.tensor(0);
  const scale = c.constant(1);
  const bias = c.has(2) ? c.constant(2) : undefined;
  const axis = c.int('axis', -1);
  const params = { weight: constWeight(scale), ...(bias && { bias: constWeight(bias) }) };
  if (!bias) c.fail('convlab imports LayerNormalization with a bias (PyTorch LayerNorm elementwise_affine)');
  c.output(
    c.apply(
      'layernorm',
      [x],
      { axis: axis >= 0 ? axis - x.shape.length : axis, eps: c.float('epsilon', 1e-5), affine: true },
      { weightName: scale.name, params },
    ),
  );
});

/** Div(x, sqrt 2) -> Erf -> Add 1 -> Mul x -> Mul 0.5: GELU, exact (erf) form. */
function geluChain(c: NodeContext): boolean {
  const x = c.node.inputs[0]!;
  if (!scalarIs(otherConst(c, c.node, x), Math.SQRT2) || c.node.inputs[0] !== x) return false;
  const steps = chain(c, c.node, ['Erf', 'Add', 'Mul', 'Mul']);
  if (!steps) return false;
  const [, add, gate, half] = steps as [OnnxNode, OnnxNode, OnnxNode, OnnxNode];
  if (!scalarIs(otherConst(c, add, steps[0]!.outputs[0]!), 1)) return false;
  if (!gate.inputs.includes(x) || !scalarIs(otherConst(c, half, gate.outputs[0]!), 0.5)) return false;
  for (const n of steps) c.cv.consume(n);
  c.cv.fused('gelu (Erf form)');
  c.cv.values.set(half.outputs[0]!, c.apply('gelu', [c.tensor(0)], {}));
  return true;
}

registerHandler(['Div'], (c) => {
  if (geluChain(c)) return;
  if (isConst(c.input(0)) && isConst(c.input(1))) c.fail('both inputs are constants');
  c.output(c.apply('div', [computed(c, 0), computed(c, 1)], {}));
});

registerHandler(['Gelu'], (c) => {
  const approximate = c.string('approximate', 'none');
  if (approximate !== 'none' && approximate !== 'tanh') c.fail(`approximate '${approximate}'`);
  c.output(c.apply('gelu', [c.tensor(0)], { approximate }));
});
