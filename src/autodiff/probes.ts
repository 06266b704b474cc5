import { ConvlabError } from '../ir/errors.js';
import type { OnnxWriter } from '../ir/op.js';
import type { ResolvedGraph, ResolvedNode } from '../ir/resolve.js';
import { div, emit, ints, mul, scalar, sub } from '../onnx/emit.js';
import type { GraphWriter } from '../onnx/writer.js';

/**
 * What a training step can report besides its loss, computed inside the step graph (a few
 * reductions; nothing is copied out but scalars):
 * - `gradNorms`: the L2 norm of each parameter's gradient, as `grad_norm/<parameter>`;
 * - `headLosses`: each head's own (unweighted) cross-entropy, as `loss/<output node>`;
 * - `activations`: for each named node, the standard deviation of its forward output and of the
 *   loss gradient with respect to that output, as `act_std/<node>` and `grad_std/<node>`.
 */
export interface Probes {
  readonly gradNorms?: boolean;
  readonly headLosses?: boolean;
  readonly activations?: readonly string[];
}

/** The names of the nodes whose activations are probed, each checked to be in the graph. */
export function probedNodes(r: ResolvedGraph, probes: Probes): ReadonlySet<string> {
  const names = new Set(probes.activations ?? []);
  for (const name of names) {
    if (!r.byName.has(name))
      throw new ConvlabError(`cannot probe node '${name}': ${r.graph.name} has no node of that name`);
  }
  return names;
}

/** The probes a training step reports (see `Probes`), each a scalar output written as it is made. */
export class ProbeOutputs {
  /** The probes' output names, in the order they were made. */
  readonly names: string[] = [];
  private readonly activations: ReadonlySet<string>;

  constructor(
    private readonly w: GraphWriter,
    r: ResolvedGraph,
    private readonly probes: Probes = {},
  ) {
    this.activations = probedNodes(r, probes);
  }

  /** `loss/<head>`: a head's own cross-entropy. */
  headLoss(head: string, loss: string): void {
    if (this.probes.headLosses) this.add(`loss/${head}`, loss);
  }

  /** `act_std/<node>` and `grad_std/<node>`, when `n` is probed: its output's spread and its gradient's. */
  activation(n: ResolvedNode, output: string, dy: string): void {
    if (!this.activations.has(n.node.name)) return;
    this.w.within(n, () => {
      this.add(`act_std/${n.node.name}`, standardDeviation(this.w, output));
      this.add(`grad_std/${n.node.name}`, standardDeviation(this.w, dy));
    });
  }

  /** `grad_norm/<parameter>`: the L2 norm of a parameter's gradient. */
  gradNorm(n: ResolvedNode, parameter: string, grad: string): void {
    if (this.probes.gradNorms)
      this.add(
        `grad_norm/${parameter}`,
        this.w.within(n, () => norm(this.w, grad)),
      );
  }

  private add(name: string, tensor: string): void {
    this.names.push(this.w.output(tensor, name));
  }
}

/** The L2 norm of all of a tensor's elements, a scalar. */
export const norm = (w: OnnxWriter, x: string): string => emit(w, 'ReduceL2', [x], { keepdims: { i: 0 } });

/**
 * The (population) standard deviation of all of a tensor's elements, a scalar. The deviations are
 * divided by the largest of them before squaring: float32 squares of values below 1e-19 underflow,
 * and the signals of a badly initialised deep net get that small.
 */
export function standardDeviation(w: OnnxWriter, x: string): string {
  const centred = sub(w, x, emit(w, 'ReduceMean', [x], { keepdims: { i: 1 } }));
  const largest = emit(w, 'ReduceMax', [emit(w, 'Abs', [centred])], { keepdims: { i: 1 } });
  const scale = emit(w, 'Max', [largest, scalar(w, FLOAT32_MIN_NORMAL)]);
  const unit = div(w, centred, scale);
  const rms = emit(w, 'Sqrt', [emit(w, 'ReduceMean', [mul(w, unit, unit)], { keepdims: { i: 0 } })]);
  return mul(w, rms, emit(w, 'Reshape', [scale, ints(w, [])]));
}

/** The smallest normal float32. */
const FLOAT32_MIN_NORMAL = 1.1754943508222875e-38;
