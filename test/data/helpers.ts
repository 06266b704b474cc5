import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, expect } from 'vitest';
import { ConvlabError } from '../../src/ir/errors.js';

/** A temporary folder removed after the test file. */
export function tempDir(tag: string): string {
  const dir = mkdtempSync(join(tmpdir(), `convlab-${tag}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** An IDX file: magic 00 00 type rank, big-endian dims, then the bytes. */
export function idxBytes(dims: number[], data: Uint8Array, type = 0x08): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  out[2] = type;
  out[3] = dims.length;
  for (const [i, d] of dims.entries()) view.setUint32(4 + 4 * i, d, false);
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** Bytes 0, 1, 2, ... wrapping at 256, offset by `start`: recognisable pixel content. */
export const ramp = (n: number, start = 0): Uint8Array =>
  Uint8Array.from({ length: n }, (_, i) => (i + start) % 256);

export interface TinyIdx {
  train: { images: Uint8Array; labels: Uint8Array };
  test: { images: Uint8Array; labels: Uint8Array };
}

/** A tiny MNIST-layout dataset: 6 training and 4 test images of 3x5 (h x w). */
export function tinyIdx(): TinyIdx {
  return {
    train: { images: ramp(6 * 15), labels: Uint8Array.from([0, 1, 2, 3, 4, 9]) },
    test: { images: ramp(4 * 15, 100), labels: Uint8Array.from([5, 6, 7, 8]) },
  };
}

/** Write `t` as the four IDX files in `dir`, gzip'ed or raw. */
export function writeIdx(dir: string, t: TinyIdx, gzip: boolean, h = 3, w = 5): string {
  mkdirSync(dir, { recursive: true });
  const put = (name: string, bytes: Uint8Array) =>
    writeFileSync(join(dir, gzip ? `${name}.gz` : name), gzip ? gzipSync(bytes) : bytes);
  put('train-images-idx3-ubyte', idxBytes([t.train.labels.length, h, w], t.train.images));
  put('train-labels-idx1-ubyte', idxBytes([t.train.labels.length], t.train.labels));
  put('t10k-images-idx3-ubyte', idxBytes([t.test.labels.length, h, w], t.test.images));
  put('t10k-labels-idx1-ubyte', idxBytes([t.test.labels.length], t.test.labels));
  return dir;
}

/** `f` throws a ConvlabError (exit code 2) whose message matches every pattern. */
export async function expectUserError(
  f: () => unknown,
  ...patterns: (string | RegExp)[]
): Promise<ConvlabError> {
  let caught: unknown;
  try {
    await f();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected a ConvlabError').toBeInstanceOf(ConvlabError);
  const e = caught as ConvlabError;
  expect(e.exitCode).toBe(2);
  for (const p of patterns) expect(e.message).toMatch(p);
  expect(e.message).not.toContain('\n    at ');
  return e;
}

/** A small deterministic generator for fuzzing (tests only). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** A copy of `bytes`, cut short or with a few bytes overwritten, or both. */
export function mutate(bytes: Uint8Array, random: () => number): Uint8Array {
  // Uint8Array.from, not slice(): a Buffer's slice() is a view, and would corrupt the original.
  let out = Uint8Array.from(bytes);
  const r = random();
  if (r < 0.4) out = out.slice(0, Math.floor(random() * out.length));
  if (r >= 0.3) {
    const flips = 1 + Math.floor(random() * 4);
    for (let i = 0; i < flips && out.length; i++) {
      // Headers are where parsers break: aim half the flips at the first 24 bytes.
      const at =
        random() < 0.5 ? Math.floor(random() * Math.min(24, out.length)) : Math.floor(random() * out.length);
      out[at] = Math.floor(random() * 256);
    }
  }
  return out;
}
