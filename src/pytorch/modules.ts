import type { ResolvedNode } from '../ir/resolve.js';
import {
  type Arg,
  type Call,
  className,
  identifier,
  isCall,
  isParam,
  type Leaf,
  positional,
  sameLeaf,
} from './python.js';
import type { Scope, Unit } from './scopes.js';
import { type Functional, type TorchContext, torchOp } from './torch_op.js';

/**
 * From scopes to Python classes. Each scope is written as nn.Sequential when it is a plain chain
 * of modules named 0..n-1, else as an instance of a class: one class per block type (and per
 * variant of its structure, e.g. a Bottleneck with and without `downsample`), whose constructor
 * takes the settings that differ between the instances (channels, strides) and writes the rest
 * as literals. The model itself is the one instance of the top class.
 */

/** A unit as a class member: a module built in __init__, or a function called in forward. */
export interface Member {
  readonly unit: Unit;
  readonly module: Call | undefined;
  readonly functional: Functional | undefined;
}

/** One scope written as an instance of a class: its members and the call its parent makes. */
export interface Instance {
  readonly scope: Scope;
  readonly members: readonly Member[];
  /** Filled in when the class is settled. */
  readonly call: { callee: string; args: Arg[] };
}

/** A slot of a class: its literal when every instance agrees, else the constructor parameter. */
export type SlotForm =
  | { readonly arg: Arg; readonly leaf: Leaf }
  | { readonly arg: Arg; readonly param: string };

/** A class of the model; its name is settled once every variant of its block type is known. */
export interface PyClass {
  readonly id: number;
  readonly type: string;
  readonly instances: Instance[];
  readonly helpers: Set<string>;
  /** Constructor parameters, in order. */
  params: string[];
  /** Per slot of the members' arguments (a fixed traversal order), its form. */
  slots: SlotForm[];
  name: string;
}

export const CLASS_REF = '\u0000class:';

const torchContext = (n: ResolvedNode): TorchContext => ({ ...n.ctx, name: n.node.name });

/** One leaf of a member's arguments, in a fixed traversal order shared by every instance. */
interface Slot {
  readonly path: readonly string[];
  readonly arg: Arg;
  readonly value: Leaf;
}

function callSlots(call: Call, path: readonly string[], out: Slot[]): void {
  for (const a of call.args) {
    if (isCall(a.value)) callSlots(a.value, [...path, a.key], out);
    else if (!isParam(a.value)) out.push({ path: [...path, a.key], arg: a, value: a.value });
  }
}

function memberSlots(members: readonly Member[]): Slot[] {
  const out: Slot[] = [];
  for (const m of members) {
    if (m.module) callSlots(m.module, [m.unit.local], out);
    else
      for (const a of m.functional!.args)
        out.push({ path: [m.unit.local, a.key], arg: a, value: a.value as Leaf });
  }
  return out;
}

const skeletonOfCall = (call: Call): unknown => [
  call.callee,
  call.args.map((a) => [a.key, a.keyword, isCall(a.value) ? skeletonOfCall(a.value) : 0]),
];

/**
 * Whether the scope takes any number of inputs and concatenates them first (DenseNet's layer,
 * torchvision's `_DenseLayer.forward(*prev_features)`): one unit reads the scope's inputs, all
 * of them in order, and it is a concat.
 */
export function variadic(scope: Scope): boolean {
  const inputs = new Set(scope.inputs);
  const readers = scope.units.filter((u) => u.inputs.some((i) => inputs.has(i)));
  const only = readers[0];
  return readers.length === 1 && only!.node?.node.op === 'concat' && sameList(only!.inputs, scope.inputs);
}

export const sameList = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i]);

const CHANNEL_KEY = /(channels|features)$/;

export class ModuleWriter {
  readonly classes: PyClass[] = [];
  private readonly bySignature = new Map<string, PyClass>();

  constructor(private readonly rootName: string) {}

  /** The member of one unit: its module when it has parameters or must be one, else its function. */
  member(unit: Unit, needModule: boolean): Member | undefined {
    if (unit.scope) return { unit, module: this.scopeCall(unit.scope), functional: undefined };
    const n = unit.node!;
    const op = torchOp(n.node.op, n.node.name);
    const ctx = torchContext(n);
    const functional = n.params.length || needModule ? undefined : op.functional?.(ctx);
    if (functional) return { unit, module: undefined, functional };
    const module = op.module?.(ctx);
    if (module) return { unit, module, functional: undefined };
    if (needModule) return undefined;
    throw new Error(`op '${n.node.op}' (node '${n.node.name}') has neither a module nor a function form`);
  }

  helpersOf(unit: Unit): readonly string[] {
    return unit.node ? (torchOp(unit.node.node.op, unit.node.node.name).helpers ?? []) : [];
  }

  /** How the parent builds this scope: nn.Sequential(...) for a plain chain, else its class. */
  scopeCall(scope: Scope): Call {
    const chain = this.sequential(scope);
    if (chain)
      return { callee: 'nn.Sequential', args: chain.map((m) => positional(m.unit.local, m.module!)) };
    return this.instance(scope);
  }

  /** Members of an nn.Sequential: units 0..n-1, each reading only the one before, each a module. */
  private sequential(scope: Scope): Member[] | undefined {
    const { units } = scope;
    if (scope.path === '' || !units.length || scope.inputs.length !== 1 || scope.outputs.length !== 1)
      return undefined;
    if (!units.every((u, i) => u.local === String(i) && u.outputs.length === 1)) return undefined;
    const reads = new Map<string, number>();
    for (const u of units) for (const i of u.inputs) reads.set(i, (reads.get(i) ?? 0) + 1);
    for (const [i, u] of units.entries()) {
      const from = i === 0 ? scope.inputs[0]! : units[i - 1]!.outputs[0]!;
      if (u.inputs.length !== 1 || u.inputs[0] !== from) return undefined;
      if (i > 0 && reads.get(from) !== 1) return undefined;
    }
    if (units[units.length - 1]!.outputs[0] !== scope.outputs[0]) return undefined;
    const members = units.map((u) => this.member(u, true));
    return members.every((m) => m !== undefined) ? (members as Member[]) : undefined;
  }

  /** The call that builds this scope as an instance of its class (made or extended here). */
  private instance(scope: Scope): Call {
    const members = scope.units.map((u) => this.member(u, false)!);
    const local = className(scope.path.split('.').pop()!);
    const type =
      scope.path === '' ? this.rootName : scope.type && scope.type !== 'Sequential' ? scope.type : local;
    const signature = JSON.stringify([
      type,
      variadic(scope) ? '*' : scope.inputs.length,
      this.wiring(scope),
      members.map((m) => [
        m.unit.local,
        m.module ? skeletonOfCall(m.module) : m.unit.node!.node.op,
        m.functional?.args.map((a) => a.key),
      ]),
    ]);
    let cls = this.bySignature.get(signature);
    if (!cls) {
      cls = {
        id: this.classes.length,
        type,
        instances: [],
        helpers: new Set(),
        params: [],
        slots: [],
        name: type,
      };
      this.classes.push(cls);
      this.bySignature.set(signature, cls);
    }
    for (const u of scope.units) for (const h of this.helpersOf(u)) cls.helpers.add(h);
    const call = { callee: `${CLASS_REF}${cls.id}`, args: [] };
    cls.instances.push({ scope, members, call });
    return call;
  }

  /** Where each unit's inputs come from, as the scope's inputs or sibling outputs (so wiring is part of the class). */
  private wiring(scope: Scope): unknown {
    const where = new Map<string, string>();
    const many = variadic(scope);
    for (const [i, v] of scope.inputs.entries()) where.set(v, many ? 'in*' : `in${i}`);
    for (const u of scope.units) for (const [i, v] of u.outputs.entries()) where.set(v, `${u.local}:${i}`);
    const reads = (u: Unit) =>
      many && sameList(u.inputs, scope.inputs) ? ['in*'] : u.inputs.map((i) => where.get(i));
    return [scope.units.map(reads), scope.outputs.map((o) => where.get(o))];
  }
}

/**
 * Settle every class: the slots that differ between instances become constructor parameters
 * (slots with the same values across instances share one, named after the first: `in_channels`
 * and `out_channels` when they are the block's input and output channels), and each instance's
 * call gets its values. Classes were made children first, so a parent reads settled child calls.
 */
export function settle(w: ModuleWriter, channels: (value: string) => number): void {
  for (const cls of w.classes) {
    const perInstance = cls.instances.map((i) => memberSlots(i.members));
    const first = perInstance[0]!;
    const inChannels = cls.instances.map((i) => (i.scope.inputs.length ? channels(i.scope.inputs[0]!) : 0));
    const outChannels = cls.instances.map((i) =>
      i.scope.outputs.length ? channels(i.scope.outputs[0]!) : 0,
    );
    const taken = new Set(cls.instances[0]!.members.map((m) => m.unit.local));
    const byValues = new Map<string, string>();
    const values: Leaf[][] = [];
    cls.params = [];
    cls.slots = first.map((slot, j) => {
      const column = perInstance.map((s) => s[j]!.value);
      if (column.every((v) => sameLeaf(v, column[0]!))) return { arg: slot.arg, leaf: column[0]! };
      const channel = CHANNEL_KEY.test(slot.arg.key);
      const key = `${JSON.stringify(column)}|${channel ? 'channels' : slot.arg.key}`;
      let name = byValues.get(key);
      if (name === undefined) {
        const sameAs = (c: number[]) => channel && column.every((v, k) => v === c[k]);
        name = sameAs(inChannels)
          ? 'in_channels'
          : sameAs(outChannels)
            ? 'out_channels'
            : identifier(slot.path.join('_'), 'p');
        while (taken.has(name)) name = `${name}_`;
        taken.add(name);
        byValues.set(key, name);
        cls.params.push(name);
        values.push(column);
      }
      return { arg: slot.arg, param: name };
    });
    cls.instances.forEach((inst, k) => {
      inst.call.args.push(...cls.params.map((p, i) => positional(p, values[i]![k]!)));
    });
  }
  nameClasses(w.classes);
}

/** The most common variant of a block type takes its name; the others say what they add or lack. */
function nameClasses(classes: readonly PyClass[]): void {
  const used = new Set<string>();
  const byType = new Map<string, PyClass[]>();
  // The model's own class first, so that it keeps its name.
  for (const c of [...classes].reverse()) byType.set(c.type, [...(byType.get(c.type) ?? []), c]);
  for (const [type, variants] of byType) {
    const sorted = [...variants].sort((a, b) => b.instances.length - a.instances.length || a.id - b.id);
    const main = new Set(sorted[0]!.instances[0]!.members.map((m) => m.unit.local));
    for (const [k, c] of sorted.entries()) {
      const locals = c.instances[0]!.members.map((m) => m.unit.local);
      const extra = locals.filter((l) => !main.has(l) && !/_\d+$/.test(l));
      let name =
        k === 0
          ? type
          : extra.length && extra.length <= 2
            ? `${type}With${extra.map(className).join('And')}`
            : `${type}${k + 1}`;
      while (used.has(name)) name = `${name}_`;
      used.add(name);
      c.name = name;
    }
  }
}
