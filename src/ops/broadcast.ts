import type { Shape } from '../ir/shape.js';
import { rule } from './util.js';

/** NumPy/ONNX broadcasting of two shapes of equal rank; the rule message names both shapes. */
export function broadcastShapes(a: Shape, b: Shape, what: string): Shape {
  rule(
    a.length === b.length,
    `${what} needs inputs of equal rank, got [${a.join(',')}] and [${b.join(',')}]`,
  );
  return a.map((d, i) => {
    const e = b[i]!;
    rule(
      d === e || d === 1 || e === 1,
      `${what} needs matching shapes (or 1 to broadcast) on axis ${i}, got [${a.join(',')}] and [${b.join(',')}]`,
    );
    return Math.max(d, e);
  });
}
