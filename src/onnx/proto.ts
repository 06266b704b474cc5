import { DataType, type DataTypeCode, type OnnxAttr } from '../ir/op.js';

/**
 * A hand-written protobuf encoder for the part of onnx.proto3 an exported CNN needs: ModelProto,
 * GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto. Field numbers are
 * onnx.proto3's. A message knows its size before it is written, so the whole model is written once
 * into one buffer: a VGG's half a gigabyte of weights is copied exactly once.
 */

const WIRE_VARINT = 0;
const WIRE_FIXED32 = 5;
const WIRE_BYTES = 2;

const utf8 = new TextEncoder();

type Part =
  | { readonly kind: 'varint'; readonly tag: number; readonly value: bigint }
  | { readonly kind: 'fixed32'; readonly tag: number; readonly value: number }
  | { readonly kind: 'bytes'; readonly tag: number; readonly value: Uint8Array }
  | { readonly kind: 'message'; readonly tag: number; readonly value: Message }
  | { readonly kind: 'packed'; readonly tag: number; readonly value: readonly bigint[] }
  | { readonly kind: 'packedFloat'; readonly tag: number; readonly value: readonly number[] };

/** Bytes of a varint; int64 negatives are ten bytes (two's complement), as protobuf writes them. */
function varintLength(v: bigint): number {
  let n = 1;
  for (let x = BigInt.asUintN(64, v); x >= 0x80n; x >>= 7n) n++;
  return n;
}

const toInt64 = (v: number | bigint): bigint => {
  if (typeof v === 'number' && !Number.isSafeInteger(v))
    throw new Error(`protobuf int64 needs an integer, got ${v}`);
  return BigInt(v);
};

/** One protobuf message being assembled; fields are written in the order they are added. */
export class Message {
  private readonly parts: Part[] = [];
  private size: number | undefined;

  /** int32, int64 and enum fields. */
  varint(field: number, value: number | bigint): this {
    return this.push({ kind: 'varint', tag: (field << 3) | WIRE_VARINT, value: toInt64(value) });
  }

  float(field: number, value: number): this {
    return this.push({ kind: 'fixed32', tag: (field << 3) | WIRE_FIXED32, value });
  }

  string(field: number, value: string): this {
    return this.bytes(field, utf8.encode(value));
  }

  bytes(field: number, value: Uint8Array): this {
    return this.push({ kind: 'bytes', tag: (field << 3) | WIRE_BYTES, value });
  }

  message(field: number, value: Message): this {
    return this.push({ kind: 'message', tag: (field << 3) | WIRE_BYTES, value });
  }

  /** A packed repeated int32/int64 field (proto3's default for repeated scalars); empty writes nothing. */
  packedVarints(field: number, values: readonly (number | bigint)[]): this {
    if (!values.length) return this;
    return this.push({ kind: 'packed', tag: (field << 3) | WIRE_BYTES, value: values.map(toInt64) });
  }

  packedFloats(field: number, values: readonly number[]): this {
    if (!values.length) return this;
    return this.push({ kind: 'packedFloat', tag: (field << 3) | WIRE_BYTES, value: values });
  }

  /** Encoded size in bytes; computed once, after which the message must not change. */
  byteLength(): number {
    if (this.size !== undefined) return this.size;
    let n = 0;
    for (const p of this.parts) {
      n += varintLength(BigInt(p.tag));
      if (p.kind === 'varint') n += varintLength(p.value);
      else if (p.kind === 'fixed32') n += 4;
      else {
        const len = payloadLength(p);
        n += varintLength(BigInt(len)) + len;
      }
    }
    this.size = n;
    return n;
  }

  encode(): Uint8Array {
    const out = new Uint8Array(this.byteLength());
    const end = this.writeTo(out, new DataView(out.buffer), 0);
    if (end !== out.length) throw new Error(`protobuf size mismatch: wrote ${end} of ${out.length} bytes`);
    return out;
  }

  private writeTo(out: Uint8Array, view: DataView, at: number): number {
    let o = at;
    for (const p of this.parts) {
      o = writeVarint(out, o, BigInt(p.tag));
      switch (p.kind) {
        case 'varint':
          o = writeVarint(out, o, p.value);
          break;
        case 'fixed32':
          view.setFloat32(o, p.value, true);
          o += 4;
          break;
        case 'bytes':
          o = writeVarint(out, o, BigInt(p.value.length));
          out.set(p.value, o);
          o += p.value.length;
          break;
        case 'message':
          o = writeVarint(out, o, BigInt(p.value.byteLength()));
          o = p.value.writeTo(out, view, o);
          break;
        case 'packed':
          o = writeVarint(out, o, BigInt(payloadLength(p)));
          for (const v of p.value) o = writeVarint(out, o, v);
          break;
        case 'packedFloat':
          o = writeVarint(out, o, BigInt(4 * p.value.length));
          for (const v of p.value) {
            view.setFloat32(o, v, true);
            o += 4;
          }
          break;
      }
    }
    return o;
  }

  private push(p: Part): this {
    if (this.size !== undefined) throw new Error('a protobuf message cannot change once its size is known');
    this.parts.push(p);
    return this;
  }
}

function payloadLength(p: Part): number {
  switch (p.kind) {
    case 'bytes':
      return p.value.length;
    case 'message':
      return p.value.byteLength();
    case 'packed':
      return p.value.reduce((s, v) => s + varintLength(v), 0);
    case 'packedFloat':
      return 4 * p.value.length;
    default:
      throw new Error(`${p.kind} has no length prefix`);
  }
}

function writeVarint(out: Uint8Array, at: number, value: bigint): number {
  let o = at;
  let x = BigInt.asUintN(64, value);
  // Small values (every tag, most lengths) stay in plain numbers: BigInt arithmetic is slow.
  if (x < 0x80000000n) {
    let n = Number(x);
    while (n >= 0x80) {
      out[o++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    out[o++] = n;
    return o;
  }
  while (x >= 0x80n) {
    out[o++] = Number(x & 0x7fn) | 0x80;
    x >>= 7n;
  }
  out[o++] = Number(x);
  return o;
}

// --- The ONNX messages, as plain data -------------------------------------------------------------

export { DataType, type DataTypeCode };

export type TensorData = Float32Array | BigInt64Array;

export interface TensorProto {
  readonly name: string;
  readonly dims: readonly number[];
  readonly data: TensorData;
}

export interface NodeProto {
  readonly name: string;
  readonly opType: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes: Readonly<Record<string, OnnxAttr>>;
  /** The operator set the op belongs to; absent: the default ONNX domain. */
  readonly domain?: string;
}

export interface ValueInfoProto {
  readonly name: string;
  readonly elemType: DataTypeCode;
  /** A number is a fixed dimension, a string a symbolic one (the batch, 'N'); absent: unknown rank. */
  readonly shape?: readonly (number | string)[];
}

export interface GraphProto {
  readonly name: string;
  readonly nodes: readonly NodeProto[];
  readonly initializers: readonly TensorProto[];
  readonly inputs: readonly ValueInfoProto[];
  readonly outputs: readonly ValueInfoProto[];
  readonly docString?: string;
}

export interface ModelProto {
  readonly irVersion: number;
  readonly opsetImports: readonly { readonly domain: string; readonly version: number }[];
  readonly producerName: string;
  readonly producerVersion: string;
  readonly docString?: string;
  readonly metadata?: Readonly<Record<string, string>>;
  readonly graph: GraphProto;
}

const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

function attributeMessage(name: string, a: OnnxAttr): Message {
  const m = new Message().string(1, name);
  if ('f' in a) return m.float(2, a.f).varint(20, AttributeType.FLOAT);
  if ('i' in a) return m.varint(3, a.i).varint(20, AttributeType.INT);
  if ('s' in a) return m.string(4, a.s).varint(20, AttributeType.STRING);
  if ('floats' in a) return m.packedFloats(7, a.floats).varint(20, AttributeType.FLOATS);
  return m.packedVarints(8, a.ints).varint(20, AttributeType.INTS);
}

function nodeMessage(n: NodeProto): Message {
  const m = new Message();
  for (const i of n.inputs) m.string(1, i);
  for (const o of n.outputs) m.string(2, o);
  m.string(3, n.name).string(4, n.opType);
  for (const [name, a] of Object.entries(n.attributes)) m.message(5, attributeMessage(name, a));
  if (n.domain) m.string(7, n.domain);
  return m;
}

const dataTypeOf = (data: TensorData): DataTypeCode =>
  data instanceof Float32Array ? DataType.FLOAT : DataType.INT64;

/** Raw little-endian bytes: every platform Node runs convlab on is little-endian, as raw_data requires. */
const rawBytes = (data: TensorData): Uint8Array =>
  new Uint8Array(data.buffer, data.byteOffset, data.byteLength);

function tensorMessage(t: TensorProto): Message {
  const count = t.dims.reduce((a, b) => a * b, 1);
  if (count !== t.data.length) {
    throw new Error(`tensor '${t.name}' has ${t.data.length} values for dims [${t.dims.join(',')}]`);
  }
  return new Message()
    .packedVarints(1, t.dims)
    .varint(2, dataTypeOf(t.data))
    .string(8, t.name)
    .bytes(9, rawBytes(t.data));
}

function valueInfoMessage(v: ValueInfoProto): Message {
  const tensorType = new Message().varint(1, v.elemType);
  if (v.shape) {
    const shape = new Message();
    for (const d of v.shape) {
      shape.message(1, typeof d === 'number' ? new Message().varint(1, d) : new Message().string(2, d));
    }
    tensorType.message(2, shape);
  }
  return new Message().string(1, v.name).message(2, new Message().message(1, tensorType));
}

function graphMessage(g: GraphProto): Message {
  const m = new Message();
  for (const n of g.nodes) m.message(1, nodeMessage(n));
  m.string(2, g.name);
  for (const t of g.initializers) m.message(5, tensorMessage(t));
  if (g.docString) m.string(10, g.docString);
  for (const v of g.inputs) m.message(11, valueInfoMessage(v));
  for (const v of g.outputs) m.message(12, valueInfoMessage(v));
  return m;
}

/** Serialise a model to the bytes of an `.onnx` file. */
export function encodeModel(model: ModelProto): Uint8Array {
  const m = new Message()
    .varint(1, model.irVersion)
    .string(2, model.producerName)
    .string(3, model.producerVersion);
  if (model.docString) m.string(6, model.docString);
  m.message(7, graphMessage(model.graph));
  for (const o of model.opsetImports) m.message(8, new Message().string(1, o.domain).varint(2, o.version));
  for (const [key, value] of Object.entries(model.metadata ?? {})) {
    m.message(14, new Message().string(1, key).string(2, value));
  }
  return m.encode();
}
