import type { Binding, Md } from '../binding.js';
import type { ProgramBuilder, Tensor } from '../program.js';
import { plainTag } from '../registry.js';

/**
 * Channel windows of a tensor, for the ops that cut or pad along channels (concat's backward,
 * pad_channels, slice): a window of a blocked tensor is a sub-memory when it starts on a block
 * boundary; otherwise the window is taken from a plain (nchw) copy.
 */
export function channelWindow(
  b: Binding,
  p: ProgramBuilder,
  t: Tensor,
  offset: number,
  count: number,
  label: string,
): Tensor {
  // Any rank (NCHW maps, or [N, C] vectors such as a spatial pyramid's flattened levels).
  const dims = t.shape.map((d, i) => (i === 1 ? count : d));
  const offsets = t.shape.map((_, i) => (i === 1 ? offset : 0));
  const sub = trySub(b, t.md, dims, offsets);
  if (sub) return p.view(t, sub, dims);
  const plain = p.reorder(t, b.md(t.shape, 'f32', plainTag(t.shape.length)), `${label}/plain`);
  return p.view(plain, b.mdSub(plain.md, dims, offsets), dims);
}

function trySub(b: Binding, md: Md, dims: readonly number[], offsets: readonly number[]): Md | undefined {
  try {
    return b.mdSub(md, dims, offsets);
  } catch {
    return undefined;
  }
}

/** `window` copied into a new tensor of descriptor `md`. */
export function materialise(p: ProgramBuilder, window: Tensor, md: Md, label: string): Tensor {
  const out = p.tensor(md, window.shape, label);
  p.copy(window, out, label);
  return out;
}
