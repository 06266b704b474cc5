import type { GraphBuilder, Tensor } from '../ir/builder.js';
import { defineOp, IDENTITY, SAVES_NOTHING } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { AttrError, type AttrsIn, type Field, intList, num } from '../ir/schema.js';
import { formatShape } from '../ir/shape.js';
import { type NameOrOptions, options, rule } from './util.js';

/** A parameter's local name: letters, digits and underscores, as a state_dict key part. */
const localName: Field<string, string, true> = {
  describe: 'a parameter name',
  optional: true,
  parse(value, path) {
    if (value === undefined) return 'weight';
    if (typeof value === 'string' && /^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(value)) return value;
    throw new AttrError(
      `attribute '${path}' must be a name of letters, digits and _, got ${JSON.stringify(value)}`,
    );
  },
};

/**
 * A learnable tensor used as an operand: ConvNeXt's layer scale (`features.1.0.layer_scale`,
 * [C,1,1], multiplied into the block's output), or any initializer an imported model feeds to an
 * element-wise op. The node owns one parameter, named `${node}.${param}` (node `features.1.0`
 * with param `layer_scale` is torchvision's `features.1.0.layer_scale`), of `shape` (no batch
 * axis), initialised to `value`. No inputs (a JSON spec says `"inputs": []`); no FLOPs. Its bytes
 * are the parameter's; the output is counted again as the node's output, a tensor of its size.
 */
export const Parameter = registerOp(
  defineOp({
    kind: 'parameter',
    summary: 'a learnable tensor used as an operand (layer scale)',
    arity: 0,
    attrs: {
      shape: intList({ min: 1, minLength: 0, default: [] }),
      param: localName,
      value: num({ default: 0 }),
    },
    inferShape(_, a) {
      rule(a.shape.length <= 8, `shape ${formatShape(a.shape)} has more than 8 axes`);
      return a.shape;
    },
    params: ({ attrs: a }) => [
      {
        name: a.param,
        shape: a.shape,
        dtype: 'float32',
        role: 'param',
        init: { kind: 'constant', value: a.value },
      },
    ],
    macs: () => 0,
    flops: () => 0,
    spatial: () => IDENTITY,
    memory: { inplace: false, view: false, saves: SAVES_NOTHING },
    onnx: ({ attrs: a }, w) => w.param(a.param),
  }),
);

export const parameter = (
  b: GraphBuilder,
  attrs: AttrsIn<typeof Parameter.attrs>,
  name?: NameOrOptions,
): Tensor => b.apply(Parameter, [], attrs, options(name));
