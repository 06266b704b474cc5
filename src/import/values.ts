import type { Tensor } from '../ir/builder.js';
import { ConvlabError } from '../ir/errors.js';
import type { TensorRef } from './proto.js';
import type { ExternalFiles } from './source.js';
import { isFloatType, readValues } from './tensor.js';

/*
 * What an ONNX tensor name stands for while a file is imported: a tensor the IR computes (`Tensor`,
 * made by the builder), or a value known at import time (`Const`): an initializer, a Constant, or
 * something folded from them (the Shape/Gather/Unsqueeze/Concat chains the tracer records).
 */

/**
 * The batch inside folded shape arithmetic: Shape(x) gives [BATCH, C, H, W], so a Reshape target
 * that starts with it keeps the batch symbolic. A large odd number no real dimension takes; folding
 * that mixes it into other arithmetic is caught where a shape is used (reshapeTarget).
 */
export const BATCH = 1_000_000_007;

export class Const {
  private cached: Float32Array | Float64Array | undefined;

  constructor(
    readonly dims: readonly number[],
    /** Whether the values are floating point (weights) rather than integers (shapes, axes). */
    readonly float: boolean,
    private readonly source:
      | { readonly ref: TensorRef; readonly external: ExternalFiles }
      | { readonly values: Float32Array | Float64Array }
      /** Computed from another constant when first read (a weight's transpose). */
      | { readonly derive: () => Float32Array | Float64Array },
    /** The tensor name the file gives it (an initializer's), used to name parameters. */
    readonly name?: string,
    /** A graph initializer (a parameter when a computation uses it) rather than a Constant or a folded value. */
    readonly initializer = false,
  ) {}

  static ofRef(ref: TensorRef, external: ExternalFiles, name = ref.name, initializer = false): Const {
    return new Const(ref.dims, isFloatType(ref.dataType), { ref, external }, name, initializer);
  }

  static of(values: ArrayLike<number>, dims: readonly number[], float: boolean): Const {
    return new Const(dims, float, { values: float ? Float32Array.from(values) : Float64Array.from(values) });
  }

  /** The transpose of a 2-D constant, computed only when read; it keeps the name (a weight's). */
  transposed(): Const {
    const [rows, cols] = this.dims as [number, number];
    const derive = () => {
      const v = this.values();
      const out = new Float32Array(rows * cols);
      for (let r = 0; r < rows; r++) for (let k = 0; k < cols; k++) out[k * rows + r] = v[r * cols + k]!;
      return out;
    };
    return new Const([cols, rows], this.float, { derive }, this.name, this.initializer);
  }

  /** The same values under another name (Identity). */
  renamed(name: string): Const {
    return new Const(this.dims, this.float, this.source, name, this.initializer);
  }

  get size(): number {
    return this.dims.reduce((a, b) => a * b, 1);
  }

  /** The values, read from the file on first use; small tensors stay cached. */
  values(): Float32Array | Float64Array {
    if (this.cached) return this.cached;
    if ('values' in this.source) return this.source.values;
    const v =
      'derive' in this.source ? this.source.derive() : readValues(this.source.ref, this.source.external);
    if (v.length <= 4096) this.cached = v;
    return v;
  }

  /** The values as float32 parameter data (a fresh array the caller may keep). */
  float32(): Float32Array {
    const v = this.values();
    return v instanceof Float32Array && !('values' in this.source) ? v : Float32Array.from(v);
  }

  /** Small integer values (axes, shapes), checked to be integers. */
  ints(what: string): number[] {
    if (this.size > 1 << 16) throw new ConvlabError(`${what} has ${this.size} values; expected a short list`);
    const out = Array.from(this.values());
    if (!out.every(Number.isFinite)) throw new ConvlabError(`${what} holds a non-finite value`);
    return out.map((v) => Math.trunc(v));
  }

  /** The one value of a scalar (or one-element) constant. */
  scalar(what: string): number {
    if (this.size !== 1)
      throw new ConvlabError(`${what} must be a single value, got dims [${this.dims.join(',')}]`);
    return this.values()[0]!;
  }
}

export type Value = Tensor | Const;

export const isConst = (v: Value): v is Const => v instanceof Const;
