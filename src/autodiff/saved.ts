import type { SaveDeclaration, Saved, SavedTensor } from '../ir/op.js';
import type { ResolvedNode } from '../ir/resolve.js';

/** What node `n` keeps from its forward pass for its backward, as its op's memory facet declares. */
export interface NodeSaves {
  /** Positions of the inputs kept. */
  readonly inputs: readonly number[];
  readonly output: boolean;
  /** Tensors the forward makes only for backward, with their shapes and types. */
  readonly extra: readonly SavedTensor[];
}

/** The save declaration of `n`'s op, evaluated for `n`: what any back-end keeps alive for its backward. */
export function savesOf(n: ResolvedNode): NodeSaves {
  const declared = n.def.memory.saves;
  return { inputs: declared.inputs, output: declared.output, extra: declared.extra?.(n.ctx as never) ?? [] };
}

/**
 * The `saved` a gradient rule of `n`'s op reads, bound to a back-end's values (`T`): `outputOf(i)` is
 * the output of node `i`, `extras` what `n`'s forward handed over for backward by name. Only what
 * the op declares is present. An extra tensor is looked up when read, so a rule may skip one its
 * forward did not make (dropout with p = 0 draws no mask).
 */
export function bindSaved<T>(
  n: ResolvedNode,
  outputOf: (node: number) => T,
  extras: ReadonlyMap<string, T>,
): Saved<SaveDeclaration, T> {
  const saves = savesOf(n);
  const saved: Record<string, T> = {};
  for (const i of saves.inputs) saved[`input${i}`] = outputOf(n.inputs[i]!);
  if (saves.output) saved['output'] = outputOf(n.index);
  for (const { what } of saves.extra) {
    Object.defineProperty(saved, what, {
      enumerable: true,
      get() {
        const value = extras.get(what);
        if (value === undefined) {
          throw new Error(`the gradient of '${n.node.op}' reads '${what}', which its forward did not save`);
        }
        return value;
      },
    });
  }
  return saved;
}
