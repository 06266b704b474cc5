/** Display formatting; the number formats are the CLI's own (src/analysis/format.ts). */
import { bytes, metric, thousands } from '../../src/analysis/format.js';
import type { Pair, Shape } from '../../src/ir/shape.js';

export { bytes, metric, thousands };

/** A feature map without its batch: 256×56×56; a vector: 1000. */
export const dims = (shape: Shape): string => shape.slice(1).join('×');

/** 212 for a square pair, 212×180 otherwise. */
export const pair = (p: Pair): string => (p[0] === p[1] ? String(p[0]) : `${p[0]}×${p[1]}`);

/** A ratio as a percentage with sensible precision. */
export function percent(x: number): string {
  const v = x * 100;
  return `${v >= 10 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(2)}%`;
}

/** 3.2× */
export const times = (x: number): string => `${x >= 10 ? x.toFixed(0) : x.toFixed(2)}×`;

/** Short human numbers for chart axes: 25.6M, 4.09G. */
export function compact(n: number): string {
  const units: [number, string][] = [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'K'],
  ];
  for (const [size, unit] of units) {
    if (Math.abs(n) >= size) return `${Number((n / size).toPrecision(3))}${unit}`;
  }
  return String(Number(n.toPrecision(3)));
}

/** A tick step for a byte axis: a power of two, so ticks read 512 MiB, 1 GiB, 1.5 GiB. */
export function binaryStep(max: number, ticks = 6): number {
  let step = 1;
  while (max / step > ticks) step *= 2;
  return step;
}

/** 1.5 GiB, 512 MiB: bytes without trailing zeros, for chart axes. */
export function compactBytes(n: number): string {
  return bytes(n).replace(/\.(\d*?)0+ /, (_, kept: string) => (kept ? `.${kept} ` : ' '));
}
