import { limitProblem } from './limits.js';
import type { Padding4, Pair } from './shape.js';

/**
 * A tiny attribute schema: one declaration per op both validates a JSON spec (with a message naming
 * the attribute) and normalises the friendlier forms the builder accepts (`kernel: 3` -> `[3, 3]`).
 * Normalised attributes are what a graph stores and serialises, so a spec round-trips exactly.
 */
export interface Field<In, Out, Optional extends boolean = boolean> {
  readonly describe: string;
  readonly optional: Optional;
  parse(value: unknown, path: string): Out;
  /** Phantom marker so TypeScript can infer the accepted input type. */
  readonly _in?: In;
}

export type Schema = Record<string, Field<unknown, unknown>>;

/** Whether a factory's options carry a default (which makes the attribute optional). */
type Opt<O> = O extends { default: unknown } ? true : false;

type OptionalKeys<S extends Schema> = { [K in keyof S]: S[K]['optional'] extends true ? K : never }[keyof S];
type RequiredKeys<S extends Schema> = Exclude<keyof S, OptionalKeys<S>>;

/** What a builder call may pass: fields with defaults are optional, friendly forms allowed. */
export type AttrsIn<S extends Schema> = { [K in RequiredKeys<S>]: NonNullable<S[K]['_in']> } & {
  [K in OptionalKeys<S>]?: NonNullable<S[K]['_in']>;
};

/** What the graph stores: every field present and normalised. */
export type Attrs<S extends Schema> = { [K in keyof S]: ReturnType<S[K]['parse']> };

export class AttrError extends Error {}

/** A value quoted in an error message: JSON, on one line, cut to 80 characters. */
export function brief(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** A key quoted in an error message: as written when it is short and printable, else as JSON. */
export const quoted = (key: string): string => (/^[\x20-\x7e]{1,80}$/.test(key) ? `'${key}'` : brief(key));

const fail = (path: string, expected: string, value: unknown): never => {
  throw new AttrError(`attribute '${path}' must be ${expected}, got ${brief(value)}`);
};

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

/** Every integer attribute is bounded (src/ir/limits.ts), so no kernel or bin count can exhaust memory. */
function bounded<T>(path: string, values: readonly number[], parsed: T): T {
  for (const v of values) {
    const problem = limitProblem('attribute', `attribute '${path}'`, v);
    if (problem) throw new AttrError(problem);
  }
  return parsed;
}

function field<In, Out, O extends boolean>(
  describe: string,
  parseDefined: (v: unknown, path: string) => Out,
  fallback?: Out,
): Field<In, Out, O> {
  return {
    describe,
    optional: (fallback !== undefined) as O,
    parse(value, path) {
      if (value === undefined) {
        if (fallback === undefined) throw new AttrError(`attribute '${path}' is required (${describe})`);
        return structuredClone(fallback);
      }
      return parseDefined(value, path);
    },
  };
}

export interface IntOptions {
  min?: number;
  default?: number;
}

export const int = <O extends IntOptions>(opts: O = {} as O): Field<number, number, Opt<O>> => {
  const min = opts.min ?? Number.NEGATIVE_INFINITY;
  const expected = min === Number.NEGATIVE_INFINITY ? 'an integer' : `an integer >= ${min}`;
  return field(
    expected,
    (v, p) => (isInt(v) && v >= min ? bounded(p, [v], v) : fail(p, expected, v)),
    opts.default,
  );
};

export const num = <O extends { min?: number; max?: number; default?: number }>(
  opts: O = {} as O,
): Field<number, number, Opt<O>> => {
  const min = opts.min ?? Number.NEGATIVE_INFINITY;
  const max = opts.max ?? Number.POSITIVE_INFINITY;
  const expected = `a number in [${min}, ${max}]`;
  return field(
    expected,
    (v, p) =>
      typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max ? v : fail(p, expected, v),
    opts.default,
  );
};

export const bool = <O extends { default?: boolean }>(opts: O = {} as O): Field<boolean, boolean, Opt<O>> =>
  field('true or false', (v, p) => (typeof v === 'boolean' ? v : fail(p, 'true or false', v)), opts.default);

/** An (H, W) pair given as one integer or two. */
export const pair = <O extends IntOptions>(
  opts: O = {} as O,
): Field<number | readonly [number, number], Pair, Opt<O>> => {
  const min = opts.min ?? 0;
  const expected = `an integer >= ${min} or a pair [h, w] of them`;
  const ok = (v: unknown): v is number => isInt(v) && v >= min;
  return field(
    expected,
    (v, p) => {
      if (ok(v)) return bounded(p, [v], [v, v] as const);
      if (Array.isArray(v) && v.length === 2 && ok(v[0]) && ok(v[1]))
        return bounded(p, v, [v[0], v[1]] as const);
      return fail(p, expected, v);
    },
    opts.default === undefined ? undefined : ([opts.default, opts.default] as const),
  );
};

/** Padding as one integer, [h, w] (symmetric) or [top, left, bottom, right] (ONNX order). */
export const padding = <O extends { default?: number }>(
  opts: O = {} as O,
): Field<
  number | readonly [number, number] | readonly [number, number, number, number],
  Padding4,
  Opt<O>
> => {
  const expected = 'an integer >= 0, a pair [h, w] or [top, left, bottom, right]';
  const ok = (v: unknown): v is number => isInt(v) && v >= 0;
  return field(
    expected,
    (v, p) => {
      if (ok(v)) return bounded(p, [v], [v, v, v, v] as const);
      if (Array.isArray(v) && (v.length === 2 || v.length === 4) && v.every(ok)) {
        const n = bounded(p, v as number[], v as number[]);
        if (n.length === 2) return [n[0]!, n[1]!, n[0]!, n[1]!] as const;
        return [n[0]!, n[1]!, n[2]!, n[3]!] as const;
      }
      return fail(p, expected, v);
    },
    opts.default === undefined
      ? undefined
      : ([opts.default, opts.default, opts.default, opts.default] as const),
  );
};

export const intList = <O extends { min?: number; minLength?: number; default?: readonly number[] }>(
  opts: O = {} as O,
): Field<readonly number[], readonly number[], Opt<O>> => {
  const min = opts.min ?? 0;
  const minLength = opts.minLength ?? 1;
  const expected = `a list of ${minLength} to 16 integers >= ${min}`;
  return field(
    expected,
    (v, p) =>
      Array.isArray(v) && v.length >= minLength && v.length <= 16 && v.every((x) => isInt(x) && x >= min)
        ? bounded(p, v as number[], v.slice() as number[])
        : fail(p, expected, v),
    opts.default,
  );
};

export const oneOf = <const T extends string, O extends { default?: T } = Record<never, never>>(
  values: readonly T[],
  opts: O = {} as O,
): Field<T, T, Opt<O>> => {
  const expected = `one of ${values.map((v) => `'${v}'`).join(', ')}`;
  return field(
    expected,
    (v, p) => (typeof v === 'string' && values.includes(v as T) ? (v as T) : fail(p, expected, v)),
    opts.default,
  );
};

/** Validate raw attributes against a schema; unknown keys are rejected so typos never pass silently. */
export function parseAttrs<S extends Schema>(schema: S, raw: unknown, where: string): Attrs<S> {
  if (raw === undefined) raw = {};
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new AttrError(`${where}: attributes must be an object, got ${brief(raw)}`);
  }
  const record = raw as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (record[key] !== undefined && !Object.hasOwn(schema, key)) {
      const known = Object.keys(schema);
      throw new AttrError(
        `unknown attribute ${quoted(key)}${known.length ? `; this op takes ${known.join(', ')}` : '; this op takes none'}`,
      );
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, f] of Object.entries(schema)) out[key] = f.parse(record[key], key);
  return out as Attrs<S>;
}
