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
  const scanner = new SpecScanner(text);
  try {
    scanner.value(0, null);
    scanner.ws();
    if (scanner.i < text.length) scanner.fail();
    return { nodes: scanner.nodes, outputs: scanner.outputs, error: null };
  } catch (e) {
    if (typeof e !== 'number') throw e;
    return { nodes: scanner.nodes, outputs: scanner.outputs, error: Math.min(e, text.length) };
  }
}

/** The scan's cursor and what it has found; a syntax error is thrown as the offset where it is. */
class SpecScanner {
  i = 0;
  readonly nodes: number[] = [];
  outputs: number | null = null;

  constructor(private readonly text: string) {}

  ws(): void {
    while (this.i < this.text.length && ' \t\r\n'.includes(this.text[this.i]!)) this.i++;
  }

  fail(): never {
    throw this.i;
  }

  expect(c: string): void {
    if (this.text[this.i] !== c) this.fail();
    this.i++;
  }

  string(): string {
    const start = this.i;
    this.expect('"');
    while (this.i < this.text.length && this.text[this.i] !== '"') {
      if (this.text[this.i] === '\\') this.i++;
      else if (this.text[this.i] === '\n') this.fail();
      this.i++;
    }
    this.expect('"');
    try {
      return JSON.parse(this.text.slice(start, this.i)) as string;
    } catch {
      this.i = start;
      return this.fail();
    }
  }

  /** An object or array from its opening bracket: `item` reads each element, commas between. */
  sequence(close: string, item: () => void): void {
    this.i++;
    this.ws();
    if (this.text[this.i] === close) {
      this.i++;
      return;
    }
    for (;;) {
      this.ws();
      item();
      this.ws();
      if (this.text[this.i] === ',') {
        this.i++;
        continue;
      }
      this.expect(close);
      return;
    }
  }

  /** One value; `key` is the top-level key it belongs to (depth 1), where node starts are recorded. */
  value(depth: number, key: string | null): void {
    this.ws();
    const c = this.text[this.i];
    if (c === '{') {
      this.sequence('}', () => {
        const k = this.string();
        this.ws();
        this.expect(':');
        this.ws();
        if (depth === 0 && k === 'outputs') this.outputs = this.i;
        this.value(depth + 1, depth === 0 ? k : null);
      });
      return;
    }
    if (c === '[') {
      this.sequence(']', () => {
        if (key === 'nodes' && depth === 1) this.nodes.push(this.i);
        this.value(depth + 1, null);
      });
      return;
    }
    if (c === '"') {
      this.string();
      return;
    }
    const literal = /^(true|false|null|-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?)/.exec(
      this.text.slice(this.i, this.i + 40),
    );
    if (!literal) this.fail();
    this.i += literal![0].length;
  }
}

/** 0-based line of a character offset. */
export function lineOf(text: string, offset: number): number {
  let line = 0;
  for (let k = 0; k < offset && k < text.length; k++) if (text[k] === '\n') line++;
  return line;
}
