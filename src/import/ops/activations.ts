import { hasOp } from '../../ir/registry.js';
import { type NodeContext, registerHandler } from '../convert.js';
import { isConst } from '../values.js';

const FLOAT32_MAX = 3.4028234663852886e38;

/*
 * Element-wise activations, and the patterns exporters write for one convlab op:
 * SiLU as Sigmoid(x) * x, hardswish as x * HardSigmoid(x) (alpha 1/6, beta 1/2), ReLU6 as Clip(0, 6).
 */

const unary = (opType: string, kind: string) =>
  registerHandler([opType], (c) => c.output(c.apply(kind, [c.tensor(0)], {})));

unary('Relu', 'relu');
unary('HardSwish', 'hardswish');

/** The Mul that multiplies this node's output by the node's own input, if it is the only reader. */
function gatingMul(c: NodeContext): ReturnType<NodeContext['soleConsumer']> {
  const mul = c.soleConsumer(c.node.outputs[0]!, 'Mul');
  if (!mul) return undefined;
  const [a, b] = mul.inputs;
  const x = c.node.inputs[0];
  return (a === x && b === c.node.outputs[0]) || (b === x && a === c.node.outputs[0]) ? mul : undefined;
}

/** Replace node + its gating Mul by one IR op `kind` (named after the pair's module). */
function fuseGate(c: NodeContext, kind: string): boolean {
  const mul = gatingMul(c);
  if (!mul || !hasOp(kind)) return false;
  c.cv.consume(mul);
  c.cv.fused(kind);
  c.cv.values.set(mul.outputs[0]!, c.apply(kind, [c.tensor(0)], {}));
  return true;
}

registerHandler(['Sigmoid'], (c) => {
  if (!fuseGate(c, 'silu')) c.output(c.apply('sigmoid', [c.tensor(0)], {}));
});

registerHandler(['HardSigmoid'], (c) => {
  const alpha = c.float('alpha', 0.2);
  const beta = c.float('beta', 0.5);
  // PyTorch's hardswish at opsets before 14: x * HardSigmoid(x; 1/6, 1/2).
  if (Math.abs(alpha - 1 / 6) < 1e-6 && beta === 0.5 && fuseGate(c, 'hardswish')) return;
  c.output(c.apply('hardsigmoid', [c.tensor(0)], { alpha, beta }));
});

/** Clip's bounds: attributes before opset 11, optional constant inputs since. */
function clipBounds(c: NodeContext): [number, number] {
  if (c.opset < 11) return [c.float('min', -Infinity), c.float('max', Infinity)];
  const bound = (i: number, fallback: number) =>
    c.has(i) ? c.constant(i).scalar(`Clip input ${i}`) : fallback;
  return [bound(1, -Infinity), bound(2, Infinity)];
}

registerHandler(['Clip'], (c) => {
  const [min, max] = clipBounds(c);
  const x = c.tensor(0);
  if (min === 0 && max === 6) {
    c.cv.fused('relu6 (Clip 0..6)');
    c.output(c.apply('relu6', [x], {}));
  } else if (min === 0 && max === Infinity) c.output(c.apply('relu', [x], {}));
  else {
    // The IR's clip bounds are finite float32s; an open side is the float32 extreme.
    const bound = (v: number) => Math.min(Math.max(v, -FLOAT32_MAX), FLOAT32_MAX);
    c.output(c.apply('clip', [x], { min: bound(min), max: bound(max) }));
  }
});

registerHandler(['Softmax'], (c) => {
  const x = c.tensor(0);
  const axis = c.int('axis', c.opset >= 13 ? -1 : 1);
  c.output(c.apply('softmax', [x], { axis: axis < 0 ? axis + x.shape.length : axis }));
});

registerHandler(['Dropout'], (c) => {
  if (c.node.outputs[1] && c.cv.consumers(c.node.outputs[1]).length) c.fail('its mask output is used');
  const p = c.opset >= 12 ? (c.has(1) ? c.constant(1).scalar('Dropout ratio') : 0.5) : c.float('ratio', 0.5);
  // training_mode (opset 12+) makes the node drop at random in inference too: not a model to import.
  if (p > 0 && c.opset >= 12 && c.has(2) && c.constant(2).scalar('Dropout training_mode') !== 0)
    c.fail('training_mode = true drops at random when the model runs; export the model in eval mode');
  c.output(c.apply('dropout', [c.tensor(0)], { p }));
});

registerHandler(['Identity'], (c) => {
  const v = c.input(0);
  // A constant under a new name: each name that reads it becomes its own parameter.
  c.output(isConst(v) ? v.renamed(c.node.outputs[0]!) : v);
});
