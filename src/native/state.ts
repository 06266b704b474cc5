import { stateSlots } from '../autodiff/optimizer.js';
import { ConvlabError } from '../ir/errors.js';
import { initTensor, Rng, type WeightData } from '../ir/init.js';
import type { ResolvedGraph } from '../ir/resolve.js';
import { numel, type Shape } from '../ir/shape.js';
import type { StepOptions } from './step_options.js';

/** One tensor of the state, by the names torch's state_dict and torch.optim give it. */
export interface StateTensor {
  readonly name: string;
  readonly shape: Shape;
  readonly kind: 'param' | 'buffer' | 'optimizer';
}

const ALIGN = 16; // floats: every parameter starts on a 64-byte boundary

/**
 * The state a native step carries, allocated once: every parameter in one plain (row-major, as
 * PyTorch stores it) float32 array, their gradients and each optimiser slot in arrays of the same
 * layout (so one call updates them all), and the buffers (BatchNorm's running statistics) by name.
 * Every tensor is also a named view, which is what checkpoints read and write.
 */
export class StateArrays {
  readonly params: Float32Array;
  readonly grads: Float32Array;
  readonly slots: readonly Float32Array[];
  readonly entries: StateTensor[] = [];
  private readonly views = new Map<string, WeightData>();
  /** Offset (in floats) of each parameter in `params` and `grads`. */
  private readonly offsets = new Map<string, number>();

  constructor(r: ResolvedGraph, o: StepOptions) {
    let size = 0;
    for (const n of r.nodes)
      for (const spec of n.params) {
        if (spec.role !== 'param') continue;
        this.offsets.set(`${n.node.name}.${spec.name}`, size);
        size += Math.ceil(numel(spec.shape) / ALIGN) * ALIGN;
      }
    this.params = new Float32Array(size);
    this.grads = new Float32Array(size);
    const slotNames = stateSlots(o.optimizer);
    this.slots = slotNames.map(() => new Float32Array(size));
    for (const n of r.nodes)
      for (const spec of n.params) {
        const name = `${n.node.name}.${spec.name}`;
        const count = numel(spec.shape);
        if (spec.role === 'buffer') {
          this.views.set(name, spec.dtype === 'int64' ? new BigInt64Array(count) : new Float32Array(count));
          this.entries.push({ name, shape: spec.shape, kind: 'buffer' });
          continue;
        }
        const at = this.offsets.get(name)!;
        this.views.set(name, this.params.subarray(at, at + count));
        this.entries.push({ name, shape: spec.shape, kind: 'param' });
        slotNames.forEach((slot, k) => {
          this.views.set(`${name}.${slot}`, this.slots[k]!.subarray(at, at + count));
          this.entries.push({ name: `${name}.${slot}`, shape: spec.shape, kind: 'optimizer' });
        });
      }
  }

  /** Every parameter and buffer from its initialiser with `seed` (as the onnxruntime backend draws them). */
  initialise(r: ResolvedGraph, seed: number): void {
    for (const n of r.nodes)
      for (const spec of n.params) {
        const name = `${n.node.name}.${spec.name}`;
        this.view(name).set(
          initTensor(spec, n.node.init?.[spec.name] ?? spec.init, new Rng(seed, name)) as never,
        );
      }
  }

  view(name: string): WeightData {
    const v = this.views.get(name);
    if (!v) throw new Error(`native state has no tensor '${name}'`);
    return v;
  }

  /** The parameter's gradient, a view of `grads`. */
  grad(name: string): Float32Array {
    const at = this.offsets.get(name);
    if (at === undefined) throw new Error(`native state has no parameter '${name}'`);
    return this.grads.subarray(at, at + (this.view(name) as Float32Array).length);
  }

  snapshot(): Map<string, WeightData> {
    return new Map(this.entries.map((e) => [e.name, this.views.get(e.name)!]));
  }

  restore(state: ReadonlyMap<string, WeightData>): void {
    const unknown = [...state.keys()].filter((name) => !this.views.has(name));
    if (unknown.length)
      throw new ConvlabError(
        `cannot restore ${unknown.join(', ')}: the model being trained has no such state`,
      );
    for (const [name, data] of state) {
      const view = this.views.get(name)!;
      if (data.length !== view.length) {
        const shape = this.entries.find((e) => e.name === name)!.shape;
        throw new ConvlabError(
          `checkpoint tensor '${name}' has ${data.length} values; the model needs [${shape.join(',')}]`,
        );
      }
      if (view instanceof BigInt64Array !== data instanceof BigInt64Array)
        throw new ConvlabError(`checkpoint tensor '${name}' has the wrong element type`);
      view.set(data as never);
    }
  }

  get bytes(): number {
    return [...this.views.values()].reduce((s, v) => s + v.byteLength, 0);
  }
}
