import { type Probes, probedNodes } from '../autodiff/probes.js';
import type { ResolvedGraph, ResolvedNode } from '../ir/resolve.js';
import { numel } from '../ir/shape.js';
import type { ProgramBuilder, Tensor } from './program.js';
import { plainTag } from './registry.js';
import type { StateArrays } from './state.js';

/**
 * The probes of autodiff/probes.ts on the native step, with the same names and meanings: each a
 * host step planned right where its tensor is made, reading it through the binding's `moments`
 * (in double), so nothing is copied out but scalars and no buffer lives longer than it did.
 */
export class NativeProbes {
  /** The latest step's values by probe name. */
  readonly values = new Map<string, number>();
  private readonly activations: ReadonlySet<string>;
  private readonly moments = new Float64Array(3);

  constructor(
    r: ResolvedGraph,
    private readonly probes: Probes = {},
  ) {
    this.activations = probedNodes(r, probes);
  }

  /** Whether node `n`'s own output must exist (so no consumer may be fused into it). */
  probed(n: ResolvedNode): boolean {
    return this.activations.has(n.node.name);
  }

  /** `loss/<head>`: each head's own cross-entropy, as the loss step computed it. */
  headLosses(heads: readonly string[], losses: readonly number[]): void {
    if (!this.probes.headLosses) return;
    heads.forEach((head, i) => {
      this.values.set(`loss/${head}`, losses[i]!);
    });
  }

  /** `act_std/<node>`: the spread of `n`'s forward output, planned after the step that makes it. */
  activation(p: ProgramBuilder, n: ResolvedNode, output: Tensor): void {
    if (this.probed(n)) this.spread(p, `act_std/${n.node.name}`, output);
  }

  /** `grad_std/<node>`: the spread of the loss gradient with respect to `n`'s output. */
  gradient(p: ProgramBuilder, n: ResolvedNode, dy: Tensor): void {
    if (this.probed(n)) this.spread(p, `grad_std/${n.node.name}`, dy);
  }

  /** `grad_norm/<parameter>` for every parameter, planned after the backward sweep. */
  gradNorms(p: ProgramBuilder, state: StateArrays): void {
    if (!this.probes.gradNorms) return;
    const params = state.entries
      .filter((e) => e.kind === 'param')
      .map((e) => [e.name, state.grad(e.name)] as const);
    p.host('probes/grad_norm', [], () => () => {
      for (const [name, grad] of params) {
        p.b.moments(grad, grad.length, this.moments);
        this.values.set(`grad_norm/${name}`, Math.sqrt(this.moments[2]!));
      }
    });
  }

  /** The population standard deviation of `t`'s values, read in the plain layout (no padding lanes). */
  private spread(p: ProgramBuilder, name: string, t: Tensor): void {
    const plain = p.reorder(t, p.b.md(t.shape, 'f32', plainTag(t.shape.length)), `${name}/plain`);
    p.host(name, [plain], (view) => {
      const values = view(plain);
      const count = numel(t.shape);
      return () => {
        p.b.moments(values, count, this.moments);
        this.values.set(name, Math.sqrt(this.moments[1]!));
      };
    });
  }
}
