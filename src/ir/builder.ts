import { ConvlabError, GraphError } from './errors.js';
import { type Block, blocksWithNodes, type Graph, type GraphOutput, type Node } from './graph.js';
import type { Init, OpDef, TensorSpec } from './op.js';
import { inferNode } from './resolve.js';
import { AttrError, type AttrsIn, parseAttrs, type Schema } from './schema.js';
import type { Shape } from './shape.js';

/** A value in a graph being built: the output of one node, with its shape at batch 1. */
/**
 * A kind's init policy for one node, kept to the parameters the node has: like PyTorch's
 * `if m.bias is not None: ...`, a conv without bias takes the policy's weight entry only.
 */
function policyFor(
  policy: Readonly<Record<string, Init>> | undefined,
  params: readonly TensorSpec[],
): Readonly<Record<string, Init>> | undefined {
  if (!policy) return undefined;
  const kept = Object.entries(policy).filter(([name]) => params.some((p) => p.name === name));
  return kept.length ? Object.fromEntries(kept) : undefined;
}

export class Tensor {
  constructor(
    readonly builder: GraphBuilder,
    readonly name: string,
    readonly shape: Shape,
  ) {}
  get channels(): number {
    return this.shape[1]!;
  }
  get height(): number {
    return this.shape[2]!;
  }
  get width(): number {
    return this.shape[3]!;
  }
}

export interface ApplyOptions {
  /** Node name inside the current scope; defaults to the op kind, numbered if taken. */
  readonly name?: string;
  readonly init?: Readonly<Record<string, Init>>;
}

/**
 * The model DSL. Op helpers (`conv2d(x, {...})`) call `apply`; blocks open scopes so names come
 * out as torchvision's (`layer1.0.conv1`). Shapes are inferred as nodes are added, so a wrong
 * channel count fails at the line that made it, naming the node.
 */
export class GraphBuilder {
  private readonly nodes: Node[] = [];
  private readonly shapes = new Map<string, Shape>();
  private readonly outputs: GraphOutput[] = [];
  private readonly blocks: Block[] = [];
  private readonly prefix: string[] = [];
  private readonly initPolicy = new Map<string, Readonly<Record<string, Init>>>();
  /** Each node's parameters and buffers, as inferred when it was added. */
  private readonly specs = new Map<string, readonly TensorSpec[]>();

  constructor(
    readonly name: string,
    readonly family: string,
  ) {}

  input(shape: readonly [number, number, number], name = 'input'): Tensor {
    if (this.nodes.length) throw new Error('a graph has one input, added first');
    const full = [1, ...shape];
    if (full.some((d) => !Number.isInteger(d) || d < 1)) {
      throw new ConvlabError(`input shape must be positive integers C x H x W, got ${shape.join('x')}`);
    }
    this.nodes.push({ name, op: 'input', inputs: [], attrs: { shape: [...shape] } });
    this.shapes.set(name, full);
    return new Tensor(this, name, full);
  }

  /** The parameters and buffers of node `name` (as resolveGraph lists them), without resolving the graph again. */
  paramsOf(name: string): readonly TensorSpec[] {
    return this.specs.get(name) ?? [];
  }

  /** Qualified name for `local` in the current scope. */
  qualify(local: string): string {
    return [...this.prefix, local].join('.');
  }

  apply<S extends Schema>(
    def: OpDef<S>,
    inputs: readonly Tensor[],
    attrs: AttrsIn<S>,
    options: ApplyOptions = {},
  ): Tensor {
    const name = options.name !== undefined ? this.qualify(options.name) : this.freshName(def.kind);
    if (this.shapes.has(name))
      throw new GraphError(name, def.kind, [], 'the name is used by an earlier node');
    const inShapes = inputs.map((t) => t.shape);
    let parsed: Record<string, unknown>;
    try {
      parsed = parseAttrs(def.attrs, attrs, name);
    } catch (e) {
      if (e instanceof AttrError) throw new GraphError(name, def.kind, inShapes, e.message);
      throw e;
    }
    const { ctx, params } = inferNode(def as unknown as OpDef<Schema>, name, inShapes, parsed);
    const init = options.init ?? policyFor(this.initPolicy.get(def.kind), params);
    const node: Node = {
      name,
      op: def.kind,
      inputs: inputs.map((t) => t.name),
      attrs: parsed,
      ...(init ? { init } : {}),
    };
    this.nodes.push(node);
    this.shapes.set(name, ctx.output);
    this.specs.set(name, params);
    return new Tensor(this, name, ctx.output);
  }

  /**
   * Initialise every later node of op `kind` this way unless a node says otherwise: torchvision's
   * `for m in self.modules(): if isinstance(m, nn.Conv2d): ...` loop, declared up front.
   */
  initialise(kind: string, init: Readonly<Record<string, Init>>): this {
    this.initPolicy.set(kind, init);
    return this;
  }

  /** Run `body` inside a named scope; records it as a block of `type` for folding and the lab. */
  scope<T>(local: string, type: string, body: () => T): T {
    this.prefix.push(local);
    this.blocks.push({ name: this.prefix.join('.'), type });
    try {
      return body();
    } finally {
      this.prefix.pop();
    }
  }

  output(t: Tensor, role: GraphOutput['role'] = 'main', lossWeight = role === 'main' ? 1 : 0.3): void {
    this.outputs.push({ node: t.name, role, lossWeight });
  }

  build(): Graph {
    if (!this.outputs.some((o) => o.role === 'main'))
      throw new Error(`graph '${this.name}' has no main output`);
    const blocks = blocksWithNodes(this.blocks, this.nodes);
    return {
      name: this.name,
      family: this.family,
      nodes: [...this.nodes],
      outputs: [...this.outputs],
      blocks,
    };
  }

  private freshName(kind: string): string {
    const base = this.qualify(kind);
    if (!this.shapes.has(base)) return base;
    for (let i = 1; ; i++) if (!this.shapes.has(`${base}_${i}`)) return `${base}_${i}`;
  }
}
