import { ConvlabError } from '../ir/errors.js';
import type { ByteSource } from './source.js';

/*
 * A bounded protobuf decoder for the part of onnx.proto3 an importer reads: ModelProto, GraphProto,
 * NodeProto, AttributeProto, TensorProto, ValueInfoProto (field numbers are onnx.proto3's; the
 * encoder is src/onnx/proto.ts). It walks the file through a ByteSource and never reads a tensor's
 * values: an initializer is its name, type, dims and where its bytes are (TensorRef), read later one
 * tensor at a time (tensor.ts). Every length is checked against its enclosing message before it is
 * used, so a truncated or mutated file fails with one line naming the byte, never a crash, a hang
 * or an allocation larger than the file. Subgraphs (If/Loop bodies) are skipped, not decoded.
 */

/** Where a tensor's values are; nothing here has been read. */
export type DataRef =
  | { readonly kind: 'none' }
  | { readonly kind: 'raw'; readonly offset: number; readonly length: number }
  /** A packed repeated field of TensorProto: 4 float_data, 5 int32_data, 7 int64_data, 10 double_data, 11 uint64_data. */
  | { readonly kind: 'packed'; readonly field: number; readonly offset: number; readonly length: number }
  /** The same fields written unpacked (one tag per value), decoded as they were met. */
  | { readonly kind: 'values'; readonly field: number; readonly values: readonly number[] }
  | {
      readonly kind: 'external';
      readonly location: string;
      readonly offset: number;
      readonly length: number;
    };

export interface TensorRef {
  readonly name: string;
  readonly dims: readonly number[];
  /** TensorProto.DataType (1 float, 6 int32, 7 int64, 9 bool, 10 float16, 11 double, ...). */
  readonly dataType: number;
  readonly data: DataRef;
  /** The file holding `raw` and `packed` data. */
  readonly source: ByteSource;
}

export type Attribute =
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'tensor'; readonly value: TensorRef }
  | { readonly kind: 'floats'; readonly value: readonly number[] }
  | { readonly kind: 'ints'; readonly value: readonly number[] }
  | { readonly kind: 'strings'; readonly value: readonly string[] }
  /** A subgraph, a sparse tensor or a type: kept only as a fact, never decoded. */
  | { readonly kind: 'other'; readonly type: number };

export interface OnnxNode {
  readonly name: string;
  readonly opType: string;
  /** '' for the default ONNX operator set ('ai.onnx' is normalised to ''). */
  readonly domain: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes: ReadonlyMap<string, Attribute>;
}

/** A dimension: a number, a symbolic name, or undefined when the file says nothing. */
export type Dim = number | string | undefined;

export interface ValueInfo {
  readonly name: string;
  readonly elemType: number;
  /** Undefined when the file gives no shape (unknown rank). */
  readonly shape: readonly Dim[] | undefined;
}

export interface OnnxGraph {
  readonly name: string;
  readonly nodes: readonly OnnxNode[];
  readonly initializers: readonly TensorRef[];
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
}

export interface OnnxModel {
  readonly irVersion: number;
  readonly producerName: string;
  readonly producerVersion: string;
  readonly opsets: readonly { readonly domain: string; readonly version: number }[];
  readonly graph: OnnxGraph;
}

/** Tensors of higher rank than this are refused (ONNX allows more; no CNN tensor comes near). */
export const MAX_RANK = 16;
const CHUNK = 1 << 16;
const utf8 = new TextDecoder('utf-8');
// biome-ignore lint/suspicious/noControlCharactersInRegex: the characters to remove
const CONTROL = /[\u0000-\u001f\u007f]/g;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;

/** A cursor over a ByteSource with a small read-ahead window; every read is bounded by `end`. */
class Reader {
  private buf: Uint8Array = new Uint8Array(0);
  private bufStart = 0;
  pos = 0;

  constructor(readonly src: ByteSource) {}

  fail(what: string): never {
    throw new ConvlabError(`${this.src.label} is not a valid ONNX model: ${what} at byte ${this.pos}`);
  }

  /** Make bytes [pos, pos + n) readable from `buf`. */
  private window(n: number, end: number): Uint8Array {
    if (this.pos + n > end)
      this.fail(`a field runs past the end of its message (${end - this.pos} bytes left)`);
    if (this.pos < this.bufStart || this.pos + n > this.bufStart + this.buf.length) {
      const len = Math.min(Math.max(n, CHUNK), this.src.length - this.pos);
      this.buf = this.src.read(this.pos, len);
      this.bufStart = this.pos;
    }
    return this.buf;
  }

  byte(end: number): number {
    const b = this.window(1, end)[this.pos - this.bufStart]!;
    this.pos++;
    return b;
  }

  /** A varint as a JS number: int64 two's complement negatives come back negative (exact when small). */
  varint(end: number): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 7; i++) {
      const b = this.byte(end);
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
      scale *= 128;
    }
    // Eight to ten bytes: only int64 values this large (or negative) take them; BigInt keeps them exact.
    let big = BigInt(value);
    let shift = 49n;
    for (let i = 7; i < 10; i++) {
      const b = this.byte(end);
      big |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return Number(BigInt.asIntN(64, big));
      shift += 7n;
    }
    return this.fail('a varint longer than ten bytes');
  }

  float32(end: number): number {
    const w = this.window(4, end);
    const at = this.pos - this.bufStart;
    this.pos += 4;
    return new DataView(w.buffer, w.byteOffset + at, 4).getFloat32(0, true);
  }

  float64(end: number): number {
    const w = this.window(8, end);
    const at = this.pos - this.bufStart;
    this.pos += 8;
    return new DataView(w.buffer, w.byteOffset + at, 8).getFloat64(0, true);
  }

  /** The end of a length-delimited field that starts here, checked against its message's `end`. */
  lengthEnd(end: number): number {
    const len = this.varint(end);
    if (len < 0 || this.pos + len > end)
      this.fail(`a field claims ${len} bytes where ${end - this.pos} remain`);
    return this.pos + len;
  }

  string(end: number): string {
    const stop = this.lengthEnd(end);
    const n = stop - this.pos;
    const bytes =
      n <= CHUNK
        ? this.window(n, stop).subarray(this.pos - this.bufStart, this.pos - this.bufStart + n)
        : this.src.read(this.pos, n);
    this.pos = stop;
    // Control characters never belong in a name; replaced, so every message stays one line.
    return utf8.decode(bytes).replace(CONTROL, '\uFFFD');
  }

  skip(wire: number, end: number): void {
    if (wire === WIRE_VARINT) this.varint(end);
    else if (wire === WIRE_FIXED64) this.advance(8, end);
    else if (wire === WIRE_FIXED32) this.advance(4, end);
    else if (wire === WIRE_BYTES) this.pos = this.lengthEnd(end);
    else this.fail(`wire type ${wire}, which onnx.proto never uses`);
  }

  private advance(n: number, end: number): void {
    if (this.pos + n > end) this.fail('a field runs past the end of its message');
    this.pos += n;
  }

  /** Visit each field of the message ending at `end`: `visit` reads the value or returns false to skip it. */
  fields(end: number, visit: (field: number, wire: number) => boolean | undefined): void {
    while (this.pos < end) {
      const key = this.varint(end);
      const field = Math.floor(key / 8);
      const wire = key & 7;
      if (field < 1) this.fail(`field number ${field}`);
      const start = this.pos;
      if (!visit(field, wire)) {
        this.pos = start;
        this.skip(wire, end);
      }
    }
    if (this.pos !== end) this.fail('a message overruns its length');
  }

  /** A repeated varint field, packed or not, appended to `out`. */
  varints(wire: number, end: number, out: number[]): void {
    if (wire === WIRE_VARINT) {
      out.push(this.varint(end));
      return;
    }
    if (wire !== WIRE_BYTES) this.fail(`wire type ${wire} for a repeated integer`);
    const stop = this.lengthEnd(end);
    while (this.pos < stop) out.push(this.varint(stop));
  }

  floats(wire: number, end: number, out: number[]): void {
    if (wire === WIRE_FIXED32) {
      out.push(this.float32(end));
      return;
    }
    if (wire !== WIRE_BYTES) this.fail(`wire type ${wire} for a repeated float`);
    const stop = this.lengthEnd(end);
    if ((stop - this.pos) % 4) this.fail('packed floats whose length is not a multiple of 4');
    while (this.pos < stop) out.push(this.float32(stop));
  }
}

const expect = (r: Reader, wire: number, want: number, what: string): void => {
  if (wire !== want) r.fail(`${what} has wire type ${wire}, expected ${want}`);
};

function decodeTensor(r: Reader, end: number): TensorRef {
  let name = '';
  const dims: number[] = [];
  let dataType = 0;
  let data: DataRef = { kind: 'none' };
  let external = false;
  const ext = new Map<string, string>();
  const setData = (next: DataRef) => {
    if (data.kind !== 'none' && !(data.kind === 'values' && next.kind === 'values')) {
      r.fail(`tensor '${name}' holds its values in two fields`);
    }
    data = next;
  };
  r.fields(end, (field, wire) => {
    switch (field) {
      case 1:
        r.varints(wire, end, dims);
        if (dims.length > MAX_RANK) r.fail(`a tensor of rank above ${MAX_RANK}`);
        return true;
      case 2:
        expect(r, wire, WIRE_VARINT, 'data_type');
        dataType = r.varint(end);
        return true;
      case 8:
        expect(r, wire, WIRE_BYTES, 'name');
        name = r.string(end);
        return true;
      case 9: {
        expect(r, wire, WIRE_BYTES, 'raw_data');
        const stop = r.lengthEnd(end);
        setData({ kind: 'raw', offset: r.pos, length: stop - r.pos });
        r.pos = stop;
        return true;
      }
      case 4:
      case 5:
      case 7:
      case 10:
      case 11:
        return repeatedData(r, field, wire, end, data, setData);
      case 13:
        expect(r, wire, WIRE_BYTES, 'external_data');
        keyValue(r, r.lengthEnd(end), ext);
        return true;
      case 14:
        expect(r, wire, WIRE_VARINT, 'data_location');
        external = r.varint(end) === 1;
        return true;
      default:
        return false;
    }
  });
  for (const d of dims) if (!Number.isSafeInteger(d) || d < 0) r.fail(`tensor '${name}' has dimension ${d}`);
  if (external) setData(externalRef(r, name, ext));
  return { name, dims, dataType, data, source: r.src };
}

/** TensorProto's repeated value fields: packed, a range read later; unpacked, the values now. */
function repeatedData(
  r: Reader,
  field: number,
  wire: number,
  end: number,
  data: DataRef,
  setData: (d: DataRef) => void,
): boolean {
  if (wire === WIRE_BYTES) {
    const stop = r.lengthEnd(end);
    setData({ kind: 'packed', field, offset: r.pos, length: stop - r.pos });
    r.pos = stop;
    return true;
  }
  const values = data.kind === 'values' ? (data.values as number[]) : [];
  if (field === 4 && wire === WIRE_FIXED32) values.push(r.float32(end));
  else if (field === 10 && wire === WIRE_FIXED64) values.push(r.float64(end));
  else if ((field === 5 || field === 7 || field === 11) && wire === WIRE_VARINT) values.push(r.varint(end));
  else r.fail(`tensor data field ${field} with wire type ${wire}`);
  if (data.kind !== 'values') setData({ kind: 'values', field, values });
  return true;
}

function externalRef(r: Reader, name: string, ext: ReadonlyMap<string, string>): DataRef {
  const location = ext.get('location');
  if (!location) r.fail(`tensor '${name}' is external data without a location`);
  const number = (key: string, fallback: number): number => {
    const text = ext.get(key);
    if (text === undefined) return fallback;
    if (!/^\d{1,15}$/.test(text)) r.fail(`tensor '${name}' has external ${key} '${text}'`);
    return Number(text);
  };
  return { kind: 'external', location, offset: number('offset', 0), length: number('length', -1) };
}

function keyValue(r: Reader, end: number, into: Map<string, string>): void {
  let key = '';
  let value = '';
  r.fields(end, (field, wire) => {
    if (field !== 1 && field !== 2) return false;
    expect(r, wire, WIRE_BYTES, 'a key or value');
    if (field === 1) key = r.string(end);
    else value = r.string(end);
    return true;
  });
  into.set(key, value);
}

const ATTRIBUTE_TYPES: Readonly<Record<number, Attribute['kind']>> = {
  1: 'float',
  2: 'int',
  3: 'string',
  4: 'tensor',
  6: 'floats',
  7: 'ints',
  8: 'strings',
};

function decodeAttribute(r: Reader, end: number): [string, Attribute] {
  let name = '';
  let type = 0;
  let f: number | undefined;
  let i: number | undefined;
  let s: string | undefined;
  let t: TensorRef | undefined;
  const floats: number[] = [];
  const ints: number[] = [];
  const strings: string[] = [];
  let seen: number | undefined;
  r.fields(end, (field, wire) => {
    if (field === 1) {
      expect(r, wire, WIRE_BYTES, 'attribute name');
      name = r.string(end);
    } else if (field === 20) {
      expect(r, wire, WIRE_VARINT, 'attribute type');
      type = r.varint(end);
    } else if (field === 2) {
      expect(r, wire, WIRE_FIXED32, 'attribute f');
      f = r.float32(end);
    } else if (field === 3) {
      expect(r, wire, WIRE_VARINT, 'attribute i');
      i = r.varint(end);
    } else if (field === 4) {
      expect(r, wire, WIRE_BYTES, 'attribute s');
      s = r.string(end);
    } else if (field === 5) {
      expect(r, wire, WIRE_BYTES, 'attribute t');
      t = decodeTensor(r, r.lengthEnd(end));
    } else if (field === 7) r.floats(wire, end, floats);
    else if (field === 8) r.varints(wire, end, ints);
    else if (field === 9) {
      expect(r, wire, WIRE_BYTES, 'attribute strings');
      strings.push(r.string(end));
    } else {
      if (field === 6 || field === 10 || field === 11 || field === 22) seen = field;
      return false;
    }
    seen ??= field;
    return true;
  });
  return [name, attribute(type, { f, i, s, t, floats, ints, strings, seen })];
}

/** The attribute's value by its declared type, or (files that omit the type) by the field present. */
function attribute(
  type: number,
  v: {
    f: number | undefined;
    i: number | undefined;
    s: string | undefined;
    t: TensorRef | undefined;
    floats: number[];
    ints: number[];
    strings: string[];
    seen: number | undefined;
  },
): Attribute {
  const byField: Readonly<Record<number, Attribute['kind']>> = {
    2: 'float',
    3: 'int',
    4: 'string',
    5: 'tensor',
    7: 'floats',
    8: 'ints',
    9: 'strings',
  };
  const kind = ATTRIBUTE_TYPES[type] ?? (type === 0 && v.seen !== undefined ? byField[v.seen] : undefined);
  switch (kind) {
    case 'float':
      return { kind, value: v.f ?? 0 };
    case 'int':
      return { kind, value: v.i ?? 0 };
    case 'string':
      return { kind, value: v.s ?? '' };
    case 'tensor':
      return v.t ? { kind, value: v.t } : { kind: 'other', type };
    case 'floats':
      return { kind, value: v.floats };
    case 'ints':
      return { kind, value: v.ints };
    case 'strings':
      return { kind, value: v.strings };
    default:
      return { kind: 'other', type };
  }
}

function decodeNode(r: Reader, end: number): OnnxNode {
  const inputs: string[] = [];
  const outputs: string[] = [];
  const attributes = new Map<string, Attribute>();
  let name = '';
  let opType = '';
  let domain = '';
  r.fields(end, (field, wire) => {
    if (field === 5) {
      expect(r, wire, WIRE_BYTES, 'attribute');
      const [key, value] = decodeAttribute(r, r.lengthEnd(end));
      attributes.set(key, value);
      return true;
    }
    if (field !== 1 && field !== 2 && field !== 3 && field !== 4 && field !== 7) return false;
    expect(r, wire, WIRE_BYTES, 'a node string');
    const s = r.string(end);
    if (field === 1) inputs.push(s);
    else if (field === 2) outputs.push(s);
    else if (field === 3) name = s;
    else if (field === 4) opType = s;
    else domain = s === 'ai.onnx' ? '' : s;
    return true;
  });
  return { name, opType, domain, inputs, outputs, attributes };
}

/** ValueInfoProto: name, and TypeProto.tensor_type's element type and shape. */
function decodeValueInfo(r: Reader, end: number): ValueInfo {
  let name = '';
  let elemType = 0;
  let shape: Dim[] | undefined;
  const message = (stop: number, visit: (field: number, wire: number) => boolean) =>
    r.fields(stop, (field, wire) => (wire === WIRE_BYTES || field === 1 ? visit(field, wire) : false));
  r.fields(end, (field, wire) => {
    if (field === 1 && wire === WIRE_BYTES) {
      name = r.string(end);
      return true;
    }
    if (field !== 2 || wire !== WIRE_BYTES) return false;
    message(r.lengthEnd(end), (typeField) => {
      if (typeField !== 1) return false; // sequence, map, optional: not a tensor
      message(r.lengthEnd(end), (tf, tw) => {
        if (tf === 1 && tw === WIRE_VARINT) elemType = r.varint(end);
        else if (tf === 2 && tw === WIRE_BYTES) shape = decodeShape(r, r.lengthEnd(end));
        else return false;
        return true;
      });
      return true;
    });
    return true;
  });
  return { name, elemType, shape };
}

function decodeShape(r: Reader, end: number): Dim[] {
  const dims: Dim[] = [];
  r.fields(end, (field, wire) => {
    if (field !== 1 || wire !== WIRE_BYTES) return false;
    if (dims.length >= MAX_RANK) r.fail(`a shape of rank above ${MAX_RANK}`);
    let dim: Dim;
    const stop = r.lengthEnd(end);
    r.fields(stop, (df, dw) => {
      if (df === 1 && dw === WIRE_VARINT) dim = r.varint(stop);
      else if (df === 2 && dw === WIRE_BYTES) dim = r.string(stop);
      else return false;
      return true;
    });
    dims.push(dim);
    return true;
  });
  return dims;
}

function decodeGraph(r: Reader, end: number): OnnxGraph {
  let name = '';
  const nodes: OnnxNode[] = [];
  const initializers: TensorRef[] = [];
  const inputs: ValueInfo[] = [];
  const outputs: ValueInfo[] = [];
  r.fields(end, (field, wire) => {
    if (wire !== WIRE_BYTES) return false;
    if (field === 1) nodes.push(decodeNode(r, r.lengthEnd(end)));
    else if (field === 2) name = r.string(end);
    else if (field === 5) initializers.push(decodeTensor(r, r.lengthEnd(end)));
    else if (field === 11) inputs.push(decodeValueInfo(r, r.lengthEnd(end)));
    else if (field === 12) outputs.push(decodeValueInfo(r, r.lengthEnd(end)));
    else if (field === 15) r.fail('a sparse initializer, which convlab does not import');
    else return false;
    return true;
  });
  return { name, nodes, initializers, inputs, outputs };
}

/** Decode a ModelProto from `src`; tensors' values stay in the file until read (tensor.ts). */
export function decodeModel(src: ByteSource): OnnxModel {
  const r = new Reader(src);
  let irVersion = 0;
  let producerName = '';
  let producerVersion = '';
  const opsets: { domain: string; version: number }[] = [];
  let graph: OnnxGraph | undefined;
  const end = src.length;
  r.fields(end, (field, wire) => {
    if (field === 1 && wire === WIRE_VARINT) irVersion = r.varint(end);
    else if (field === 2 && wire === WIRE_BYTES) producerName = r.string(end);
    else if (field === 3 && wire === WIRE_BYTES) producerVersion = r.string(end);
    else if (field === 7 && wire === WIRE_BYTES) {
      if (graph) r.fail('a second graph');
      graph = decodeGraph(r, r.lengthEnd(end));
    } else if (field === 8 && wire === WIRE_BYTES) {
      const stop = r.lengthEnd(end);
      let domain = '';
      let version = 0;
      r.fields(stop, (f, w) => {
        if (f === 1 && w === WIRE_BYTES) domain = r.string(stop);
        else if (f === 2 && w === WIRE_VARINT) version = r.varint(stop);
        else return false;
        return true;
      });
      opsets.push({ domain: domain === 'ai.onnx' ? '' : domain, version });
    } else return false;
    return true;
  });
  if (!graph) return r.fail('no graph (is this an ONNX model file?)');
  return { irVersion, producerName, producerVersion, opsets, graph };
}
