import type { NodeContext, OnnxWriter, OpDef, SaveDeclaration, Saved } from '../ir/op.js';
import type { Attrs, Schema } from '../ir/schema.js';

/**
 * What a node's backward reads, over a back-end's tensors `T` (ONNX tensor names here; another
 * back-end's per-op backward table can take the same context over its own buffers).
 */
export interface GradientContext<A, D extends SaveDeclaration<A>, T = string> extends NodeContext<A> {
  /**
   * The tensors the op's memory facet declares as saved for backward (`memory.saves`), and only
   * those, typed from the declaration: `saved.input0`, `saved.output`, `saved.indices`. A rule
   * cannot read a tensor the memory estimator did not count.
   */
  readonly saved: Saved<D, T>;
  /** The gradient of the loss with respect to this node's output. */
  readonly dy: T;
}

/** What a node's backward sends on, as tensors of type `T` (ONNX tensor names here). */
export interface Gradients<T = string> {
  /** The gradient for each input, by position; undefined where none flows (the graph input). */
  readonly inputs: readonly (T | undefined)[];
  /** Gradients of this node's parameters by local name ('weight', 'bias'). */
  readonly params?: Readonly<Record<string, T>>;
}

/**
 * The backward facet of one op: written as standard ONNX ops into the same writer the forward
 * uses (`w.param('weight')` names the parameter). One file per op under gradients/, registered.
 */
export interface GradientRule<
  S extends Schema = Schema,
  D extends SaveDeclaration<Attrs<S>> = SaveDeclaration<Attrs<S>>,
> {
  readonly op: OpDef<S, D>;
  backward(ctx: GradientContext<Attrs<S>, D>, w: OnnxWriter): Gradients;
}

const rules = new Map<string, GradientRule>();

export function registerGradient<S extends Schema, D extends SaveDeclaration<Attrs<S>>>(
  rule: GradientRule<S, D>,
): GradientRule<S, D> {
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
