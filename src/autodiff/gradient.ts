import type { NodeContext, OnnxWriter, OpDef } from '../ir/op.js';
import type { Attrs, Schema } from '../ir/schema.js';

/**
 * The tensors a gradient rule may read: exactly those its op's memory facet declares as saved for
 * backward (`memory.saves`). The training-graph builder fills this from the declaration, so a rule
 * cannot use a tensor the memory estimator did not count.
 */
export interface Saved {
  /** Input tensors by position; only the declared positions are present. */
  readonly inputs: readonly (string | undefined)[];
  /** The forward output, when declared. */
  readonly output: string | undefined;
  /**
   * A tensor the forward produced only for backward (indices, batch statistics, a mask), by the
   * name its op declares; throws when the op did not declare it or its forward did not save it.
   */
  readonly extra: (what: string) => string;
}

export interface GradientContext<A> extends NodeContext<A> {
  readonly saved: Saved;
  /** The gradient of the loss with respect to this node's output. */
  readonly dy: string;
}

export interface Gradients {
  /** The gradient for each input, by position; undefined where none flows (the graph input). */
  readonly inputs: readonly (string | undefined)[];
  /** Gradients of this node's parameters by local name ('weight', 'bias'). */
  readonly params?: Readonly<Record<string, string>>;
}

/**
 * The backward facet of one op: written as standard ONNX ops into the same writer the forward
 * uses (`w.param('weight')` names the parameter). One file per op under gradients/, registered.
 */
export interface GradientRule<S extends Schema = Schema> {
  readonly op: OpDef<S>;
  backward(ctx: GradientContext<Attrs<S>>, w: OnnxWriter): Gradients;
}

const rules = new Map<string, GradientRule>();

export function registerGradient<S extends Schema>(rule: GradientRule<S>): GradientRule<S> {
  if (rules.has(rule.op.kind)) throw new Error(`gradient of '${rule.op.kind}' is registered twice`);
  rules.set(rule.op.kind, rule as unknown as GradientRule);
  return rule;
}

export function getGradient(kind: string): GradientRule {
  const rule = rules.get(kind);
  if (!rule) throw new Error(`op '${kind}' has no gradient rule; add src/autodiff/gradients/${kind}.ts`);
  return rule;
}

export const hasGradient = (kind: string): boolean => rules.has(kind);
