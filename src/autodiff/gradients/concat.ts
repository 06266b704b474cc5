import { ints } from '../../onnx/emit.js';
import { Concat } from '../../ops/concat.js';
import { registerGradient } from '../gradient.js';

/** The gradient of a concatenation is a split of dY into the inputs' sizes. */
registerGradient({
  op: Concat,
  backward: ({ attrs: a, inputs, dy }, w) => ({
    inputs:
      inputs.length === 1
        ? [dy]
        : w.node(
            'Split',
            [
              dy,
              ints(
                w,
                inputs.map((s) => s[a.axis]!),
              ),
            ],
            { axis: { i: a.axis } },
            inputs.length,
          ),
  }),
});
