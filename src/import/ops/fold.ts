import type { NodeContext } from '../convert.js';
import { registerHandler } from '../convert.js';
import { ONNX_TYPE } from '../tensor.js';
import { BATCH, Const } from '../values.js';

/*
 * Static folding: nodes whose inputs are all known at import (shape arithmetic the tracer records
 * when constant folding is off: Shape -> Gather -> Unsqueeze -> Concat -> Reshape) are evaluated
 * here and become constants. Folding works on small tensors only (shapes, axes, scalars).
 */

type Folder = (c: NodeContext, inputs: readonly Const[]) => Const;
const folders = new Map<string, Folder>();
const FOLD_LIMIT = 1 << 16;

export const folderFor = (opType: string): Folder | undefined => folders.get(opType);
export const foldedOps = (): string[] => [...folders.keys()].sort();

/** Register folder `f`, which takes `min` to `max` inputs (checked here, so a folder may index them). */
const fold = (opTypes: readonly string[], f: Folder, min = 1, max = min) => {
  const checked: Folder = (c, inputs) => {
    if (inputs.length < min || inputs.length > max) {
      c.fail(`takes ${min === max ? min : `${min} to ${max}`} inputs, got ${inputs.length}`);
    }
    return f(c, inputs);
  };
  for (const t of opTypes) folders.set(t, checked);
};

const small = (c: NodeContext, k: Const): Float32Array | Float64Array => {
  if (k.size > FOLD_LIMIT) c.fail(`folding a constant of ${k.size} values at import is not supported`);
  return k.values();
};

/** NumPy broadcasting of two constants' dims. */
function broadcastDims(c: NodeContext, a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  return Array.from({ length: rank }, (_, i) => {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) c.fail(`cannot broadcast [${a.join(',')}] with [${b.join(',')}]`);
    return Math.max(x, y);
  });
}

/** Flat index into a broadcast operand of `dims` for output index `i` of `out` dims. */
function sourceIndex(i: number, out: readonly number[], dims: readonly number[]): number {
  let index = 0;
  let stride = 1;
  let rest = i;
  for (let axis = out.length - 1; axis >= 0; axis--) {
    const coord = rest % out[axis]!;
    rest = Math.floor(rest / out[axis]!);
    const d = dims[axis - (out.length - dims.length)];
    if (d === undefined) continue;
    if (d !== 1) index += coord * stride;
    stride *= d;
  }
  return index;
}

const elementwise =
  (op: (a: number, b: number, float: boolean) => number): Folder =>
  (c, [a, b]) => {
    const dims = broadcastDims(c, a!.dims, b!.dims);
    const [va, vb] = [small(c, a!), small(c, b!)];
    const float = a!.float || b!.float;
    const n = dims.reduce((x, y) => x * y, 1);
    if (n > FOLD_LIMIT) c.fail(`folding ${n} values at import is not supported`);
    const out = Array.from({ length: n }, (_, i) =>
      op(va[sourceIndex(i, dims, a!.dims)]!, vb[sourceIndex(i, dims, b!.dims)]!, float),
    );
    return Const.of(out, dims, float);
  };

fold(
  ['Add'],
  elementwise((a, b) => a + b),
  2,
);
fold(
  ['Sub'],
  elementwise((a, b) => a - b),
  2,
);
fold(
  ['Mul'],
  elementwise((a, b) => a * b),
  2,
);
fold(
  ['Div'],
  elementwise((a, b, float) => (float ? a / b : b === 0 ? 0 : Math.trunc(a / b))),
  2,
);
fold(
  ['Pow'],
  elementwise((a, b) => a ** b),
  2,
);

const unaryFold = (opTypes: readonly string[], f: (v: number) => number) =>
  fold(opTypes, (c, [x]) => Const.of(Array.from(small(c, x!), f), x!.dims, x!.float));
unaryFold(['Sqrt'], Math.sqrt);
unaryFold(['Neg'], (v) => -v);
unaryFold(['Floor'], Math.floor);
unaryFold(['Ceil'], Math.ceil);
unaryFold(['Reciprocal'], (v) => 1 / v);

fold(['Cast'], (c, [x]) => {
  const to = c.int('to', ONNX_TYPE.FLOAT);
  const float = to === ONNX_TYPE.FLOAT || to === ONNX_TYPE.DOUBLE || to === 10 || to === 16;
  const v = small(c, x!);
  return Const.of(float ? v : Array.from(v, Math.trunc), x!.dims, float);
});

/** Unsqueeze/Squeeze axes: an attribute before opset 13, an input since. */
const axesOf = (c: NodeContext): number[] | undefined =>
  c.opset >= 13 ? (c.has(1) ? c.constant(1).ints(`${c.node.opType} axes`) : undefined) : c.ints('axes');

fold(
  ['Unsqueeze'],
  (c, [x]) => {
    const axes = axesOf(c) ?? c.fail('Unsqueeze needs axes');
    const rank = x!.dims.length + axes.length;
    const norm = new Set(axes.map((a) => (a < 0 ? a + rank : a)));
    const dims: number[] = [];
    let j = 0;
    for (let i = 0; i < rank; i++) dims.push(norm.has(i) ? 1 : x!.dims[j++]!);
    if (j !== x!.dims.length) c.fail(`axes [${axes.join(',')}] do not fit rank ${rank}`);
    return Const.of(small(c, x!), dims, x!.float);
  },
  1,
  2,
);

fold(
  ['Squeeze'],
  (c, [x]) => {
    const rank = x!.dims.length;
    const axes = (axesOf(c) ?? x!.dims.flatMap((d, i) => (d === 1 ? [i] : []))).map((a) =>
      a < 0 ? a + rank : a,
    );
    return Const.of(
      small(c, x!),
      x!.dims.filter((_, i) => !axes.includes(i)),
      x!.float,
    );
  },
  1,
  2,
);

fold(
  ['Gather'],
  (c, [data, indices]) => {
    const axis = c.int('axis', 0);
    if (data!.dims.length !== 1 || axis !== 0) c.fail('convlab folds Gather of a 1-D constant only');
    const v = small(c, data!);
    const picked = indices!.ints('Gather indices').map((i) => {
      const j = i < 0 ? i + v.length : i;
      if (j < 0 || j >= v.length) c.fail(`index ${i} is out of range for ${v.length} values`);
      return v[j]!;
    });
    return Const.of(picked, indices!.dims, data!.float);
  },
  2,
);

fold(
  ['Concat'],
  (c, parts) => {
    if (!parts.every((p) => p.dims.length === 1)) c.fail('convlab folds Concat of 1-D constants only');
    const values = parts.flatMap((p) => Array.from(small(c, p)));
    return Const.of(
      values,
      [values.length],
      parts.some((p) => p.float),
    );
  },
  1,
  1 << 16,
);

fold(
  ['Slice'],
  (c, [x, starts, ends, axes, steps]) => {
    if (x!.dims.length !== 1 || c.opset < 10) c.fail('convlab folds Slice of a 1-D constant only');
    const v = Array.from(small(c, x!));
    const step = steps ? steps.ints('Slice steps')[0]! : 1;
    if (axes && axes.ints('Slice axes')[0]! !== 0) c.fail('Slice axis');
    const clamp = (b: number) => Math.min(Math.max(b < 0 ? b + v.length : b, 0), v.length);
    const [s, e] = [clamp(starts!.ints('Slice starts')[0]!), clamp(ends!.ints('Slice ends')[0]!)];
    if (step !== 1) c.fail('convlab folds Slice with step 1 only');
    return Const.of(v.slice(s, e), [Math.max(0, e - s)], x!.float);
  },
  3,
  5,
);

fold(['Transpose'], (c, [x]) => {
  const perm = c.ints('perm') ?? [1, 0];
  if (x!.dims.length !== 2 || perm.join() !== '1,0')
    c.fail('convlab folds the Transpose of a 2-D constant only');
  return x!.transposed();
});

fold(['Identity'], (c, [x]) => x!.renamed(c.node.outputs[0]!));

registerHandler(['Shape'], (c) => {
  const x = c.input(0);
  // Computed tensors carry batch 1 in the builder; Shape reports the symbolic batch.
  const dims = x instanceof Const ? [...x.dims] : [BATCH, ...x.shape.slice(1)];
  const rank = dims.length;
  const at = (v: number) => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
  const picked = dims.slice(at(c.int('start', 0)), at(c.int('end', rank)));
  c.output(Const.of(picked, [picked.length], false));
});

registerHandler(['Constant'], (c) => {
  const [name, a] = [...c.node.attributes][0] ?? c.fail('a Constant without a value');
  const out = c.node.outputs[0]!;
  if (a.kind === 'tensor') c.output(Const.ofRef(a.value, c.cv.external, out));
  else if (a.kind === 'float' || a.kind === 'int') c.output(Const.of([a.value], [], a.kind === 'float'));
  else if (a.kind === 'floats' || a.kind === 'ints')
    c.output(Const.of(a.value, [a.value.length], a.kind === 'floats'));
  else c.fail(`a Constant's '${name}' value is not supported`);
});

registerHandler(['ConstantOfShape'], (c) => {
  const dims = c.constant(0).ints('ConstantOfShape shape');
  const n = dims.reduce((a, b) => a * b, 1);
  if (n > FOLD_LIMIT || dims.some((d) => d < 0)) c.fail(`a constant of shape [${dims.join(',')}]`);
  const value = c.attr('value');
  const fill = value?.kind === 'tensor' ? Const.ofRef(value.value, c.cv.external) : Const.of([0], [1], true);
  c.output(Const.of(new Array(n).fill(fill.values()[0] ?? 0), dims, fill.float));
});
