import { ConvlabError } from './errors.js';
import type { OpDef, SaveDeclaration } from './op.js';
import type { Attrs, Schema } from './schema.js';

/** Ops register themselves by kind (as tfjs-core's kernels do); passes look them up, never switch on them. */
const ops = new Map<string, OpDef<Schema>>();

export function registerOp<S extends Schema, D extends SaveDeclaration<Attrs<S>>>(
  def: OpDef<S, D>,
): OpDef<S, D> {
  if (ops.has(def.kind)) throw new Error(`op '${def.kind}' is registered twice`);
  ops.set(def.kind, def as unknown as OpDef<Schema>);
  return def;
}

export function getOp(kind: string): OpDef<Schema> {
  const def = ops.get(kind);
  if (!def) {
    throw new ConvlabError(`unknown op '${kind}'; known ops: ${[...ops.keys()].sort().join(', ')}`);
  }
  return def;
}

export const hasOp = (kind: string): boolean => ops.has(kind);

export const opKinds = (): string[] => [...ops.keys()].sort();
