import type { Shape } from '../ir/shape.js';
import { rule } from './util.js';

/**
 * NumPy/ONNX broadcasting of two shapes: aligned at their last axes, a missing leading axis or an
 * axis of 1 stretches to the other's size (a [C,1,1] scale against [N,C,H,W]). The rule message
 * names both shapes.
 */
export function broadcastShapes(a: Shape, b: Shape, what: string): Shape {
  const rank = Math.max(a.length, b.length);
  const at = (s: Shape, i: number) => s[i - (rank - s.length)] ?? 1;
  return Array.from({ length: rank }, (_, i) => {
    const [d, e] = [at(a, i), at(b, i)];
    rule(
      d === e || d === 1 || e === 1,
      `${what} needs matching shapes (or 1 to broadcast) on axis ${i}, got [${a.join(',')}] and [${b.join(',')}]`,
    );
    return Math.max(d, e);
  });
}
