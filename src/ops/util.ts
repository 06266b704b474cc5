import type { ApplyOptions } from '../ir/builder.js';
import { RuleError } from '../ir/errors.js';
import type { TensorSpec } from '../ir/op.js';
import { numel, type Shape } from '../ir/shape.js';

/** Builder helpers take a node name or full options. */
export type NameOrOptions = string | ApplyOptions | undefined;
export const options = (o: NameOrOptions): ApplyOptions => (typeof o === 'string' ? { name: o } : (o ?? {}));

/** Enforce a rule; pass a function when the message is costly to build (it runs only on failure). */
export const rule = (ok: boolean, message: string | (() => string)): void => {
  if (!ok) throw new RuleError(typeof message === 'string' ? message : message());
};

export const requireRank = (shape: Shape, rank: number, what = 'input'): void =>
  rule(
    shape.length === rank,
    `${what} must have rank ${rank} (${rank === 4 ? 'N,C,H,W' : 'N,F'}), got [${shape.join(',')}]`,
  );

export const elements = numel;

/**
 * A weight of `shape` and, when `bias`, a bias of its first dimension, both initialised as PyTorch's
 * Conv2d and Linear do (their fans are the layer's, which the default initialisers read).
 */
export const weightAndBias = (
  shape: Shape,
  bias: boolean,
  fans: { readonly fanIn: number; readonly fanOut: number },
): TensorSpec[] => [
  { name: 'weight', shape, dtype: 'float32', role: 'param', init: { kind: 'default_weight' }, ...fans },
  ...(bias
    ? [
        {
          name: 'bias',
          shape: [shape[0]!],
          dtype: 'float32',
          role: 'param',
          init: { kind: 'default_bias' },
          ...fans,
        } as const,
      ]
    : []),
];
