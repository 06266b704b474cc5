/** Small pieces the model view's parts share. */
import type { ResolvedNode } from '../../../src/ir/resolve.js';
import { DTYPE_BYTES, numel } from '../../../src/ir/shape.js';

export const NAME_FONT =
  '600 11.5px ui-monospace, "SF Mono", "Cascadia Mono", "DejaVu Sans Mono", Menlo, Consolas, monospace';
export const DESC_FONT =
  '11px system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';

/** The part of a name below its frame: `conv1` inside the frame `layer1.0`. */
export const local = (name: string, container: string | null): string =>
  container && name.startsWith(`${container}.`) ? name.slice(container.length + 1) : name;

export const FLOAT = DTYPE_BYTES.float32;

/** Bytes a node's op keeps for backward, from its memory facet's declaration (batch 1). */
export function savedBytes(n: ResolvedNode): number {
  const s = n.def.memory.saves;
  let total = 0;
  for (const i of s.inputs) total += numel(n.ctx.inputs[i] ?? []) * FLOAT;
  if (s.output) total += numel(n.ctx.output) * FLOAT;
  for (const t of s.extra?.(n.ctx as never) ?? []) total += numel(t.shape) * DTYPE_BYTES[t.dtype];
  return total;
}
