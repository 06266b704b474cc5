import type { Shape } from '../ir/shape.js';
import type { ArgList, Binding, Md, Memory, Pd, Primitive } from './binding.js';

/**
 * A planned program of oneDNN primitives and host steps over buffers placed once.
 *
 * The executor (executor.ts) and the per-op tables (ops/) append steps that read and write
 * tensors; a tensor is a memory descriptor over a buffer. `compile` then places every arena buffer
 * by liveness (a buffer lives from the first step that touches it to the last; two buffers share
 * bytes only when their lives do not overlap), allocates the arena once, creates every primitive
 * and memory object once, and returns a program that runs a whole step with no allocation.
 */

/** Bytes, with the place where they live: the planned arena, or a fixed array (state, the batch, constants). */
export interface Buffer {
  readonly id: number;
  readonly bytes: number;
  readonly label: string;
  readonly fixed?: { readonly data: ArrayBufferView; readonly byteOffset: number };
}

/** A memory descriptor over a buffer; `shape` is the logical NCHW shape. */
export interface Tensor {
  readonly buffer: Buffer;
  readonly md: Md;
  readonly shape: Shape;
}

/** Arrays a host step reads and writes, as Float32Array views of the placed buffers. */
export type HostViews = (t: Tensor) => Float32Array;

type Step =
  | {
      readonly kind: 'primitive';
      readonly pd: Pd;
      readonly args: readonly (readonly [number, Tensor])[];
      readonly label: string;
    }
  | {
      readonly kind: 'host';
      readonly touches: readonly Tensor[];
      readonly label: string;
      readonly run: (views: HostViews) => () => void;
    };

/** Bytes of the arena, and of buffers placed by liveness versus the sum of their sizes. */
export interface ArenaPlan {
  readonly arenaBytes: number;
  /** What the arena would need if no two buffers shared bytes. */
  readonly unsharedBytes: number;
  readonly buffers: number;
  readonly primitives: number;
}

const ALIGN = 64;
const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

export class ProgramBuilder {
  private readonly buffers: Buffer[] = [];
  private readonly steps: Step[] = [];

  constructor(readonly b: Binding) {}

  /** A new tensor in the planned arena, of descriptor `md`. */
  tensor(md: Md, shape: Shape, label: string): Tensor {
    return { buffer: this.buffer(this.b.mdBytes(md), label), md, shape };
  }

  /** A tensor over bytes the caller owns (state, the batch, a constant), never placed in the arena. */
  fixed(md: Md, shape: Shape, data: ArrayBufferView, byteOffset: number, label: string): Tensor {
    return { buffer: this.buffer(this.b.mdBytes(md), label, { data, byteOffset }), md, shape };
  }

  /** The same bytes as `t`, seen with another descriptor (a flatten, a reshape). */
  view(t: Tensor, md: Md, shape: Shape): Tensor {
    return { buffer: t.buffer, md, shape };
  }

  private buffer(bytes: number, label: string, fixed?: Buffer['fixed']): Buffer {
    const b: Buffer = { id: this.buffers.length, bytes, label, ...(fixed && { fixed }) };
    this.buffers.push(b);
    return b;
  }

  /** Append a primitive's execution; `args` pairs oneDNN argument ids with tensors. */
  primitive(pd: Pd, args: readonly (readonly [number, Tensor | undefined])[], label: string): void {
    const present = args.filter((a): a is readonly [number, Tensor] => a[1] !== undefined);
    this.steps.push({ kind: 'primitive', pd, args: present, label });
  }

  /**
   * Append a host step: `run` is called once at compile time with the views of the placed buffers
   * and returns what each step calls. `touches` are the tensors it reads or writes (for liveness).
   */
  host(label: string, touches: readonly Tensor[], run: (views: HostViews) => () => void): void {
    this.steps.push({ kind: 'host', touches, label, run });
  }

  /** `t` in descriptor `md`: `t` itself when it already is, else a reorder into a new tensor. */
  reorder(t: Tensor, md: Md, label: string): Tensor {
    if (this.b.mdEqual(t.md, md)) return t;
    const out = this.tensor(md, t.shape, label);
    this.copy(t, out, label);
    return out;
  }

  /** Reorder `from` into `to` (another layout of the same logical tensor, or a window of it). */
  copy(from: Tensor, to: Tensor, label: string): void {
    const { ARG } = this.b;
    this.primitive(
      this.b.reorder(from.md, to.md),
      [
        [ARG.FROM, from],
        [ARG.TO, to],
      ],
      `${label}/reorder`,
    );
  }

  /** Place every buffer, allocate the arena and create primitives and memory objects. */
  compile(): Program {
    const lives = this.lives();
    const { offsets, size } = placeByLiveness(this.buffers, lives);
    const arena = this.b.hugeArena(Math.max(size, ALIGN));
    return new Program(this.b, this.steps, this.buffers, offsets, arena, {
      arenaBytes: size,
      unsharedBytes: this.buffers.filter((b) => !b.fixed).reduce((s, b) => s + align(b.bytes), 0),
      buffers: this.buffers.filter((b) => !b.fixed).length,
      primitives: this.steps.filter((s) => s.kind === 'primitive').length,
    });
  }

  /** First and last step touching each buffer. */
  private lives(): { first: number; last: number }[] {
    const lives = this.buffers.map(() => ({ first: Number.POSITIVE_INFINITY, last: -1 }));
    this.steps.forEach((s, i) => {
      const touched = s.kind === 'primitive' ? s.args.map((a) => a[1]) : s.touches;
      for (const t of touched) {
        const life = lives[t.buffer.id]!;
        life.first = Math.min(life.first, i);
        life.last = Math.max(life.last, i);
      }
    });
    return lives;
  }
}

/**
 * Offsets for the arena's buffers: largest first, each at the lowest offset clear of every placed
 * buffer whose life overlaps its own (first-fit by size, the usual static memory planner).
 */
function placeByLiveness(
  buffers: readonly Buffer[],
  lives: readonly { first: number; last: number }[],
): { offsets: number[]; size: number } {
  const offsets = buffers.map(() => -1);
  const placed: { start: number; end: number; first: number; last: number }[] = [];
  const order = buffers.filter((b) => !b.fixed && lives[b.id]!.last >= 0).sort((a, b) => b.bytes - a.bytes);
  let size = 0;
  for (const b of order) {
    const life = lives[b.id]!;
    const clashes = placed
      .filter((p) => p.first <= life.last && life.first <= p.last)
      .sort((x, y) => x.start - y.start);
    let offset = 0;
    const bytes = align(b.bytes);
    for (const c of clashes) {
      if (offset + bytes <= c.start) break;
      offset = Math.max(offset, c.end);
    }
    offsets[b.id] = offset;
    placed.push({ start: offset, end: offset + bytes, ...life });
    size = Math.max(size, offset + bytes);
  }
  return { offsets, size };
}

type Segment =
  | { readonly kind: 'primitives'; readonly from: number; readonly to: number }
  | { readonly kind: 'host'; readonly call: () => void; readonly label: string };

/** Milliseconds of one run of each step, by the step's label. */
export type StepTimes = readonly { readonly label: string; readonly ms: number }[];

/** A compiled program: run() executes every step in order. */
export class Program {
  private readonly prims: Primitive[] = [];
  private readonly labels: string[] = [];
  private readonly impls: string[] = [];
  private readonly argLists: ArgList[] = [];
  private readonly segments: Segment[] = [];
  private readonly memories = new Map<string, Memory>();

  constructor(
    private readonly b: Binding,
    steps: readonly Step[],
    buffers: readonly Buffer[],
    private readonly offsets: readonly number[],
    private readonly arena: ArrayBuffer,
    readonly plan: ArenaPlan,
  ) {
    const views: HostViews = (t) => {
      const { data, offset } = this.place(t.buffer);
      return new Float32Array(
        data instanceof ArrayBuffer ? data : data.buffer,
        data instanceof ArrayBuffer ? offset : data.byteOffset + offset,
        t.buffer.bytes / 4,
      );
    };
    void buffers;
    for (const s of steps) {
      if (s.kind === 'host') {
        this.segments.push({ kind: 'host', call: s.run(views), label: s.label });
        continue;
      }
      const last = this.segments[this.segments.length - 1];
      this.prims.push(b.primitive(s.pd));
      this.labels.push(s.label);
      this.impls.push(b.pdImpl(s.pd));
      this.argLists.push(
        b.args(
          s.args.map((a) => a[0]),
          s.args.map((a) => this.memoryOf(a[1])),
        ),
      );
      if (last?.kind === 'primitives') this.segments[this.segments.length - 1] = { ...last, to: last.to + 1 };
      else this.segments.push({ kind: 'primitives', from: this.prims.length - 1, to: this.prims.length });
    }
  }

  /** Where a buffer's bytes are: its fixed array, or its place in the arena. */
  private place(buffer: Buffer): { data: ArrayBuffer | ArrayBufferView; offset: number } {
    if (buffer.fixed) return { data: buffer.fixed.data, offset: buffer.fixed.byteOffset };
    return { data: this.arena, offset: this.offsets[buffer.id]! };
  }

  /** The one memory object of a tensor (a buffer seen through a descriptor), created on first use. */
  memoryOf(t: Tensor): Memory {
    const key = `${t.buffer.id}/${this.b.mdDescribe(t.md)}`;
    let m = this.memories.get(key);
    if (!m) {
      const { data, offset } = this.place(t.buffer);
      m = this.b.memory(t.md, data, offset);
      this.memories.set(key, m);
    }
    return m;
  }

  /** Point a fixed tensor's memory at other bytes (the next batch of images). */
  rebind(t: Tensor, data: ArrayBufferView): void {
    this.b.setData(this.memoryOf(t), data, 0);
  }

  run(): void {
    for (const s of this.segments) {
      if (s.kind === 'host') s.call();
      else this.b.run(this.prims, this.argLists, s.from, s.to);
    }
  }

  /** Each primitive's label and the implementation oneDNN picked for it ('jit:avx512_core', 'ref:any'). */
  implementations(): { label: string; impl: string }[] {
    return this.labels.map((label, i) => ({ label, impl: this.impls[i]! }));
  }

  /** run(), one step at a time, timing each (a profile: the calls between steps add a little). */
  profile(): StepTimes {
    const times: { label: string; ms: number }[] = [];
    const timed = (label: string, call: () => void) => {
      const start = performance.now();
      call();
      times.push({ label, ms: performance.now() - start });
    };
    for (const s of this.segments) {
      if (s.kind === 'host') timed(s.label, s.call);
      else
        for (let i = s.from; i < s.to; i++)
          timed(this.labels[i]!, () => this.b.run(this.prims, this.argLists, i, i + 1));
    }
    return times;
  }
}
