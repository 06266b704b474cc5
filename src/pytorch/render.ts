import { CLASS_REF, type Member, type PyClass, type SlotForm, sameList, variadic } from './modules.js';
import {
  type Arg,
  type Call,
  identifier,
  isAttributeName,
  isCall,
  isDefault,
  type Leaf,
  literal,
} from './python.js';
import { type Scope, type Unit, unitOrder } from './scopes.js';

/** A call laid out for printing: on one line when it fits in WIDTH columns, else one argument a line. */
type Doc = string | { readonly open: string; readonly items: readonly Doc[]; readonly close: string };
const WIDTH = 100;

const flat = (d: Doc): string =>
  typeof d === 'string' ? d : `${d.open}${d.items.map(flat).join(', ')}${d.close}`;

/** `d` printed from column `column` of a line indented by `indent`. */
export function layout(d: Doc, indent: number, column = indent): string {
  const line = flat(d);
  if (typeof d === 'string' || !d.items.length || column + line.length <= WIDTH) return line;
  const pad = ' '.repeat(indent + 4);
  const items = d.items.map((i) => `${pad}${layout(i, indent + 4)},`);
  return `${d.open}\n${items.join('\n')}\n${' '.repeat(indent)}${d.close}`;
}

/** Reads a class's slots in the order the members' arguments were collected. */
class Cursor {
  private at = 0;
  constructor(private readonly slots: readonly SlotForm[]) {}
  next(): SlotForm {
    const s = this.slots[this.at++];
    if (!s) throw new Error('slot cursor ran past the class slots');
    return s;
  }
}

/** The Python of one argument's value, or undefined when a keyword argument is at its default. */
function slotText(slot: SlotForm, param: (name: string) => string): string | undefined {
  if ('param' in slot) return param(slot.param);
  return slot.arg.keyword && isDefault(slot.arg, slot.leaf) ? undefined : literal(slot.leaf);
}

/** Repeated identical modules in an nn.Sequential are written once, times a range. */
function compress(items: Doc[]): Doc[] {
  const out: Doc[] = [];
  for (let i = 0; i < items.length; ) {
    let j = i + 1;
    while (j < items.length && flat(items[j]!) === flat(items[i]!)) j++;
    out.push(j - i > 1 ? `*[${flat(items[i]!)} for _ in range(${j - i})]` : items[i]!);
    i = j;
  }
  return out;
}

export class Renderer {
  constructor(private readonly classes: readonly PyClass[]) {}

  private calleeName(callee: string): string {
    return callee.startsWith(CLASS_REF) ? this.classes[Number(callee.slice(CLASS_REF.length))]!.name : callee;
  }

  /** A member's construction, its literals and parameters read from the cursor. */
  callDoc(call: Call, cursor: Cursor, param: (name: string) => string): Doc {
    const items: Doc[] = [];
    for (const a of call.args) {
      if (isCall(a.value)) {
        items.push(this.callDoc(a.value, cursor, param));
        continue;
      }
      const text = slotText(cursor.next(), param);
      if (text !== undefined) items.push(a.keyword ? `${a.key}=${text}` : text);
    }
    const callee = this.calleeName(call.callee);
    return { open: `${callee}(`, items: callee === 'nn.Sequential' ? compress(items) : items, close: ')' };
  }

  /** The class's Python: constructor with its differing settings, forward over the scope's units. */
  classText(
    cls: PyClass,
    root:
      | {
          readonly mainOutputs: readonly string[];
          readonly auxOutputs: readonly string[];
          readonly inference: (value: string) => boolean;
        }
      | undefined,
    doc: string,
  ): string {
    const first = cls.instances[0]!;
    const cursor = new Cursor(cls.slots);
    const init: string[] = [];
    const functionArgs = new Map<Member, Map<string, string>>();
    const stored = new Set<string>();
    for (const m of first.members) {
      const local = m.unit.local;
      if (m.module) {
        const target = isAttributeName(local)
          ? `self.${local} = `
          : `self.add_module(${JSON.stringify(local)}, `;
        const call = layout(
          this.callDoc(m.module, cursor, (p) => p),
          8,
          8 + target.length,
        );
        init.push(isAttributeName(local) ? `${target}${call}` : `${target}${call})`);
        continue;
      }
      const args = new Map<string, string>();
      for (const a of m.functional!.args) {
        const slot = cursor.next();
        if ('param' in slot && !stored.has(slot.param)) {
          stored.add(slot.param);
          init.push(`self.${slot.param} = ${slot.param}`);
        }
        const text = slotText(slot, (p) => `self.${p}`);
        if (text !== undefined) args.set(a.key, text);
      }
      functionArgs.set(m, args);
    }
    const params = cls.params.length ? `, ${cls.params.join(', ')}` : '';
    const lines = [
      `class ${cls.name}(nn.Module):`,
      `    """${doc}"""`,
      '',
      `    def __init__(self${params}):`,
      '        super().__init__()',
      ...init.map((l) => `        ${l}`),
      '',
      ...this.forward(first.scope, first.members, functionArgs, root),
    ];
    return lines.join('\n');
  }

  /** forward: each unit in data order, a variable reused once the value it held is dead. */
  private forward(
    scope: Scope,
    members: readonly Member[],
    functionArgs: ReadonlyMap<Member, ReadonlyMap<string, string>>,
    root:
      | {
          readonly mainOutputs: readonly string[];
          readonly auxOutputs: readonly string[];
          readonly inference: (value: string) => boolean;
        }
      | undefined,
  ): string[] {
    const memberOf = new Map(members.map((m) => [m.unit, m]));
    const uses = new Map<string, number>();
    const use = (v: string) => uses.set(v, (uses.get(v) ?? 0) + 1);
    for (const u of scope.units) for (const i of u.inputs) use(i);
    for (const o of scope.outputs) use(o);
    const varOf = new Map<string, string>();
    const live = new Set<string>();
    const many = variadic(scope) && !root;
    const argNames = many ? ['*features'] : scope.inputs.map((_, i) => (i === 0 ? 'x' : `x${i}`));
    scope.inputs.forEach((v, i) => {
      varOf.set(v, many ? 'features' : argNames[i]!);
      live.add(argNames[i] ?? 'features');
    });
    const fresh = (base: string): string => {
      let name = base;
      for (let k = 2; live.has(name) || name === 'self'; k++) name = `${base}${k}`;
      live.add(name);
      return name;
    };
    const isAux = (u: Unit) => root !== undefined && !u.outputs.some((o) => root.inference(o));
    // How many units besides auxiliary heads read each value: a value read once continues a chain.
    const readers = new Map<string, number>();
    for (const u of scope.units)
      if (!isAux(u)) for (const i of u.inputs) readers.set(i, (readers.get(i) ?? 0) + 1);
    for (const o of scope.outputs) readers.set(o, (readers.get(o) ?? 0) + 1);
    const body: { text: string; aux: boolean; targets: readonly string[]; expr: string }[] = [];
    for (const u of unitOrder(scope, isAux)) {
      const m = memberOf.get(u)!;
      const inputs =
        many && sameList(u.inputs, scope.inputs) ? ['*features'] : u.inputs.map((i) => varOf.get(i)!);
      const self = isAttributeName(u.local) ? `self.${u.local}` : `getattr(self, ${JSON.stringify(u.local)})`;
      const expr = m.module
        ? `${self}(${inputs.join(', ')})`
        : m.functional!.render(inputs, functionArgs.get(m)!);
      const dead: string[] = [];
      for (const i of u.inputs) {
        const left = uses.get(i)! - 1;
        uses.set(i, left);
        if (left === 0) dead.push(i);
      }
      for (const d of dead) live.delete(varOf.get(d)!);
      const aux = isAux(u);
      let targets: string[];
      // A chain continues in its variable (x = self.layer1(x)); a branch or a side head gets its own name.
      if (
        !aux &&
        u.outputs.length === 1 &&
        readers.get(u.inputs[0] ?? '') === 1 &&
        dead.includes(u.inputs[0]!)
      ) {
        targets = [varOf.get(u.inputs[0]!)!];
        live.add(targets[0]!);
      } else {
        const base = u.scope || aux ? identifier(u.local) : 'out';
        targets = u.outputs.map((_, k) => fresh(u.outputs.length > 1 ? `${base}_${k}` : base));
      }
      for (const [k, o] of u.outputs.entries()) varOf.set(o, targets[k]!);
      body.push({ text: `${targets.join(', ')} = ${expr}`, aux, targets, expr });
    }
    return forwardLines(argNames, body, varOf, root, scope.outputs);
  }
}

export type { Arg, Leaf };

/** forward's def line, its statements, and what it returns (main and, in training, auxiliary outputs). */
function forwardLines(
  argNames: readonly string[],
  body: { text: string; aux: boolean; targets: readonly string[]; expr: string }[],
  varOf: ReadonlyMap<string, string>,
  root: { readonly mainOutputs: readonly string[]; readonly auxOutputs: readonly string[] } | undefined,
  outputs: readonly string[],
): string[] {
  // The last statement returns its value directly when that is all forward returns.
  const last = body[body.length - 1];
  const returned = root ? root.mainOutputs : outputs;
  if (
    last &&
    !last.aux &&
    !root?.auxOutputs.length &&
    returned.length === 1 &&
    varOf.get(returned[0]!) === last.targets[0] &&
    last.targets.length === 1
  ) {
    body.pop();
    const lines = ['    def forward(self, ' + argNames.join(', ') + '):'];
    return [...lines, ...statementsOf(body), `        return ${last.expr}`];
  }
  const lines = ['    def forward(self, ' + argNames.join(', ') + '):', ...statementsOf(body)];
  const ret = (values: readonly string[]) => values.map((v) => varOf.get(v)!).join(', ');
  if (root?.auxOutputs.length) {
    lines.push('        if self.training:');
    lines.push(`            return ${ret([...root.mainOutputs, ...root.auxOutputs])}`);
    lines.push(`        return ${ret(root.mainOutputs)}`);
  } else lines.push(`        return ${ret(root ? root.mainOutputs : outputs)}`);
  return lines;
}

/** Statements, those of auxiliary heads under `if self.training:`. */
function statementsOf(body: readonly { text: string; aux: boolean }[]): string[] {
  const lines: string[] = [];
  let inAux = false;
  for (const s of body) {
    if (s.aux && !inAux) lines.push('        if self.training:');
    inAux = s.aux;
    lines.push(`${s.aux ? '            ' : '        '}${s.text}`);
  }
  return lines;
}
