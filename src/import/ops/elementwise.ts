import type { Tensor } from '../../ir/builder.js';
import { type Const, constWeight, type NodeContext, registerHandler } from '../convert.js';
import { modulePath } from '../names.js';
import { isConst } from '../values.js';

/*
 * Element-wise arithmetic on computed tensors. An operand known at import becomes an IR node of its
 * own: a graph initializer is a learnable `parameter` (ConvNeXt's layer_scale, named as the file
 * names it), anything else (a Constant, a folded value) a `constant`.
 */

const LOCAL = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/** The IR node that stands for constant `k` where node `c` reads it. */
export function operand(c: NodeContext, k: Const): Tensor {
  const shape = [...k.dims];
  if (k.initializer && k.float) {
    // 'features.1.0.layer_scale' -> node 'features.1.0', parameter 'layer_scale'.
    const dot = k.name?.lastIndexOf('.') ?? -1;
    const local = dot > 0 ? k.name!.slice(dot + 1) : '';
    const fromName = dot > 0 && LOCAL.test(local) && !k.name!.startsWith('onnx::');
    const base = fromName
      ? k.name!.slice(0, dot)
      : `${modulePath(c.node.name) ?? c.node.opType.toLowerCase()}.param`;
    const name = c.cv.names.unique(base);
    const param = fromName ? local : 'weight';
    return c.apply('parameter', [], { shape, param }, { name, params: { [param]: constWeight(k) } });
  }
  if (k.size > 1 << 20) c.fail(`a constant operand of ${k.size} values is too large to import`);
  const name = c.cv.names.unique(`${modulePath(c.node.name) ?? c.node.opType.toLowerCase()}.constant`);
  return c.apply('constant', [], { shape, values: Array.from(k.values()) }, { name });
}

/** Input `i` as a computed tensor, turning a constant into its IR node. */
export const computed = (c: NodeContext, i: number): Tensor => {
  const v = c.input(i);
  return isConst(v) ? operand(c, v) : v;
};

const binary = (opType: string, kind: string) =>
  registerHandler([opType], (c) => {
    if (isConst(c.input(0)) && isConst(c.input(1))) c.fail('both inputs are constants');
    c.output(c.apply(kind, [computed(c, 0), computed(c, 1)], {}));
  });

binary('Add', 'add');
binary('Mul', 'mul');
binary('Sub', 'sub');
binary('Pow', 'pow');

registerHandler(['Sqrt'], (c) => c.output(c.apply('sqrt', [c.tensor(0)], {})));
