import { readFileSync } from 'node:fs';

/*
 * A small, bounded reader of the protobuf messages ONNX's backend node tests are made of (a
 * ModelProto of one node, and TensorProto inputs and outputs), enough to rebuild each test's node
 * with convlab's ops. Only the fields those files use are read; anything malformed throws.
 */

export interface TestTensor {
  readonly name: string;
  readonly dims: readonly number[];
  /** ONNX TensorProto.DataType: 1 float, 7 int64, 6 int32, 9 bool, ... */
  readonly dataType: number;
  readonly values: readonly number[];
}

export type TestAttr = number | string | readonly number[] | TestTensor;

export interface TestNode {
  readonly opType: string;
  readonly domain: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs: ReadonlyMap<string, TestAttr>;
}

export interface TestModel {
  readonly opset: number;
  readonly node: TestNode;
  readonly initializers: readonly TestTensor[];
  readonly inputs: readonly string[];
}

class Reader {
  pos = 0;
  constructor(readonly bytes: Uint8Array) {}
  get done(): boolean {
    return this.pos >= this.bytes.length;
  }
  varint(): bigint {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.pos >= this.bytes.length) throw new Error('truncated varint');
      const b = this.bytes[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return BigInt.asIntN(64, result);
    }
    throw new Error('varint too long');
  }
  int(): number {
    return Number(this.varint());
  }
  take(n: number): Uint8Array {
    if (n < 0 || this.pos + n > this.bytes.length) throw new Error('truncated field');
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  /** Each field as [number, wire type, value]: a varint, a fixed 4 or 8 bytes, or a length-delimited slice. */
  *fields(): Generator<[number, number, bigint | Uint8Array]> {
    while (!this.done) {
      const tag = this.int();
      const [field, wire] = [tag >>> 3, tag & 7];
      if (wire === 0) yield [field, wire, this.varint()];
      else if (wire === 1) yield [field, wire, this.take(8)];
      else if (wire === 2) yield [field, wire, this.take(this.int())];
      else if (wire === 5) yield [field, wire, this.take(4)];
      else throw new Error(`unsupported wire type ${wire}`);
    }
  }
}

const text = (b: bigint | Uint8Array) => new TextDecoder().decode(b as Uint8Array);
const f32 = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, 4).getFloat32(0, true);

/** Packed (length-delimited) or single varints. */
function varints(wire: number, v: bigint | Uint8Array): number[] {
  if (wire === 0) return [Number(v as bigint)];
  const r = new Reader(v as Uint8Array);
  const out: number[] = [];
  while (!r.done) out.push(r.int());
  return out;
}

function floats(wire: number, v: bigint | Uint8Array): number[] {
  const b = v as Uint8Array;
  if (wire === 5) return [f32(b)];
  return Array.from({ length: b.length / 4 }, (_, i) => f32(b.subarray(4 * i, 4 * i + 4)));
}

export function decodeTensor(bytes: Uint8Array): TestTensor {
  let name = '';
  let dataType = 0;
  const dims: number[] = [];
  const values: number[] = [];
  let raw: Uint8Array | undefined;
  for (const [field, wire, v] of new Reader(bytes).fields()) {
    if (field === 1) dims.push(...varints(wire, v));
    else if (field === 2) dataType = Number(v);
    else if (field === 4) values.push(...floats(wire, v));
    else if (field === 5 || field === 7) values.push(...varints(wire, v));
    else if (field === 8) name = text(v);
    else if (field === 9) raw = v as Uint8Array;
  }
  if (raw) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const size = { 1: 4, 6: 4, 7: 8, 2: 1, 3: 1, 9: 1, 11: 8 }[dataType];
    // Other element types (float16, unsigned 16-64 bit, strings) are left unread: no convlab op takes them.
    for (let o = 0; size && o < raw.length; o += size) {
      if (dataType === 1) values.push(view.getFloat32(o, true));
      else if (dataType === 6) values.push(view.getInt32(o, true));
      else if (dataType === 7) values.push(Number(view.getBigInt64(o, true)));
      else if (dataType === 11) values.push(view.getFloat64(o, true));
      else if (dataType === 3) values.push(view.getInt8(o));
      else values.push(view.getUint8(o));
    }
  }
  return { name, dims, dataType, values };
}

function decodeAttr(bytes: Uint8Array): [string, TestAttr] {
  let name = '';
  let value: TestAttr = [];
  const list: number[] = [];
  for (const [field, wire, v] of new Reader(bytes).fields()) {
    if (field === 1) name = text(v);
    else if (field === 2) value = f32(v as Uint8Array);
    else if (field === 3) value = Number(v);
    else if (field === 4) value = text(v);
    else if (field === 5) value = decodeTensor(v as Uint8Array);
    else if (field === 7) list.push(...floats(wire, v));
    else if (field === 8) list.push(...varints(wire, v));
  }
  return [name, list.length ? list : value];
}

function decodeNode(bytes: Uint8Array): TestNode {
  const inputs: string[] = [];
  const outputs: string[] = [];
  const attrs = new Map<string, TestAttr>();
  let opType = '';
  let domain = '';
  for (const [field, , v] of new Reader(bytes).fields()) {
    if (field === 1) inputs.push(text(v));
    else if (field === 2) outputs.push(text(v));
    else if (field === 4) opType = text(v);
    else if (field === 5) attrs.set(...decodeAttr(v as Uint8Array));
    else if (field === 7) domain = text(v);
  }
  return { opType, domain, inputs, outputs, attrs };
}

/** The model of one backend node test: its single node, initializers and graph input names (undefined for several nodes). */
export function readTestModel(path: string): TestModel | undefined {
  let opset = 0;
  const nodes: TestNode[] = [];
  const initializers: TestTensor[] = [];
  const inputs: string[] = [];
  for (const [field, , v] of new Reader(readFileSync(path)).fields()) {
    if (field === 8) {
      let domain = '';
      let version = 0;
      for (const [f, , x] of new Reader(v as Uint8Array).fields()) {
        if (f === 1) domain = text(x);
        if (f === 2) version = Number(x);
      }
      if (domain === '' || domain === 'ai.onnx') opset = version;
    }
    if (field !== 7) continue;
    for (const [f, , x] of new Reader(v as Uint8Array).fields()) {
      if (f === 1) nodes.push(decodeNode(x as Uint8Array));
      else if (f === 5) initializers.push(decodeTensor(x as Uint8Array));
      else if (f === 11) {
        for (const [g, , y] of new Reader(x as Uint8Array).fields()) if (g === 1) inputs.push(text(y));
      }
    }
  }
  // The `_expanded` tests spell a function op out in several nodes: those are not one node's test.
  return nodes.length === 1 ? { opset, node: nodes[0]!, initializers, inputs } : undefined;
}

export const readTensor = (path: string): TestTensor => decodeTensor(readFileSync(path));
