import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

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
