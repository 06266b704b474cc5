import { backwardSweep, type Seed } from '../autodiff/backward.js';
import { ConvlabError } from '../ir/errors.js';
import type { Graph } from '../ir/graph.js';
import type { WeightData } from '../ir/init.js';
import { type ResolvedGraph, type ResolvedNode, resolveGraph } from '../ir/resolve.js';
import { numel, type Shape } from '../ir/shape.js';
import { type Binding, binding } from './binding.js';
import { crossEntropy, type Head } from './loss.js';
import { NativeProbes } from './probes.js';
import { type Program, ProgramBuilder, type Tensor } from './program.js';
import { type Forward, type NativeContext, nativeOp } from './registry.js';
import { StateArrays } from './state.js';
import type { StepOptions } from './step_options.js';
import './ops/index.js';

/** A model the native backend cannot run, naming the op (or option) it lacks. */
export class NativeDeclined extends ConvlabError {
  constructor(readonly what: string) {
    super(`the native oneDNN backend lacks ${what}; use --backend onnxruntime`);
    this.name = 'NativeDeclined';
  }
}

/** Why the native backend cannot plan this step, or undefined when it can. */
export function declineReason(r: ResolvedGraph): string | undefined {
  for (const n of r.nodes.slice(1)) {
    const op = nativeOp(n.node.op);
    if (!op) return `op '${n.node.op}' (node '${n.node.name}')`;
    const why = op.decline?.(n);
    if (why) return `${why} (node '${n.node.name}', ${n.node.op})`;
  }
  return undefined;
}

export interface StepOutcome {
  readonly loss: number;
  readonly correct: number;
}

/**
 * One training step planned on oneDNN: the train-mode forward, the loss of every head, the
 * backward sweep (the same reverse-mode order as autodiff/backward.ts, each node's native backward
 * from ops/) and the optimiser's update, as one program with every primitive and buffer created
 * once. Gradients keep the layout of the tensor they belong to (a node's dY has the descriptor of
 * its output), so layout changes happen only where an op's primitive asks for another.
 */
export class NativeStep {
  readonly state: StateArrays;
  private readonly program: Program;
  private readonly images: Tensor;
  private boundImages: Float32Array | undefined;
  private labels: Int32Array = new Int32Array(0);
  private lr = 0;
  private stepNumber = 1;
  private outcome: StepOutcome = { loss: 0, correct: 0 };
  private readonly clock: { step: number; seed: number };
  private readonly resolved: ResolvedGraph;
  private readonly probes: NativeProbes;

  constructor(
    graph: Graph,
    readonly options: StepOptions,
    threads: number,
  ) {
    const r = resolveGraph(graph, { batch: options.batch });
    const why = declineReason(r);
    if (why) throw new NativeDeclined(why);
    this.resolved = r;
    this.probes = new NativeProbes(r, options.probes);
    this.clock = { step: 1, seed: options.seed ?? 0 };
    const b = binding();
    b.setThreads(threads);
    this.state = new StateArrays(r, options);
    const p = new ProgramBuilder(b);
    const input = r.nodes[0]!.ctx.output;
    this.images = p.fixed(b.md(input, 'f32', 'nchw'), input, new Float32Array(numel(input)), 0, 'images');
    const planner = new Planner(r, b, p, this.state, this.clock, this.probes);
    const outputs = planner.forward(this.images);
    const seeds = this.loss(r, b, p, outputs);
    planner.backward(seeds);
    this.probes.gradNorms(p, this.state);
    this.update(p);
    this.program = p.compile();
  }

  get plan() {
    return this.program.plan;
  }

  /** The latest step's probe values by name (empty unless planned with probes). */
  get probeValues(): ReadonlyMap<string, number> {
    return this.probes.values;
  }

  /** Every parameter and buffer from its initialiser with `seed`. */
  initialise(seed: number): void {
    this.state.initialise(this.resolved, seed);
  }

  /** The loss of every head on the host, from logits to d(loss)/d(logits): the seeds of the sweep. */
  private loss(r: ResolvedGraph, b: Binding, p: ProgramBuilder, outputs: readonly Tensor[]): Seed<Tensor>[] {
    const o = this.options;
    const heads = r.outputs.map((out) => {
      const n = r.byName.get(out.node)!;
      const shape = n.ctx.output;
      const logits = p.reorder(outputs[n.index]!, b.md(shape, 'f32', 'nc'), `${out.node}/logits`);
      const dLogits = p.tensor(b.md(shape, 'f32', 'nc'), shape, `${out.node}/dlogits`);
      const weight = out.role === 'aux' ? (o.auxWeight ?? out.lossWeight) : out.lossWeight;
      return { n, logits, dLogits, weight, main: out.role === 'main' };
    });
    const classes = heads.find((h) => h.main)!.n.ctx.output[1]!;
    const touched = heads.flatMap((h) => [h.logits, h.dLogits]);
    p.host('loss', touched, (view) => {
      const arrays: Head[] = heads.map((h) => ({
        logits: view(h.logits),
        dLogits: view(h.dLogits),
        weight: h.weight,
        main: h.main,
      }));
      const names = heads.map((h) => h.n.node.name);
      return () => {
        const { loss, correct, headLosses } = crossEntropy(
          arrays,
          this.labels,
          classes,
          o.labelSmoothing ?? 0,
        );
        this.outcome = { loss, correct };
        this.probes.headLosses(names, headLosses);
      };
    });
    return heads.map((h) => ({ node: h.n.index, grad: h.dLogits }));
  }

  /** The optimiser over every parameter at once (they share one layout with their gradients). */
  private update(p: ProgramBuilder): void {
    const { params, grads, slots } = this.state;
    const o = this.options.optimizer;
    const b = p.b;
    p.host('update', [], () =>
      o.kind === 'sgd'
        ? () =>
            b.sgd(
              params,
              grads,
              slots[0] ?? null,
              params.length,
              this.lr,
              o.momentum,
              o.weightDecay,
              o.nesterov,
            )
        : () =>
            b.adamw(
              params,
              grads,
              slots[0]!,
              slots[1]!,
              params.length,
              this.lr,
              o.beta1,
              o.beta2,
              o.eps,
              o.weightDecay,
              this.stepNumber,
            ),
    );
  }

  /** Each primitive's label and the implementation oneDNN picked for it. */
  implementations(): { label: string; impl: string }[] {
    return this.program.implementations();
  }

  /** One step on a full batch of normalised NCHW images. */
  run(images: Float32Array, labels: Int32Array, lr: number, step: number): StepOutcome {
    this.prepare(images, labels, lr, step);
    this.program.run();
    return this.outcome;
  }

  /**
   * One step as run() takes it, timed step by step: milliseconds by the op of the node each
   * primitive belongs to ('conv2d', 'batchnorm2d', ...), the loss and the update by name.
   */
  profile(images: Float32Array, labels: Int32Array, lr: number, step: number): Map<string, number> {
    this.prepare(images, labels, lr, step);
    const byOp = new Map<string, number>();
    for (const { label, ms } of this.program.profile()) {
      const op = this.opOf(label);
      byOp.set(op, (byOp.get(op) ?? 0) + ms);
    }
    return byOp;
  }

  /** The op of the node a step's label starts with (`layer1.0.conv1/weight/reorder`: conv2d), or the label. */
  private opOf(label: string): string {
    // Node names may hold slashes themselves (ONNX imports'), so try each prefix, longest first.
    for (let end = label.lastIndexOf('/'); end > 0; end = label.lastIndexOf('/', end - 1)) {
      const node = this.resolved.byName.get(label.slice(0, end));
      if (node) return node.node.op;
    }
    return label;
  }

  private prepare(images: Float32Array, labels: Int32Array, lr: number, step: number): void {
    if (labels.length !== this.options.batch)
      throw new ConvlabError(`a native step takes batches of ${this.options.batch}, got ${labels.length}`);
    if (images !== this.boundImages) {
      this.program.rebind(this.images, images);
      this.boundImages = images;
    }
    this.labels = labels;
    this.lr = lr;
    this.stepNumber = step;
    this.clock.step = step;
  }
}

/** Walks the graph forward then backward, asking each node's native entry for its steps. */
class Planner {
  private readonly outputs: Tensor[] = [];
  private readonly forwards: (Forward & { inputs: readonly Tensor[] })[] = [];
  /** Consumers fused into their producer (index -> producer index). */
  private readonly absorbed = new Map<number, number>();
  private readonly contexts: NativeContext[] = [];
  private readonly gradsWritten = new Set<string>();

  constructor(
    private readonly r: ResolvedGraph,
    private readonly b: Binding,
    private readonly p: ProgramBuilder,
    private readonly state: StateArrays,
    private readonly clock: NativeContext['clock'],
    private readonly probes: NativeProbes,
  ) {}

  forward(images: Tensor): readonly Tensor[] {
    const headNodes = new Set(this.r.outputs.map((o) => o.node));
    this.outputs[0] = images;
    for (const n of this.r.nodes.slice(1)) {
      const producer = this.absorbed.get(n.index);
      if (producer !== undefined) {
        this.outputs[n.index] = this.outputs[producer]!;
        this.probes.activation(this.p, n, this.outputs[n.index]!);
        continue;
      }
      const op = nativeOp(n.node.op)!;
      const next = n.consumers.length === 1 ? this.r.nodes[n.consumers[0]!]! : undefined;
      const fuse =
        next &&
        !headNodes.has(n.node.name) &&
        !this.probes.probed(n) &&
        next.inputs.length === 1 &&
        op.absorbs?.(n, next)
          ? next
          : undefined;
      if (fuse) this.absorbed.set(fuse.index, n.index);
      const inputs = n.inputs.map((i) => this.outputs[i]!);
      const c = this.context(n);
      const f = op.forward(c, inputs, fuse);
      this.forwards[n.index] = { ...f, inputs };
      this.outputs[n.index] = f.output;
      this.probes.activation(this.p, n, f.output);
    }
    return this.outputs;
  }

  backward(seeds: readonly Seed<Tensor>[]): void {
    const { p, b } = this;
    backwardSweep<Tensor>(this.r, seeds, {
      // Gradients meeting at a node add up pairwise with the binary primitive (oneDNN's sum
      // primitive is several times slower on blocked tensors here).
      sum: (n, parts) => {
        const { md, shape } = this.outputs[n.index]!;
        const label = `${n.node.name}/dsum`;
        return parts
          .map((t) => p.reorder(t, md, label))
          .reduce((total, part) => {
            const out = p.tensor(md, shape, label);
            const args = [
              [b.ARG.SRC, total],
              [b.ARG.SRC_1, part],
              [b.ARG.DST, out],
            ] as const;
            p.primitive(b.binary('binary_add', md, md, md), args, label);
            return out;
          });
      },
      backward: (n, dyIn) => {
        if (this.absorbed.has(n.index)) {
          this.probes.gradient(p, n, dyIn);
          return { inputs: [dyIn] };
        }
        const output = this.outputs[n.index]!;
        const dy = p.reorder(dyIn, output.md, `${n.node.name}/dy`);
        this.probes.gradient(p, n, dy);
        const f = this.forwards[n.index]!;
        const wanted = n.inputs.map((i) => i !== 0);
        const grads = nativeOp(n.node.op)!.backward(this.contexts[n.index]!, f, dy, wanted);
        return {
          inputs: grads.map((g, i) =>
            g && wanted[i] ? p.reorder(g, f.inputs[i]!.md, `${n.node.name}/dx${i}`) : undefined,
          ),
        };
      },
    });
    const missing = this.state.entries.filter((e) => e.kind === 'param' && !this.gradsWritten.has(e.name));
    if (missing.length)
      throw new ConvlabError(
        `no gradient reaches parameter '${missing[0]!.name}'; is its node on a path to a loss?`,
      );
  }

  private context(n: ResolvedNode): NativeContext {
    const { b, p, state } = this;
    const full = (local: string) => `${n.node.name}.${local}`;
    const fixed = (
      data: WeightData,
      local: string,
      md: ReturnType<Binding['md']> | undefined,
      shape: Shape,
    ) => p.fixed(md ?? b.md([data.length], 'f32', 'x'), shape, data, 0, full(local));
    const shapeOf = (local: string) => n.params.find((s) => s.name === local)!.shape;
    const c: NativeContext = {
      node: n,
      b,
      p,
      param: (local, md) => fixed(state.view(full(local)), local, md, shapeOf(local)),
      state: (local) => state.view(full(local)),
      grad: (local, md) => {
        this.gradsWritten.add(full(local));
        return fixed(state.grad(full(local)), `${local}.grad`, md, shapeOf(local));
      },
      zeros: (md, shape) =>
        p.fixed(md, shape, new Float32Array(b.mdBytes(md) / 4), 0, `${n.node.name}/zeros`),
      clock: this.clock,
      label: (what) => `${n.node.name}/${what}`,
    };
    this.contexts[n.index] = c;
    return c;
  }
}
