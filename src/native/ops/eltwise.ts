import type { Algorithm, Pd } from '../binding.js';
import type { Tensor } from '../program.js';
import { registerNative } from '../registry.js';

/**
 * Element-wise activations on oneDNN's eltwise primitives, in whatever layout their input has.
 * Each op's backward reads what its op declares it saves: ReLU and sigmoid their output (the
 * `use_dst` algorithms), ReLU6 and hardswish their input.
 */
interface Activation {
  readonly kind: string;
  readonly algorithm: Algorithm;
  readonly alpha: number;
  readonly beta: number;
  /** Whether the backward reads the output (else the input). */
  readonly usesOutput: boolean;
}

const ACTIVATIONS: readonly Activation[] = [
  { kind: 'relu', algorithm: 'relu_use_dst', alpha: 0, beta: 0, usesOutput: true },
  { kind: 'sigmoid', algorithm: 'logistic_use_dst', alpha: 0, beta: 0, usesOutput: true },
  { kind: 'relu6', algorithm: 'clip_v2', alpha: 0, beta: 6, usesOutput: false },
  { kind: 'hardswish', algorithm: 'hardswish', alpha: 0, beta: 0, usesOutput: false },
];

for (const act of ACTIVATIONS) {
  registerNative<{ pd: Pd }>({
    kind: act.kind,
    forward(c, [x]) {
      const { b, p } = c;
      const pd = b.eltwiseFwd(act.algorithm, x!.md, act.alpha, act.beta, true);
      const y = p.tensor(b.pdMd(pd, 'dst', 0), x!.shape, c.label('y'));
      p.primitive(
        pd,
        [
          [b.ARG.SRC, x],
          [b.ARG.DST, y],
        ],
        c.label('fwd'),
      );
      return { output: y, keep: { pd } };
    },
    backward(c, f, dy) {
      const { b, p } = c;
      const data: Tensor = act.usesOutput ? f.output : f.inputs[0]!;
      const pd = b.eltwiseBwd(act.algorithm, dy.md, data.md, act.alpha, act.beta, f.keep.pd);
      const dx = p.tensor(b.pdMd(pd, 'diff_src', 0), dy.shape, c.label('dx'));
      p.primitive(
        pd,
        [
          [act.usesOutput ? b.ARG.DST : b.ARG.SRC, data],
          [b.ARG.DIFF_DST, dy],
          [b.ARG.DIFF_SRC, dx],
        ],
        c.label('bwd'),
      );
      return [dx];
    },
  });
}
