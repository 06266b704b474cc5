/**
 * The small piece of Python the emitter writes: literals, constructor calls and their arguments.
 * A value is either a literal leaf or a call; a class's constructor parameters replace leaves.
 */

/** A literal: an int or float, a bool, a string, or a tuple of ints. */
export type Leaf = number | boolean | string | readonly number[];

/** One argument of a call; `keyword` ones are written `key=value` and left out when at `default`. */
export interface Arg {
  readonly key: string;
  readonly value: Leaf | Call | Param;
  readonly keyword: boolean;
  readonly default?: Leaf;
}

/** A constructor call: `nn.Conv2d(64, 64, kernel_size=3)`, `Bottleneck(256, 64)`, `nn.Sequential(...)`. */
export interface Call {
  readonly callee: string;
  readonly args: readonly Arg[];
}

/** A reference to a constructor parameter of the class being written (or `self.name` in forward). */
export interface Param {
  readonly param: string;
}

export const isCall = (v: Arg['value']): v is Call => typeof v === 'object' && 'callee' in v;
export const isParam = (v: Arg['value']): v is Param => typeof v === 'object' && 'param' in v;

export const positional = (key: string, value: Arg['value']): Arg => ({ key, value, keyword: false });
export const keyword = (key: string, value: Arg['value'], fallback?: Leaf): Arg =>
  fallback === undefined ? { key, value, keyword: true } : { key, value, keyword: true, default: fallback };

/** A pair written as PyTorch takes it: one number when both agree, else a tuple. */
export const pair = (p: readonly number[]): Leaf => (p.length === 2 && p[0] === p[1] ? p[0]! : [...p]);

/** Python's spelling of a literal. */
export function literal(v: Leaf): string {
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`cannot write ${v} as a Python literal`);
    return String(v);
  }
  return v.length === 1 ? `(${v[0]},)` : `(${v.join(', ')})`;
}

export const sameLeaf = (a: Leaf, b: Leaf): boolean => JSON.stringify(a) === JSON.stringify(b);

/** Whether a keyword argument at this literal may be left out. */
export const isDefault = (a: Arg, v: Leaf): boolean => a.default !== undefined && sameLeaf(a.default, v);

const KEYWORDS = new Set(
  'False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield self'.split(
    ' ',
  ),
);

/** A Python identifier made from a convlab name: `Mixed_5b` stays, `0` becomes `m0`, `if` becomes `if_`. */
export function identifier(name: string, prefix = 'm'): string {
  let id = name.replace(/[^A-Za-z0-9_]/g, '_');
  if (!/^[A-Za-z_]/.test(id)) id = `${prefix}${id}`;
  return KEYWORDS.has(id) ? `${id}_` : id;
}

/** Whether `name` may be written as `self.name` (not a digit, keyword or nn.Module's own attribute). */
export const isAttributeName = (name: string): boolean =>
  /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !KEYWORDS.has(name) && !MODULE_ATTRIBUTES.has(name);

const MODULE_ATTRIBUTES = new Set(
  'training forward modules children parameters buffers state_dict load_state_dict add_module register_buffer register_parameter train eval to cuda cpu float half double apply zero_grad named_modules named_parameters named_buffers named_children type extra_repr'.split(
    ' ',
  ),
);

/** `ResNet50` from `resnet50`, `MobilenetV2` from `mobilenet_v2`: a class name from a model or scope name. */
export const className = (name: string): string =>
  identifier(
    name
      .split(/[^A-Za-z0-9]+/)
      .filter(Boolean)
      .map((w) => w[0]!.toUpperCase() + w.slice(1))
      .join(''),
    'Model',
  );
