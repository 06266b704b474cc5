import { renameSync, writeFileSync } from 'node:fs';
import { ConvlabError } from '../ir/errors.js';
import { formatShape } from '../ir/shape.js';
import { readBounded } from './read_bounded.js';

/**
 * The safetensors format (huggingface/safetensors): an 8-byte little-endian header length N, N
 * bytes of UTF-8 JSON `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {..}}`,
 * then the tensors' raw little-endian, row-major bytes, offsets relative to the end of the header.
 * The tensors must tile the data section exactly: no gaps, no overlaps, no trailing bytes.
 */

/** A tensor in JavaScript memory, in one of the two dtypes convlab computes with. */
export type HostTensor =
  | { readonly dtype: 'float32'; readonly shape: readonly number[]; readonly data: Float32Array }
  | { readonly dtype: 'int64'; readonly shape: readonly number[]; readonly data: BigInt64Array };

/** A tensor's data with its shape, its dtype read off the array type. */
export const hostTensor = (data: Float32Array | BigInt64Array, shape: readonly number[]): HostTensor =>
  data instanceof BigInt64Array ? { dtype: 'int64', shape, data } : { dtype: 'float32', shape, data };

export interface Safetensors {
  readonly tensors: Map<string, HostTensor>;
  readonly metadata: Readonly<Record<string, string>>;
}

/** The reference implementation's cap; a larger header is corruption, not a model. */
export const MAX_HEADER_BYTES = 100_000_000;

const METADATA_KEY = '__metadata__';
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

type Reader = (view: DataView, offset: number) => number | bigint;

/**
 * Every dtype a file may hold and how it reads into float32 or int64. F16, BF16 and small integers
 * widen exactly; F64 rounds to float32, which is what the model computes in anyway.
 */
const DTYPES: Record<string, { bytes: number; to: 'float32' | 'int64'; read: Reader } | { bytes: number }> = {
  F32: { bytes: 4, to: 'float32', read: (v, o) => v.getFloat32(o, true) },
  F16: { bytes: 2, to: 'float32', read: (v, o) => halfToFloat(v.getUint16(o, true)) },
  BF16: { bytes: 2, to: 'float32', read: (v, o) => bfloatToFloat(v.getUint16(o, true)) },
  F64: { bytes: 8, to: 'float32', read: (v, o) => v.getFloat64(o, true) },
  I64: { bytes: 8, to: 'int64', read: (v, o) => v.getBigInt64(o, true) },
  I32: { bytes: 4, to: 'int64', read: (v, o) => BigInt(v.getInt32(o, true)) },
  I16: { bytes: 2, to: 'int64', read: (v, o) => BigInt(v.getInt16(o, true)) },
  I8: { bytes: 1, to: 'int64', read: (v, o) => BigInt(v.getInt8(o)) },
  U32: { bytes: 4, to: 'int64', read: (v, o) => BigInt(v.getUint32(o, true)) },
  U16: { bytes: 2, to: 'int64', read: (v, o) => BigInt(v.getUint16(o, true)) },
  U8: { bytes: 1, to: 'int64', read: (v, o) => BigInt(v.getUint8(o)) },
  // Known to the format, but no convlab tensor holds them.
  U64: { bytes: 8 },
  BOOL: { bytes: 1 },
  F8_E4M3: { bytes: 1 },
  F8_E5M2: { bytes: 1 },
};

const READABLE = Object.entries(DTYPES)
  .filter(([, d]) => 'read' in d)
  .map(([k]) => k)
  .join(', ');

/** IEEE 754 half precision to a JS number, exactly (subnormals, infinities and NaN included). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

const bfloatScratch = new DataView(new ArrayBuffer(4));
/** bfloat16 is the top half of a float32. */
function bfloatToFloat(h: number): number {
  bfloatScratch.setUint32(0, h << 16, false);
  return bfloatScratch.getFloat32(0, false);
}

const describe = (value: unknown): string => {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
};

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

interface Entry {
  readonly name: string;
  readonly dtype: string;
  readonly shape: number[];
  readonly begin: number;
  readonly end: number;
}

/** Parse and check a whole file. Every malformed input throws a ConvlabError (exit code 2) naming the fault. */
export function parseSafetensors(bytes: Uint8Array, source = 'safetensors file'): Safetensors {
  const fail = (why: string): never => {
    throw new ConvlabError(`${source}: not a valid safetensors file: ${why}`);
  };
  if (bytes.length < 8) fail(`${bytes.length} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const declared = view.getBigUint64(0, true);
  if (declared > BigInt(MAX_HEADER_BYTES)) {
    fail(`header length ${declared} exceeds the ${MAX_HEADER_BYTES}-byte limit (corrupt or not safetensors)`);
  }
  const headerBytes = Number(declared);
  if (8 + headerBytes > bytes.length) {
    fail(`header length ${headerBytes} runs past the end of the ${bytes.length}-byte file (truncated?)`);
  }
  let header: unknown;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerBytes));
    header = JSON.parse(text);
  } catch (e) {
    return fail(`header is not UTF-8 JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (!isRecord(header)) return fail('header is not a JSON object');

  const dataStart = 8 + headerBytes;
  const dataBytes = bytes.length - dataStart;
  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      if (!isRecord(info) || !Object.values(info).every((v) => typeof v === 'string')) {
        fail(`${METADATA_KEY} must map strings to strings`);
      }
      metadata = info as Record<string, string>;
      continue;
    }
    entries.push(checkEntry(name, info, dataBytes, source, fail));
  }

  // Sorted by position, each tensor must start where the previous one ended.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: Entry | undefined;
  for (const e of sorted) {
    if (e.begin < covered) {
      fail(
        `tensor '${e.name}' bytes [${e.begin},${e.end}) overlap '${previous!.name}' [${previous!.begin},${previous!.end})`,
      );
    }
    if (e.begin > covered) fail(`bytes [${covered},${e.begin}) of the data belong to no tensor`);
    covered = e.end;
    previous = e;
  }
  if (covered !== dataBytes) {
    fail(`the data section has ${dataBytes} bytes but the tensors cover ${covered} (truncated or padded?)`);
  }

  const tensors = new Map<string, HostTensor>();
  for (const e of entries) {
    tensors.set(e.name, decode(e, bytes.subarray(dataStart + e.begin, dataStart + e.end)));
  }
  return { tensors, metadata };
}

function checkEntry(
  name: string,
  info: unknown,
  dataBytes: number,
  source: string,
  fail: (why: string) => never,
): Entry {
  const where = `tensor '${name}'`;
  if (!isRecord(info)) return fail(`${where}: expected {dtype, shape, data_offsets}, got ${describe(info)}`);
  const { dtype, shape, data_offsets: offsets } = info;
  if (typeof dtype !== 'string') return fail(`${where}: dtype must be a string, got ${describe(dtype)}`);
  // Own keys only: 'constructor' or '__proto__' is no dtype.
  const kind = Object.hasOwn(DTYPES, dtype) ? DTYPES[dtype] : undefined;
  if (!kind) return fail(`${where}: unknown dtype ${describe(dtype)}`);
  if (!('read' in kind)) {
    throw new ConvlabError(
      `${source}: ${where} has dtype ${dtype}, which convlab cannot load; it reads ${READABLE}`,
    );
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    return fail(`${where}: shape must be a list of non-negative integers, got ${describe(shape)}`);
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)
  ) {
    return fail(`${where}: data_offsets must be [begin, end] byte offsets, got ${describe(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end || end > dataBytes) {
    fail(
      `${where}: data_offsets [${begin},${end}] lie outside the ${dataBytes}-byte data section (truncated?)`,
    );
  }
  // Checked step by step so that an absurd shape cannot overflow into a plausible size.
  let size = kind.bytes;
  for (const d of shape as number[]) {
    size *= d;
    if (size > dataBytes) {
      fail(
        `${where}: shape ${formatShape(shape as number[])} of ${dtype} needs more bytes than the file holds`,
      );
    }
  }
  if (size !== end - begin) {
    fail(
      `${where}: shape ${formatShape(shape as number[])} of ${dtype} is ${size} bytes but data_offsets span ${end - begin}`,
    );
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

function decode(e: Entry, raw: Uint8Array): HostTensor {
  const kind = DTYPES[e.dtype] as { bytes: number; to: 'float32' | 'int64'; read: Reader };
  const count = raw.length / kind.bytes;
  // A copy, aligned for the typed array and independent of the file's buffer (not `raw.slice()`:
  // on a Node Buffer that is a view into a shared pool).
  if (LITTLE_ENDIAN && e.dtype === 'F32') {
    return { dtype: 'float32', shape: e.shape, data: new Float32Array(new Uint8Array(raw).buffer) };
  }
  if (LITTLE_ENDIAN && e.dtype === 'I64') {
    return { dtype: 'int64', shape: e.shape, data: new BigInt64Array(new Uint8Array(raw).buffer) };
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (kind.to === 'float32') {
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) data[i] = kind.read(view, i * kind.bytes) as number;
    return { dtype: 'float32', shape: e.shape, data };
  }
  const data = new BigInt64Array(count);
  for (let i = 0; i < count; i++) data[i] = kind.read(view, i * kind.bytes) as bigint;
  return { dtype: 'int64', shape: e.shape, data };
}

/** The tensors of a safetensors file in memory. */
export const readSafetensors = (bytes: Uint8Array, source?: string): Map<string, HostTensor> =>
  parseSafetensors(bytes, source).tensors;

/** Read a safetensors file from disk; a missing or unreadable file is a ConvlabError too. */
export function readSafetensorsFile(path: string): Safetensors {
  return parseSafetensors(readBounded(path, 'weightsBytes', 'weights'), path);
}

const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/**
 * Serialise tensors in the given order as F32 and I64, the header padded with spaces so the data
 * starts 8-byte aligned (as the reference writer does).
 */
export function writeSafetensors(
  tensors: Iterable<readonly [string, HostTensor]>,
  metadata?: Readonly<Record<string, string>>,
): Uint8Array {
  // Built as text: a tensor may be called '__proto__', which an object literal would swallow.
  const fields: string[] = [];
  if (metadata && Object.keys(metadata).length) fields.push(`"${METADATA_KEY}":${JSON.stringify(metadata)}`);
  const names = new Set<string>();
  const list: (readonly [string, HostTensor])[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    if (name === METADATA_KEY || names.has(name)) {
      throw new ConvlabError(`cannot write tensor '${name}': the name is reserved or used twice`);
    }
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0) || numel(t.shape) !== t.data.length) {
      throw new ConvlabError(
        `cannot write tensor '${name}': shape ${formatShape(t.shape)} does not hold its ${t.data.length} values`,
      );
    }
    const info = {
      dtype: t.dtype === 'float32' ? 'F32' : 'I64',
      shape: t.shape,
      data_offsets: [offset, offset + t.data.byteLength],
    };
    fields.push(`${JSON.stringify(name)}:${JSON.stringify(info)}`);
    names.add(name);
    offset += t.data.byteLength;
    list.push([name, t]);
  }
  let json = new TextEncoder().encode(`{${fields.join(',')}}`);
  const padded = Math.ceil((8 + json.length) / 8) * 8 - 8;
  if (padded !== json.length) {
    const spaced = new Uint8Array(padded).fill(0x20);
    spaced.set(json);
    json = spaced;
  }
  const out = new Uint8Array(8 + json.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const [, t] of list) {
    if (LITTLE_ENDIAN) {
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    } else if (t.dtype === 'float32') {
      for (let i = 0; i < t.data.length; i++) view.setFloat32(at + 4 * i, t.data[i]!, true);
    } else {
      for (let i = 0; i < t.data.length; i++) view.setBigInt64(at + 8 * i, t.data[i]!, true);
    }
    at += t.data.byteLength;
  }
  return out;
}

/** Write a safetensors file atomically: a reader never sees half a file. */
export function writeSafetensorsFile(
  path: string,
  tensors: Iterable<readonly [string, HostTensor]>,
  metadata?: Readonly<Record<string, string>>,
): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, writeSafetensors(tensors, metadata));
  renameSync(temporary, path);
}
