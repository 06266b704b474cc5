import { ConvlabError } from '../ir/errors.js';
import type { NodeContext } from '../ir/op.js';
import type { Arg, Call } from './python.js';

/** What a node looks like to the emitter: its op's context (attributes and shapes) and its name. */
export type TorchContext = NodeContext<Readonly<Record<string, unknown>>> & { readonly name: string };

/**
 * A parameter-free op written inline in forward: its arguments (which a class may turn into
 * constructor parameters) and how the call reads, given the Python of its inputs and of the
 * arguments that are not at their defaults.
 */
export interface Functional {
  readonly args: readonly Arg[];
  render(inputs: readonly string[], args: ReadonlyMap<string, string>): string;
}

/**
 * How PyTorch computes one op: the back-end's own per-op table (one file per op family under
 * ops/, registered like the gradient rules). An op with parameters is a module (its state_dict
 * keys are convlab's parameter names); a parameter-free one is a function in forward, and may
 * also be a module so that it can stand in an nn.Sequential.
 */
export interface TorchOp {
  readonly kind: string;
  /** The module form; undefined where this node has none (nn.Sequential then cannot hold it). */
  module?(ctx: TorchContext): Call | undefined;
  /** The inline form; undefined where this node has none. */
  functional?(ctx: TorchContext): Functional | undefined;
  /** Python definitions the forms use (a helper function or class), written once into model.py. */
  readonly helpers?: readonly string[];
}

const table = new Map<string, TorchOp>();

export function registerTorchOp(op: TorchOp): TorchOp {
  if (table.has(op.kind)) throw new Error(`PyTorch form of '${op.kind}' is registered twice`);
  table.set(op.kind, op);
  return op;
}

/** The op's PyTorch form, or a user error naming the op and the node that uses it. */
export function torchOp(kind: string, node: string): TorchOp {
  const op = table.get(kind);
  if (!op) {
    throw new ConvlabError(
      `op '${kind}' (node '${node}') has no PyTorch equivalent in convlab's emitter; PyTorch export supports: ${[...table.keys()].sort().join(', ')}`,
    );
  }
  return op;
}

/** `name(x, k=v, ...)` with the given inputs and the arguments not at their defaults. */
export const callOf = (
  callee: string,
  inputs: readonly string[],
  args: ReadonlyMap<string, string>,
): string => `${callee}(${[...inputs, ...[...args].map(([k, v]) => `${k}=${v}`)].join(', ')})`;
