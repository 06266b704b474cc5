/**
 * Human formatting of the analyses' figures (counts, bytes, MACs), shared by the CLI's tables and
 * the lab's pages so both print a figure the same way. JSON output never goes through here.
 */

export const thousands = (n: number): string => Math.round(n).toLocaleString('en-US');

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function bytes(n: number): string {
  let i = 0;
  let v = n;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${UNITS[i]}`;
}

/** 4.09 G, 301 M: for MACs and FLOPs in tables. */
export function metric(n: number): string {
  const units: [number, string][] = [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'K'],
  ];
  for (const [size, unit] of units) if (Math.abs(n) >= size) return `${(n / size).toFixed(2)} ${unit}`;
  return String(n);
}
