import type { GraphBuilder, Tensor } from '../ir/builder.js';
import { defineOp, IDENTITY, SAVES_NOTHING } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { AttrError, type AttrsIn, type Field, intList } from '../ir/schema.js';
import { formatShape, numel } from '../ir/shape.js';
import { type NameOrOptions, options, rule } from './util.js';

/** A list of finite numbers (a constant's values); at most 2^20 so a spec cannot ask for unbounded memory. */
export const numberList: Field<readonly number[], readonly number[], false> = {
  describe: 'a list of finite numbers',
  optional: false,
  parse(value, path) {
    const ok =
      Array.isArray(value) &&
      value.length >= 1 &&
      value.length <= 2 ** 20 &&
      value.every((v) => typeof v === 'number' && Number.isFinite(v));
    if (!ok) {
      const shown = JSON.stringify(value);
      throw new AttrError(
        `attribute '${path}' must be a list of 1 to 2^20 finite numbers, got ${shown === undefined || shown.length <= 80 ? shown : `${shown.slice(0, 77)}...`}`,
      );
    }
    return (value as number[]).slice();
  },
};

/**
 * A constant float32 tensor (ONNX's Constant, or an initializer that is not a parameter: the 2 of
 * a Pow, a layer norm's epsilon, the 3 and 6 of a decomposed hard-swish). Its `shape` is the whole
 * shape, with no batch axis (a [C,1,1] constant broadcasts against [N,C,H,W]); `values` holds
 * numel(shape) numbers, or one that fills it. It takes no inputs (a JSON spec says `"inputs": []`),
 * owns no parameters and does not train; its bytes count as the node's output. No FLOPs.
 */
export const Constant = registerOp(
  defineOp({
    kind: 'constant',
    summary: 'a constant tensor (no batch axis); values fill the shape or give every element',
    arity: 0,
    attrs: { shape: intList({ min: 1, minLength: 0, default: [] }), values: numberList },
    inferShape(_, a) {
      rule(a.shape.length <= 8, `shape ${formatShape(a.shape)} has more than 8 axes`);
      const n = numel(a.shape);
      rule(
        a.values.length === 1 || a.values.length === n,
        () => `values must be one number or numel ${formatShape(a.shape)} = ${n}, got ${a.values.length}`,
      );
      return a.shape;
    },
    params: () => [],
    macs: () => 0,
    flops: () => 0,
    spatial: () => IDENTITY,
    memory: { inplace: false, view: false, saves: SAVES_NOTHING },
    onnx: ({ attrs: a }, w) =>
      w.constant(
        a.values.length === 1 ? new Array<number>(numel(a.shape)).fill(a.values[0]!) : a.values,
        a.shape,
        'float32',
      ),
  }),
);

export const constant = (
  b: GraphBuilder,
  attrs: AttrsIn<typeof Constant.attrs>,
  name?: NameOrOptions,
): Tensor => b.apply(Constant, [], attrs, options(name));
