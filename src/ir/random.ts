import { ConvlabError } from './errors.js';

/**
 * convlab's one random generator: xoshiro128** (Blackman and Vigna, 2018), 128 bits of state held
 * as four uint32s, seeded through splitmix32. Initialisation draws each tensor from its own named
 * stream (keyed by the seed and the tensor's full name, so a tensor's values do not change when
 * layers are added before it); the data pipeline draws from unnamed streams and stores
 * `state()`, four plain numbers, in checkpoints: `Rng.restore(state)` continues the exact sequence.
 */

export type RngState = readonly [number, number, number, number];

const rotl = (x: number, k: number): number => (x << k) | (x >>> (32 - k));

/** FNV-1a over the UTF-16 code units of a name. */
function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** splitmix32: spreads one 32-bit value into well-mixed seeds for the generator's state. */
function splitmix32(state: number): () => number {
  let s = state | 0;
  return () => {
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare = 0;
  private hasSpare = false;

  /** A generator seeded by a safe integer (negative and above 2^32 too) and an optional stream name. */
  constructor(seed: number, stream?: string) {
    if (!Number.isSafeInteger(seed)) throw new ConvlabError(`the seed must be an integer, got ${seed}`);
    const low = seed >>> 0;
    const high = Math.floor(seed / 2 ** 32) >>> 0;
    const mix = splitmix32((stream === undefined ? 0 : hashName(stream)) ^ low ^ Math.imul(high, 0x27d4eb2d));
    this.a = mix() | 0;
    this.b = mix() | 0;
    this.c = mix() | 0;
    this.d = mix() | 1; // the all-zero state is the one state xoshiro never leaves
  }

  /** Continue a sequence from `state()`. */
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

  /**
   * The generator's state. A normal drawn in a pair keeps its twin outside it: the state restores
   * the uniform and integer sequence, which is all the data pipeline draws.
   */
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

  /** Uniform on the open interval (0, 1): safe to take the logarithm of. */
  uniform(): number {
    return (this.nextUint32() + 0.5) / 2 ** 32;
  }

  /** Standard normal: the polar method makes two per accepted point, without trigonometry. */
  normal(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    let u: number;
    let v: number;
    let s: number;
    do {
      u = 2 * this.uniform() - 1;
      v = 2 * this.uniform() - 1;
      s = u * u + v * v;
    } while (s >= 1);
    const m = Math.sqrt((-2 * Math.log(s)) / s);
    this.spare = v * m;
    this.hasSpare = true;
    return u * m;
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
