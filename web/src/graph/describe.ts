/**
 * How a node looks: a category read from its op's facets (no table of op names), and a short
 * description made from whatever attributes it has.
 */
import type { ResolvedNode } from '../../../src/ir/resolve.js';

export type Category = 'input' | 'compute' | 'norm' | 'pool' | 'merge' | 'activation' | 'shape';

export const CATEGORY_STYLE: Readonly<Record<Category, { fill: string; stroke: string; label: string }>> = {
  input: { fill: '#eef0f4', stroke: '#8a92a3', label: 'input' },
  compute: { fill: '#e6edfd', stroke: '#4b73d9', label: 'conv / linear' },
  norm: { fill: '#f1e9fb', stroke: '#8a5cc7', label: 'normalisation' },
  pool: { fill: '#fdf0e1', stroke: '#d98a2b', label: 'pooling' },
  merge: { fill: '#fde8ec', stroke: '#d04a68', label: 'merge' },
  activation: { fill: '#e5f5ee', stroke: '#2f9a6c', label: 'activation / pointwise' },
  shape: { fill: '#f2f3f5', stroke: '#9aa1ae', label: 'reshape / view' },
};

export function categoryOf(n: ResolvedNode): Category {
  if (n.node.op === 'input') return 'input';
  if (n.macs > 0) return 'compute';
  if (n.node.inputs.length > 1) return 'merge';
  const spatial = n.def.spatial(n.ctx as never);
  if (spatial.kind !== 'identity') return 'pool';
  if (n.params.length > 0) return 'norm';
  if (n.def.memory.view || n.flops === 0) return 'shape';
  return 'activation';
}

const side = (v: unknown): string | null => {
  if (typeof v === 'number') return String(v);
  if (Array.isArray(v) && v.every((x) => typeof x === 'number')) {
    return v.every((x) => x === v[0]) ? String(v[0]) : v.join('×');
  }
  return null;
};

const isOne = (v: unknown): boolean => side(v) === '1';
const isZero = (v: unknown): boolean => side(v) === '0';

/** `conv2d 3×3 →64 /2 g32`, `maxpool2d 3×3 /2`, `linear →1000`, `dropout p=0.5`. */
export function describeNode(n: ResolvedNode): string {
  const a = n.node.attrs;
  if (n.node.op === 'input') return n.ctx.output.slice(1).join('×');
  const parts: string[] = [n.node.op];
  const kernel = a['kernel'];
  if (Array.isArray(kernel)) parts.push(kernel.join('×'));
  if (typeof a['out'] === 'number') parts.push(`→${a['out']}`);
  if (a['output'] !== undefined && side(a['output'])) parts.push(`→${side(a['output'])}`);
  if (a['stride'] !== undefined && !isOne(a['stride'])) parts.push(`/${side(a['stride'])}`);
  if (a['dilation'] !== undefined && !isOne(a['dilation'])) parts.push(`d${side(a['dilation'])}`);
  if (typeof a['groups'] === 'number' && a['groups'] > 1) {
    const c = n.ctx.inputs[0]?.[1];
    parts.push(a['groups'] === c && kernel ? 'depthwise' : `g${a['groups']}`);
  }
  if (typeof a['p'] === 'number') parts.push(`p=${a['p']}`);
  return parts.join(' ');
}

/** Attributes worth listing in the details panel (defaults that do nothing are left out). */
export function notableAttrs(n: ResolvedNode): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(n.node.attrs)) {
    if (k === 'shape') continue;
    if ((k === 'dilation' || k === 'groups') && isOne(v)) continue;
    if (k === 'padding' && isZero(v)) continue;
    if (typeof v === 'boolean' && !v && k !== 'bias') continue;
    out.push([
      k,
      Array.isArray(v) ? (k === 'kernel' ? v.join('×') : (side(v) ?? `[${v.join(', ')}]`)) : String(v),
    ]);
  }
  return out;
}
