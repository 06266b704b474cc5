import { ConvlabError } from '../ir/errors.js';

/**
 * The data pipeline's random numbers: xoshiro128** (Blackman and Vigna, 2018), 128 bits of state
 * held as four uint32s. The whole state is `state()`, four plain numbers a checkpoint stores as JSON;
 * `Rng.restore(state)` continues the exact sequence, so a resumed run shuffles and augments as an
 * uninterrupted one would.
 */

export type RngState = readonly [number, number, number, number];

const rotl = (x: number, k: number): number => (x << k) | (x >>> (32 - k));

/** splitmix32 over the seed's two 32-bit halves: nearby seeds give unrelated states. */
function seedState(seed: number): [number, number, number, number] {
  let s = (seed >>> 0) ^ Math.imul(Math.floor(seed / 2 ** 32) >>> 0, 0x27d4eb2d);
  const next = () => {
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  return [next(), next(), next(), next() | 1]; // the all-zero state is the one xoshiro never leaves
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** A generator seeded by a safe integer (negative and above 2^32 too). */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new ConvlabError(`the seed must be an integer, got ${seed}`);
    [this.a, this.b, this.c, this.d] = seedState(seed);
  }

  static restore(state: RngState): Rng {
    const valid =
      Array.isArray(state) &&
      state.length === 4 &&
      state.every((v) => Number.isInteger(v) && v >= 0 && v < 2 ** 32) &&
      state.some((v) => v !== 0);
    if (!valid) throw new ConvlabError(`not a random-generator state: ${JSON.stringify(state)}`);
    const rng = new Rng(0);
    [rng.a, rng.b, rng.c, rng.d] = state;
    return rng;
  }

  state(): RngState {
    return [this.a >>> 0, this.b >>> 0, this.c >>> 0, this.d >>> 0];
  }

  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** Uniform on [0, 1) with 32 bits of resolution. */
  uniform(): number {
    return this.nextUint32() / 2 ** 32;
  }

  /** A uniform integer in [0, n), without modulo bias: draws past the last whole multiple of n are redrawn. */
  below(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 2 ** 32)
      throw new RangeError(`below(${n}): n must be in [1, 2^32]`);
    const end = 2 ** 32 - (2 ** 32 % n);
    for (;;) {
      const x = this.nextUint32();
      if (x < end) return x % n;
    }
  }

  /** Fisher-Yates: a uniformly random permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.below(i + 1);
      const t = p[i]!;
      p[i] = p[j]!;
      p[j] = t;
    }
    return p;
  }
}
