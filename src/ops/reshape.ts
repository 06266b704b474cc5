import type { Tensor } from '../ir/builder.js';
import { defineOp, GLOBAL, IDENTITY, SAVES_NOTHING } from '../ir/op.js';
import { registerOp } from '../ir/registry.js';
import { type AttrsIn, intList } from '../ir/schema.js';
import { formatShape, numel, type Shape } from '../ir/shape.js';
import { emit, ints } from '../onnx/emit.js';
import { type NameOrOptions, options, rule } from './util.js';

/** `shape` with its one -1 (if any) resolved against `x`'s elements per sample. */
function targetShape(x: Shape, shape: readonly number[]): number[] {
  const perSample = numel(x.slice(1));
  const unknown = shape.filter((d) => d === -1).length;
  rule(unknown <= 1, `shape ${formatShape(shape)} may hold at most one -1`);
  rule(
    shape.every((d) => d === -1 || d >= 1),
    `shape ${formatShape(shape)} must hold positive sizes (or one -1)`,
  );
  rule(shape.length <= 7, `shape ${formatShape(shape)} has more than 7 axes after the batch`);
  const known = numel(shape.filter((d) => d !== -1));
  const resolved = shape.map((d) => (d === -1 ? perSample / known : d));
  rule(
    resolved.every(Number.isInteger) && numel(resolved) === perSample,
    () =>
      `cannot reshape ${formatShape(x.slice(1))} per sample (${perSample} elements) to ${formatShape(shape)}`,
  );
  return resolved;
}

/**
 * A static reshape that keeps the batch: `shape` is every axis after the batch (one may be -1),
 * so [N,C,H,W] to `[C*H*W]` is a flatten and `[g, C/g, H, W]` a channel-group split. A view (as
 * PyTorch's view): no FLOPs, no new bytes; it lowers to ONNX Reshape with 0 for the batch, so the
 * exported graph keeps a symbolic batch. Receptive fields: when the last two axes of a feature map
 * survive as the last two axes (channel regrouping), positions keep their fields; any other reshape
 * mixes positions, so every output then depends on the whole input (as flatten).
 */
export const Reshape = registerOp(
  defineOp({
    kind: 'reshape',
    summary: 'static reshape of every axis after the batch (one size may be -1)',
    arity: 1,
    attrs: { shape: intList({ min: -1, minLength: 0 }) },
    inferShape: ([x], a) => [x![0]!, ...targetShape(x!, a.shape)],
    params: () => [],
    macs: () => 0,
    flops: () => 0,
    spatial: ({ inputs: [x], output }) =>
      x!.length === 4 && output.length >= 4 && output.at(-1) === x![3] && output.at(-2) === x![2]
        ? IDENTITY
        : GLOBAL,
    memory: { inplace: false, view: true, saves: SAVES_NOTHING },
    onnx: ({ output }, w, [x]) => emit(w, 'Reshape', [x!, ints(w, [0, ...output.slice(1)])]),
  }),
);

export const reshape = (x: Tensor, attrs: AttrsIn<typeof Reshape.attrs>, name?: NameOrOptions): Tensor =>
  x.builder.apply(Reshape, [x], attrs, options(name));
