/**
 * Spec text for the editor: a layout with one node per line (as the hand-written examples are), and
 * a small structural scan that finds where each node starts and where JSON syntax breaks, so an
 * error can be shown at its line.
 */
import type { Spec } from '../../src/ir/spec.js';

/** One value on one line: `{ "name": "conv1", "op": "conv2d", "kernel": [7, 7] }`. */
function oneLine(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(oneLine).join(', ')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
    return entries.length
      ? `{ ${entries.map(([k, x]) => `${JSON.stringify(k)}: ${oneLine(x)}`).join(', ')} }`
      : '{}';
  }
  return JSON.stringify(v);
}

export function formatSpec(spec: Spec | Record<string, unknown>): string {
  const lines = ['{'];
  const entries = Object.entries(spec).filter(([, v]) => v !== undefined);
  entries.forEach(([k, v], i) => {
    const comma = i < entries.length - 1 ? ',' : '';
    if (Array.isArray(v) && v.length > 0 && v.some((x) => x !== null && typeof x === 'object')) {
      lines.push(`  ${JSON.stringify(k)}: [`);
      v.forEach((x, j) => {
        lines.push(`    ${oneLine(x)}${j < v.length - 1 ? ',' : ''}`);
      });
      lines.push(`  ]${comma}`);
    } else lines.push(`  ${JSON.stringify(k)}: ${oneLine(v)}${comma}`);
  });
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

export interface Scan {
  /** Offsets where each element of the top-level "nodes" array starts. */
  readonly nodes: readonly number[];
  /** Offset of the top-level "outputs" value. */
  readonly outputs: number | null;
  /** Offset of the first syntax error, if any. */
  readonly error: number | null;
}

/** A recursive-descent pass over JSON that records positions; it validates structure, not values. */
export function scanSpec(text: string): Scan {
  let i = 0;
  const nodes: number[] = [];
  let outputs: number | null = null;
  const ws = () => {
    while (i < text.length && ' \t\r\n'.includes(text[i]!)) i++;
  };
  const fail = (): never => {
    throw i;
  };
  const expect = (c: string) => {
    if (text[i] !== c) fail();
    i++;
  };
  const string = (): string => {
    const start = i;
    expect('"');
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\') i++;
      else if (text[i] === '\n') fail();
      i++;
    }
    expect('"');
    try {
      return JSON.parse(text.slice(start, i)) as string;
    } catch {
      i = start;
      return fail();
    }
  };
  const value = (depth: number, key: string | null): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        const k = string();
        ws();
        expect(':');
        ws();
        if (depth === 0 && k === 'outputs') outputs = i;
        value(depth + 1, depth === 0 ? k : null);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        expect('}');
        return;
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (key === 'nodes' && depth === 1) nodes.push(i);
        value(depth + 1, null);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        expect(']');
        return;
      }
    }
    if (c === '"') {
      string();
      return;
    }
    const literal = /^(true|false|null|-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?)/.exec(text.slice(i, i + 40));
    if (!literal) fail();
    i += literal![0].length;
  };
  try {
    value(0, null);
    ws();
    if (i < text.length) fail();
    return { nodes, outputs, error: null };
  } catch (e) {
    if (typeof e !== 'number') throw e;
    return { nodes, outputs, error: Math.min(e, text.length) };
  }
}

/** 0-based line of a character offset. */
export function lineOf(text: string, offset: number): number {
  let line = 0;
  for (let k = 0; k < offset && k < text.length; k++) if (text[k] === '\n') line++;
  return line;
}
