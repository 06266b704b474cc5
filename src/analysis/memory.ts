import { type OptimizerSpec, stateSlots } from '../autodiff/optimizer.js';
import type { Graph } from '../ir/graph.js';
import { type ResolvedGraph, type ResolvedNode, resolveGraph } from '../ir/resolve.js';
import { DTYPE_BYTES, numel } from '../ir/shape.js';
import { BatchNorm2d } from '../ops/batchnorm2d.js';
import { Concat } from '../ops/concat.js';
import { Conv2d } from '../ops/conv2d.js';
import { Relu } from '../ops/relu.js';

/**
 * Memory of one inference pass or one training step, by liveness over the graph's topological
 * order (the order convlab executes it in). A feature map is allocated by the step that makes it
 * and freed after the last step that reads it; in training "reads" include the backward steps that
 * use what an op saved. What an op saves comes from its OpDef's `memory.saves` declaration, the one
 * the gradient rules read too; nothing here keeps a table of ops.
 *
 * Model of a training step:
 * - forward in topological order, then backward in reverse; parameters, buffers, gradients and
 *   optimiser state are resident for the whole step (PyTorch keeps `.grad` between steps);
 * - a backward step reads the gradient of its node's output (dY) and writes the gradients of its
 *   inputs (dX, accumulated when a tensor feeds several nodes) and a fresh gradient of its own
 *   parameters, which is then added into `.grad` (PyTorch's AccumulateGrad: for VGG's 25088x4096
 *   layer that transient alone is 392 MiB); dY is freed after the step that consumes it, as
 *   autograd frees each saved tensor after its node's backward;
 * - the loss and the optimiser update are not modelled (their tensors are logits-sized or in place).
 * All feature maps are float32.
 */

export type Mode = 'infer' | 'train';
export type Strategy = 'naive' | 'inplace' | 'checkpoint' | 'shared';
export type Optimizer = 'sgd' | 'momentum' | 'adam';

export const MODES: readonly Mode[] = ['infer', 'train'];
export const STRATEGIES: readonly Strategy[] = ['naive', 'inplace', 'checkpoint', 'shared'];
export const OPTIMIZERS: readonly Optimizer[] = ['sgd', 'momentum', 'adam'];

/** Each optimiser named here as the training graph specifies it; only the state it keeps matters here. */
const OPTIMIZER_SPECS: Readonly<Record<Optimizer, OptimizerSpec>> = {
  sgd: { kind: 'sgd', momentum: 0, nesterov: false, weightDecay: 0 },
  momentum: { kind: 'sgd', momentum: 0.9, nesterov: false, weightDecay: 0 },
  adam: { kind: 'adamw', beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 },
};

/** Buffers of parameter size each optimiser keeps (momentum's velocity, Adam's two moments): its `stateSlots`. */
export const OPTIMIZER_BUFFERS: Readonly<Record<Optimizer, number>> = {
  sgd: stateSlots(OPTIMIZER_SPECS.sgd).length,
  momentum: stateSlots(OPTIMIZER_SPECS.momentum).length,
  adam: stateSlots(OPTIMIZER_SPECS.adam).length,
};

export interface MemoryOptions {
  readonly mode?: Mode;
  readonly strategy?: Strategy;
  readonly optimizer?: Optimizer;
  /** Checkpoint segments; default round(sqrt(n)) for n nodes (Chen et al. 2016). */
  readonly segments?: number;
}

export type Phase = 'forward' | 'recompute' | 'backward';

export interface TimelineEntry {
  readonly step: number;
  readonly node: string;
  readonly phase: Phase;
  /** Bytes alive when the step completes: its output written, its dying inputs not yet freed. */
  readonly liveBytes: number;
}

export interface MemoryBytes {
  /** Learnable parameters of the nodes that run. */
  readonly params: number;
  /** BatchNorm running statistics and counters. */
  readonly buffers: number;
  readonly grads: number;
  readonly optimizer: number;
  /** Every feature map one forward pass produces (views own no bytes; the input batch is not produced). */
  readonly activationsTotal: number;
  /** Bytes alive at the end of the forward pass that backward (or its recomputation) still reads. */
  readonly savedForBackward: number;
  /** The most bytes alive at once, everything resident included: the maximum of the timeline. */
  readonly peak: number;
}

/** Nodes run again in backward: a checkpoint segment or a DenseNet layer's concat-BN-ReLU. */
export interface RecomputeGroup {
  readonly first: string;
  readonly last: string;
  readonly nodes: number;
}

export interface MemoryReport {
  readonly model: string;
  readonly batch: number;
  readonly mode: Mode;
  readonly strategy: Strategy;
  readonly optimizer: Optimizer;
  readonly bytes: MemoryBytes;
  /** Forward FLOPs run a second time during backward (checkpoint, shared); 0 otherwise. */
  readonly extraFlops: number;
  readonly peakAt: { readonly step: number; readonly node: string; readonly phase: Phase };
  /** savedForBackward by the op of the node whose backward releases each tensor ('recompute': kept only to recompute from). */
  readonly savedByOp: Readonly<Record<string, number>>;
  readonly recomputeGroups: readonly RecomputeGroup[];
  /** What the strategy did or could not do, in words. */
  readonly notes: readonly string[];
  readonly timeline: readonly TimelineEntry[];
}

const FLOAT = DTYPE_BYTES.float32;

/** The graph in execution order, by position (0 is the input), with what every pass below reads. */
interface Net {
  readonly order: readonly ResolvedNode[];
  readonly inputs: readonly (readonly number[])[];
  readonly bytes: readonly number[];
  /** Position of the last forward reader; an output is read at the end, n + 1. */
  readonly lastRead: readonly number[];
  readonly isOutput: readonly boolean[];
  /** Needs a backward step: owns a parameter or reads something that does. */
  readonly grad: readonly boolean[];
  readonly saves: readonly { inputs: readonly number[]; output: boolean; extras: readonly number[] }[];
  /** Saved for backward by some node. */
  readonly saved: readonly boolean[];
  /** Bytes of each node's learnable parameters. */
  readonly paramBytes: readonly number[];
}

function netOf(r: ResolvedGraph, mode: Mode): Net {
  const order = r.nodes.filter((n) => mode === 'train' || n.inference);
  const position = new Map(order.map((n, p) => [n.index, p]));
  const inputs = order.map((n) => n.inputs.map((i) => position.get(i)!));
  const n = order.length - 1;
  const outputs = new Set(
    r.outputs
      .filter((o) => mode === 'train' || o.role === 'main')
      .map((o) => position.get(r.byName.get(o.node)!.index)),
  );
  const isOutput = order.map((_, p) => outputs.has(p));
  const lastRead = order.map((_, p) => (isOutput[p] ? n + 1 : p));
  inputs.forEach((ins, p) => {
    for (const i of ins) lastRead[i] = Math.max(lastRead[i]!, p);
  });
  const grad: boolean[] = [];
  order.forEach((node, p) => {
    grad.push(
      mode === 'train' && (node.params.some((t) => t.role === 'param') || inputs[p]!.some((i) => grad[i])),
    );
  });
  const saves = order.map((node, p) => {
    if (!grad[p]) return { inputs: [], output: false, extras: [] };
    const s = node.def.memory.saves;
    return {
      inputs: s.inputs.map((k) => inputs[p]![k]!),
      output: s.output,
      extras: (s.extra?.(node.ctx) ?? []).map((t) => numel(t.shape) * DTYPE_BYTES[t.dtype]),
    };
  });
  const saved = order.map(() => false);
  saves.forEach((s, p) => {
    for (const i of s.inputs) saved[i] = true;
    if (s.output) saved[p] = true;
  });
  const bytes = order.map((node) => numel(node.ctx.output) * FLOAT);
  const paramBytes = order.map((node) =>
    node.params.reduce((sum, t) => sum + (t.role === 'param' ? numel(t.shape) * DTYPE_BYTES[t.dtype] : 0), 0),
  );
  return { order, inputs, bytes, lastRead, isOutput, grad, saves, saved, paramBytes };
}

/** How a strategy lays tensors out and what it recomputes. */
interface Plan {
  /** The input whose storage a node's output shares (a view, or an in-place overwrite); -1 = its own. */
  readonly alias: readonly number[];
  /** Outputs written to one buffer shared network-wide (Pleiss et al.'s shared storage). */
  readonly pinned: ReadonlyMap<number, string>;
  /** Recompute group of each node, 1-based; 0 = computed once. */
  readonly group: readonly number[];
  readonly groups: readonly (readonly number[])[];
  /** Tensors kept from the forward pass as checkpoints, never recomputed for backward. */
  readonly kept: ReadonlySet<number>;
  readonly notes: readonly string[];
}

const viewAliases = (net: Net): number[] =>
  net.order.map((node, p) => (node.def.memory.view ? net.inputs[p]![0]! : -1));

/** Storage of each node (the root of its alias chain). */
function roots(alias: readonly number[]): number[] {
  const root: number[] = [];
  alias.forEach((a, p) => {
    root.push(a < 0 ? p : root[a]!);
  });
  return root;
}

/**
 * In place: an op whose facet allows it writes into its first input's buffer when that buffer dies
 * at this step, is the same size and is not the network's input or output. In training the buffer
 * must also hold nothing saved for backward (PyTorch's rule: ReLU may overwrite BN's output because
 * BN saves its input; BN may not overwrite a conv output that it saves itself).
 */
function inplacePlan(net: Net): Plan {
  const alias = viewAliases(net);
  const root = roots(alias);
  const dies = new Map<number, number>();
  const tainted = new Set<number>([0]);
  let capable = 0;
  let done = 0;
  net.order.forEach((node, p) => {
    const first = net.inputs[p]![0];
    if (!node.def.memory.view && node.def.memory.inplace && first !== undefined) {
      capable++;
      const r = root[first]!;
      if (!tainted.has(r) && dies.get(r) === p && net.bytes[r] === net.bytes[p]) {
        alias[p] = first;
        root[p] = r;
        done++;
      }
    }
    const r = root[p]!;
    dies.set(r, Math.max(dies.get(r) ?? 0, net.lastRead[p]!));
    if (net.saved[p] || net.isOutput[p]) tainted.add(r);
  });
  return {
    alias,
    pinned: new Map(),
    group: net.order.map(() => 0),
    groups: [],
    kept: new Set(),
    notes: [`${done} of ${capable} in-place-capable ops reuse their input's buffer`],
  };
}

const naivePlan = (net: Net, notes: readonly string[] = []): Plan => ({
  alias: viewAliases(net),
  pinned: new Map(),
  group: net.order.map(() => 0),
  groups: [],
  kept: new Set(),
  notes,
});

/**
 * Gradient checkpointing (Chen et al. 2016): cut the order into about sqrt(n) segments, keep only
 * the tensors that cross a cut, and recompute each segment but the last before its backward. Each
 * cut sits where the fewest bytes cross within half a segment of its even spacing, so in a ResNet
 * it falls between blocks, where one tensor crosses.
 */
function checkpointPlan(net: Net, segments: number | undefined): Plan {
  const alias = viewAliases(net);
  const root = roots(alias);
  const n = net.order.length - 1;
  const dies = new Map<number, number>();
  net.order.forEach((_, p) => {
    dies.set(root[p]!, Math.max(dies.get(root[p]!) ?? 0, net.lastRead[p]!));
  });
  const delta = new Array<number>(n + 2).fill(0);
  for (const [r, end] of dies) {
    delta[r]! += net.bytes[r]!;
    delta[Math.min(end, n + 1)]! -= net.bytes[r]!;
  }
  const crossing: number[] = [];
  delta.reduce((live, d, p) => {
    crossing[p] = live + d;
    return live + d;
  }, 0);
  const count = Math.max(1, Math.min(n, segments ?? Math.round(Math.sqrt(n))));
  const half = Math.floor(n / (2 * count));
  const cuts = [0];
  for (let j = 1; j < count; j++) {
    const target = Math.round((j * n) / count);
    let best = -1;
    for (let p = Math.max(cuts.at(-1)! + 1, target - half); p <= Math.min(n - 1, target + half); p++) {
      const better =
        best < 0 ||
        crossing[p]! < crossing[best]! ||
        (crossing[p] === crossing[best] && Math.abs(p - target) < Math.abs(best - target));
      if (better) best = p;
    }
    if (best > 0) cuts.push(best);
  }
  const crossed = new Set<number>();
  for (const cut of cuts) for (const [r, end] of dies) if (r <= cut && end > cut) crossed.add(r);
  const group = net.order.map(() => 0);
  const groups = cuts.slice(1).map((cut, j) => {
    const members: number[] = [];
    for (let p = cuts[j]! + 1; p <= cut; p++) {
      group[p] = j + 1;
      members.push(p);
    }
    return members;
  });
  return {
    alias,
    pinned: new Map(),
    group,
    groups,
    kept: new Set(net.order.map((_, p) => p).filter((p) => crossed.has(root[p]!))),
    notes: [`${cuts.length} segments; ${groups.length} recomputed in backward, the last kept as in naive`],
  };
}

/**
 * DenseNet's memory-efficient implementation (Pleiss et al. 2017): in every chain concat -> BN ->
 * ReLU -> conv (a dense layer's bottleneck, and a transition), the concatenation goes to one
 * buffer shared by the whole network and the BN and ReLU outputs to a second; none of the three is
 * kept for backward, each is recomputed just before its chain's backward. Only the layers' own new
 * feature maps stay, so memory grows linearly with depth instead of quadratically.
 */
function sharedPlan(net: Net): Plan {
  const alias = viewAliases(net);
  const pinned = new Map<number, string>();
  const group = net.order.map(() => 0);
  const groups: number[][] = [];
  const readers = net.order.map(() => [] as number[]);
  net.inputs.forEach((ins, p) => {
    for (const i of ins) readers[i]!.push(p);
  });
  const only = (p: number, kind: string): number | undefined => {
    const next = readers[p]!;
    return next.length === 1 && !net.isOutput[p] && net.order[next[0]!]!.node.op === kind
      ? next[0]
      : undefined;
  };
  // The buffers hold one chain at a time: a chain must start after the previous one's conv read them.
  let busyUntil = -1;
  net.order.forEach((node, c) => {
    if (node.node.op !== Concat.kind || c <= busyUntil) return;
    const bn = only(c, BatchNorm2d.kind);
    const act = bn === undefined ? undefined : only(bn, Relu.kind);
    const conv = act === undefined ? undefined : only(act, Conv2d.kind);
    if (conv === undefined) return;
    busyUntil = conv;
    groups.push([c, bn!, act!]);
    for (const p of [c, bn!, act!]) group[p] = groups.length;
    pinned.set(c, 'shared concat');
    pinned.set(bn!, 'shared norm');
    pinned.set(act!, 'shared norm');
  });
  return {
    alias,
    pinned,
    group,
    groups,
    kept: new Set(),
    notes: [
      groups.length
        ? `${groups.length} concat -> BN -> ReLU -> conv chains share two buffers and are recomputed in backward`
        : 'no concat -> BN -> ReLU -> conv chain in this network: the same as naive',
    ],
  };
}

function planFor(net: Net, mode: Mode, strategy: Strategy, segments: number | undefined): Plan {
  if (strategy === 'inplace') return inplacePlan(net);
  if (mode === 'infer' && strategy !== 'naive') {
    return naivePlan(net, [`${strategy} changes only what training keeps; inference is naive liveness`]);
  }
  if (strategy === 'checkpoint') return checkpointPlan(net, segments);
  if (strategy === 'shared') return sharedPlan(net);
  return naivePlan(net);
}

type Kind = 'activation' | 'extra' | 'gradient' | 'pinned';

interface Span {
  first: number;
  last: number;
  bytes: number;
  readonly kind: Kind;
  /** The last backward or recompute step that reads it; -1 if none does. */
  lastRead: number;
}

/** The steps of a schedule and, for every buffer, the first and last step that touches it. */
class Schedule {
  readonly steps: { phase: Phase; position: number }[] = [];
  readonly spans = new Map<string, Span>();
  /** The forward pass's last step, once it is scheduled. */
  forwardEnd = Number.POSITIVE_INFINITY;

  step(phase: Phase, position: number): number {
    this.steps.push({ phase, position });
    return this.steps.length - 1;
  }

  use(key: string, step: number, bytes: number, kind: Kind): void {
    this.hold(key, step, bytes, kind);
    if (step > this.forwardEnd) this.spans.get(key)!.lastRead = step;
  }

  /** Keep a buffer alive at `step` without reading it (the caller's input batch, shared buffers). */
  hold(key: string, step: number, bytes: number, kind: Kind): void {
    const span = this.spans.get(key);
    if (!span) {
      this.spans.set(key, { first: step, last: step, bytes, kind, lastRead: -1 });
      return;
    }
    span.first = Math.min(span.first, step);
    span.last = Math.max(span.last, step);
    span.bytes = Math.max(span.bytes, bytes);
  }

  /** Bytes alive at each step. */
  live(): number[] {
    const delta = new Array<number>(this.steps.length + 1).fill(0);
    for (const s of this.spans.values()) {
      delta[s.first]! += s.bytes;
      delta[s.last + 1]! -= s.bytes;
    }
    const live: number[] = [];
    delta.slice(0, -1).reduce((sum, d, i) => {
      live[i] = sum + d;
      return sum + d;
    }, 0);
    return live;
  }
}

/**
 * Which recomputed groups run again before each backward step: a group runs just before the first
 * backward step (in backward order) that reads what it makes.
 */
function recomputeTriggers(net: Net, plan: Plan, savedVersion: (t: number) => number): Map<number, number[]> {
  const trigger = new Map<number, number[]>();
  const triggered = new Set<number>();
  for (let p = net.order.length - 1; p > 0; p--) {
    if (!net.grad[p]) continue;
    const s = net.saves[p]!;
    const versions = [...s.inputs.map(savedVersion), ...(s.output ? [savedVersion(p)] : [])];
    if (s.extras.length) versions.push(plan.group[p]!);
    for (const v of versions) {
      if (v === 0 || triggered.has(v)) continue;
      triggered.add(v);
      trigger.set(p, [...(trigger.get(p) ?? []), v]);
    }
  }
  return trigger;
}

/** Run the strategy's schedule: forward, then (training) backward with recomputation where planned. */
function simulate(
  net: Net,
  plan: Plan,
  mode: Mode,
): { schedule: Schedule; forwardEnd: number; extraFlops: number } {
  const schedule = new Schedule();
  const version0 = new Map<number, string>();
  // A tensor read by recomputed group g comes from that recomputation when g made it, else from forward.
  const readVersion = (v: number, t: number) => (v !== 0 && plan.group[t] === v ? v : 0);
  const key = (p: number, v: number): string => {
    const shared = plan.pinned.get(p);
    if (shared) return shared;
    if (v === 0 && version0.has(p)) return version0.get(p)!;
    const a = plan.alias[p]!;
    const k = a < 0 ? `${p}@${v}` : key(a, readVersion(v, a));
    if (v === 0) version0.set(p, k);
    return k;
  };
  const touch = (p: number, v: number, step: number) =>
    schedule.use(key(p, v), step, net.bytes[p]!, plan.pinned.has(p) ? 'pinned' : 'activation');
  const extras = (p: number, v: number, step: number) =>
    net.saves[p]!.extras.forEach((bytes, k) => {
      schedule.use(`extra ${p}@${v}#${k}`, step, bytes, 'extra');
    });
  const run = (phase: Phase, p: number, v: number) => {
    const step = schedule.step(phase, p);
    touch(p, v, step);
    for (const i of net.inputs[p]!) touch(i, readVersion(v, i), step);
    extras(p, v, step);
    return step;
  };

  net.order.forEach((_, p) => {
    run('forward', p, 0);
  });
  const forwardEnd = schedule.steps.length - 1;
  schedule.forwardEnd = forwardEnd;
  net.order.forEach((_, p) => {
    if (net.isOutput[p]) touch(p, 0, forwardEnd);
  });

  let extraFlops = 0;
  if (mode === 'train') {
    const savedVersion = (t: number) => (plan.kept.has(t) ? 0 : plan.group[t]!);
    const trigger = recomputeTriggers(net, plan, savedVersion);
    for (let p = net.order.length - 1; p > 0; p--) {
      if (!net.grad[p]) continue;
      for (const g of trigger.get(p) ?? []) {
        for (const q of plan.groups[g - 1]!) {
          run('recompute', q, g);
          extraFlops += net.order[q]!.flops;
        }
      }
      const step = schedule.step('backward', p);
      schedule.use(`grad ${p}`, step, net.bytes[p]!, 'gradient');
      if (net.paramBytes[p]) schedule.use(`weight grad ${p}`, step, net.paramBytes[p]!, 'gradient');
      for (const i of net.inputs[p]!)
        if (net.grad[i]) schedule.use(`grad ${i}`, step, net.bytes[i]!, 'gradient');
      const s = net.saves[p]!;
      for (const i of s.inputs) touch(i, savedVersion(i), step);
      if (s.output) touch(p, savedVersion(p), step);
      extras(p, plan.group[p]!, step);
    }
  }
  const last = schedule.steps.length - 1;
  // The caller holds the input batch for the whole step.
  schedule.hold(key(0, 0), last, net.bytes[0]!, 'activation');
  for (const name of new Set(plan.pinned.values())) {
    schedule.hold(name, 0, 0, 'pinned');
    schedule.hold(name, last, 0, 'pinned');
  }
  return { schedule, forwardEnd, extraFlops };
}

/** Memory of a resolved graph (its batch is the resolved one) under a mode and strategy. */
export function analyseMemory(r: ResolvedGraph, options: MemoryOptions = {}): MemoryReport {
  const mode = options.mode ?? 'infer';
  const strategy = options.strategy ?? 'naive';
  const optimizer = options.optimizer ?? 'sgd';
  const net = netOf(r, mode);
  const plan = planFor(net, mode, strategy, options.segments);
  const { schedule, forwardEnd, extraFlops } = simulate(net, plan, mode);

  let params = 0;
  let buffers = 0;
  for (const node of net.order) {
    for (const t of node.params) {
      const size = numel(t.shape) * DTYPE_BYTES[t.dtype];
      if (t.role === 'param') params += size;
      else buffers += size;
    }
  }
  const train = mode === 'train';
  const grads = train ? params : 0;
  const optimizerBytes = train ? params * OPTIMIZER_BUFFERS[optimizer] : 0;
  const resident = params + buffers + grads + optimizerBytes;

  const live = schedule.live();
  const timeline = schedule.steps.map(({ phase, position }, step) => ({
    step,
    node: net.order[position]!.node.name,
    phase,
    liveBytes: resident + live[step]!,
  }));
  const peakAt = timeline.reduce((best, t) => (t.liveBytes > best.liveBytes ? t : best), timeline[0]!);

  let savedForBackward = 0;
  const savedByOp: Record<string, number> = {};
  for (const s of schedule.spans.values()) {
    if ((s.kind !== 'activation' && s.kind !== 'extra') || s.first > forwardEnd || s.lastRead < 0) continue;
    savedForBackward += s.bytes;
    const releasedBy = schedule.steps[s.lastRead]!;
    const op = releasedBy.phase === 'recompute' ? 'recompute' : net.order[releasedBy.position]!.node.op;
    savedByOp[op] = (savedByOp[op] ?? 0) + s.bytes;
  }
  const activationsTotal = net.order
    .slice(1)
    .reduce((sum, node, p) => sum + (node.def.memory.view ? 0 : net.bytes[p + 1]!), 0);

  return {
    model: r.graph.name,
    batch: r.batch,
    mode,
    strategy,
    optimizer,
    bytes: {
      params,
      buffers,
      grads,
      optimizer: optimizerBytes,
      activationsTotal,
      savedForBackward,
      peak: peakAt.liveBytes,
    },
    extraFlops,
    peakAt: { step: peakAt.step, node: peakAt.node, phase: peakAt.phase },
    savedByOp: Object.fromEntries(Object.entries(savedByOp).sort((a, b) => b[1] - a[1])),
    recomputeGroups: plan.groups.map((g) => ({
      first: net.order[g[0]!]!.node.name,
      last: net.order[g.at(-1)!]!.node.name,
      nodes: g.length,
    })),
    notes: plan.notes,
    timeline,
  };
}

export const analyseGraphMemory = (g: Graph, batch = 1, options: MemoryOptions = {}): MemoryReport =>
  analyseMemory(resolveGraph(g, { batch }), options);
