import { ConvlabError } from '../ir/errors.js';
import type { TensorRef } from './proto.js';
import type { ByteSource, ExternalFiles } from './source.js';

/** TensorProto.DataType codes the importer reads, and their element sizes in bytes. */
export const ONNX_TYPE = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  DOUBLE: 11,
} as const;

const ELEMENT_BYTES: Readonly<Record<number, number>> = { 1: 4, 2: 1, 3: 1, 5: 2, 6: 4, 7: 8, 9: 1, 11: 8 };
const TYPE_NAMES: Readonly<Record<number, string>> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  8: 'string',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  12: 'uint32',
  13: 'uint64',
  16: 'bfloat16',
};

export const typeName = (code: number): string => TYPE_NAMES[code] ?? `type ${code}`;
export const isFloatType = (code: number): boolean => code === ONNX_TYPE.FLOAT || code === ONNX_TYPE.DOUBLE;

/** Elements of a tensor of these dims (dims were checked to be safe non-negative integers). */
export function elementCount(t: TensorRef): number {
  let n = 1;
  for (const d of t.dims) n *= d;
  return n;
}

/** Bytes [offset, offset + length) of `src`, or a one-line error naming the tensor. */
function range(src: ByteSource, offset: number, length: number, name: string): Uint8Array {
  if (offset < 0 || length < 0 || offset + length > src.length) {
    throw new ConvlabError(
      `tensor '${name}' needs bytes ${offset}..${offset + length} of ${src.label}, which has ${src.length}`,
    );
  }
  return src.read(offset, length);
}

/** Read a tensor's little-endian element bytes as numbers of its type into `out`. */
function decodeBytes(bytes: Uint8Array, type: number, out: Float32Array | Float64Array): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = out.length;
  switch (type) {
    case ONNX_TYPE.FLOAT:
      if (bytes.byteOffset % 4 === 0) out.set(new Float32Array(bytes.buffer, bytes.byteOffset, n));
      else out.set(new Float32Array(new Uint8Array(bytes).buffer, 0, n)); // a copy, aligned
      return;
    case ONNX_TYPE.DOUBLE:
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(8 * i, true);
      return;
    case ONNX_TYPE.INT64:
      for (let i = 0; i < n; i++) out[i] = Number(view.getBigInt64(8 * i, true));
      return;
    case ONNX_TYPE.INT32:
      for (let i = 0; i < n; i++) out[i] = view.getInt32(4 * i, true);
      return;
    case ONNX_TYPE.INT16:
      for (let i = 0; i < n; i++) out[i] = view.getInt16(2 * i, true);
      return;
    case ONNX_TYPE.INT8:
      for (let i = 0; i < n; i++) out[i] = view.getInt8(i);
      return;
    default: // uint8, bool
      for (let i = 0; i < n; i++) out[i] = bytes[i]!;
  }
}

/** Packed repeated field values (float_data, int32_data, int64_data, double_data) as numbers. */
function decodePacked(
  bytes: Uint8Array,
  field: number,
  out: Float32Array | Float64Array,
  name: string,
): void {
  const fail = () => {
    throw new ConvlabError(
      `tensor '${name}' holds ${field === 4 ? 'float' : 'integer'} data of the wrong length`,
    );
  };
  if (field === 4 || field === 10) {
    const size = field === 4 ? 4 : 8;
    if (bytes.length !== size * out.length) fail();
    decodeBytes(bytes, field === 4 ? ONNX_TYPE.FLOAT : ONNX_TYPE.DOUBLE, out);
    return;
  }
  let at = 0;
  for (let i = 0; i < out.length; i++) {
    let value = 0n;
    let shift = 0n;
    for (;;) {
      if (at >= bytes.length || shift > 63n) fail();
      const b = bytes[at++]!;
      value |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if (b < 0x80) break;
    }
    out[i] = Number(field === 11 ? BigInt.asUintN(64, value) : BigInt.asIntN(64, value));
  }
  if (at !== bytes.length) fail();
}

/**
 * A tensor's values as numbers (float32 for float tensors, float64 otherwise, which holds every
 * int32 exactly and the int64s shapes use). One tensor is read at a time: a VGG's weights are never
 * all held twice.
 */
export function readValues(t: TensorRef, external: ExternalFiles): Float32Array | Float64Array {
  const n = elementCount(t);
  const size = ELEMENT_BYTES[t.dataType];
  if (size === undefined) {
    throw new ConvlabError(
      `tensor '${t.name}' is ${typeName(t.dataType)}; convlab imports float32, float64 and integer tensors`,
    );
  }
  const d = t.data;
  const given =
    d.kind === 'none'
      ? 0
      : d.kind === 'raw' || d.kind === 'packed'
        ? d.length
        : d.kind === 'external'
          ? d.length < 0
            ? n * size
            : d.length
          : d.values.length * size;
  // Checked before anything is allocated: a mutated dim must not ask for a petabyte.
  const packedVarints = d.kind === 'packed' && d.field !== 4 && d.field !== 10;
  if (packedVarints ? given < n || given > 10 * n : given !== n * size) {
    throw new ConvlabError(
      `tensor '${t.name}' [${t.dims.join(',')}] ${typeName(t.dataType)} needs ${n * size} bytes, the file gives ${given}`,
    );
  }
  const out = t.dataType === ONNX_TYPE.FLOAT ? new Float32Array(n) : new Float64Array(n);
  if (d.kind === 'raw') decodeBytes(range(t.source, d.offset, d.length, t.name), t.dataType, out);
  else if (d.kind === 'external')
    decodeBytes(range(external(d.location), d.offset, given, t.name), t.dataType, out);
  else if (d.kind === 'packed')
    decodePacked(range(t.source, d.offset, d.length, t.name), d.field, out, t.name);
  else if (d.kind === 'values') out.set(d.values);
  return out;
}
