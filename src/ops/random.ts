import { DataType, type OnnxWriter } from '../ir/op.js';
import { numel, type Shape } from '../ir/shape.js';
import { emit } from '../onnx/emit.js';

/**
 * Counter-based random numbers inside an ONNX graph: every draw is a hash of (run seed, node
 * name, step, element index), computed with int64 Mul/Add/Div/Mod. onnxruntime's own random ops
 * (Dropout, RandomUniformLike) keep a generator per session, so a resumed run, which opens a new
 * session, would draw differently from an uninterrupted one; a hash of the step does not.
 *
 * Arithmetic is modulo the prime 2^31 - 1, every product stays below 2^62, so int64 never
 * overflows. Multiplication by a constant mod a prime is a bijection but linear; the mixing comes
 * from squaring (h^2 + c) and from rotating the 31-bit value by 16 bits. Measured on 10^5
 * consecutive indices (test/ops/random.test.ts): lag-1 and step-to-step correlations below 0.005,
 * chi-square of 256 pair cells and 100 value bins at their expected sizes.
 */

/** The modulus of every draw: draws are uniform on [0, MODULUS). */
export const MODULUS = 2147483647;

const mod = (w: OnnxWriter, x: string) => emit(w, 'Mod', [x, int(w, MODULUS)]);
const int = (w: OnnxWriter, value: number) => w.constant([value], [], 'int64');
const times = (w: OnnxWriter, x: string, k: number) => emit(w, 'Mul', [x, int(w, k)]);
const plus = (w: OnnxWriter, x: string, y: string) => emit(w, 'Add', [x, y]);

/** h^2 + c mod p. */
const square = (w: OnnxWriter, h: string, c: number) => mod(w, plus(w, emit(w, 'Mul', [h, h]), int(w, c)));

/** Rotate the 31-bit h by 16 bits (low 16 bits up, high 15 down), then multiply by `a` mod p. */
const rotate = (w: OnnxWriter, h: string, a: number) => {
  const low = emit(w, 'Mod', [h, int(w, 65536)]);
  const high = emit(w, 'Div', [h, int(w, 65536)]);
  return mod(w, times(w, plus(w, times(w, low, 32768), high), a));
};

/** The mixing function, from (a linear function of) the counter to the draw. */
const mix = (w: OnnxWriter, h: string) =>
  rotate(w, square(w, rotate(w, square(w, h, 12345), 69621), 98765), 48271);

/** FNV-1a of the seed and the node's name, reduced mod p: each node's own stream. */
export function salt(seed: number, node: string): number {
  let h = 0x811c9dc5;
  for (const ch of `${seed}/${node}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return h % MODULUS;
}

/**
 * Uniform int64 draws on [0, MODULUS), one per element of `shape`, for this node at this step:
 * key = mix(step * 48271 + salt), draw[i] = mix(i * 48271 + key). Train mode only.
 */
export function uniformDraws(w: OnnxWriter, shape: Shape): string {
  const source = w.randomSource();
  if (!source) throw new Error('counter-based draws need a training step graph (its step input)');
  const { seed, step, node } = source;
  const counter = emit(w, 'Cast', [step], { to: { i: DataType.INT64 } });
  const key = mix(w, mod(w, plus(w, times(w, counter, 48271), int(w, salt(seed, node)))));
  const index = emit(w, 'Range', [int(w, 0), int(w, numel(shape)), int(w, 1)]);
  const draws = mix(w, mod(w, plus(w, times(w, index, 48271), key)));
  return emit(w, 'Reshape', [draws, w.constant([...shape], [shape.length], 'int64')]);
}

/** A bool mask of `shape`, true with probability 1 - p (dropout's kept elements). */
export function keepMask(w: OnnxWriter, shape: Shape, p: number): string {
  const dropped = emit(w, 'Less', [uniformDraws(w, shape), int(w, Math.round(p * MODULUS))]);
  return emit(w, 'Not', [dropped]);
}
