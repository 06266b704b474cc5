import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeModel, Message, type ModelProto } from '../../src/onnx/proto.js';
import { tempDir } from '../support/tmp.js';
import { PYTHON } from './python.js';

const dir = tempDir('onnx-proto');

describe('protobuf encoder', () => {
  const hex = (m: Message) => Buffer.from(m.encode()).toString('hex');

  it('writes varints, negative int64, floats, strings and packed fields as protobuf does', () => {
    expect(hex(new Message().varint(1, 150))).toBe('089601');
    expect(hex(new Message().varint(1, 0))).toBe('0800');
    // int64 -1: ten bytes of two's complement.
    expect(hex(new Message().varint(3, -1))).toBe('18ffffffffffffffffff01');
    expect(hex(new Message().varint(1, 2 ** 40))).toBe('08808080808020');
    expect(hex(new Message().float(2, 1.5))).toBe('150000c03f');
    expect(hex(new Message().string(2, 'testing'))).toBe('120774657374696e67');
    expect(hex(new Message().packedVarints(4, [3, 270, 86942]))).toBe('2206038e029ea705');
    expect(hex(new Message().packedVarints(4, []))).toBe('');
    expect(hex(new Message().message(3, new Message().varint(1, 150)))).toBe('1a03089601');
  });

  it('encodes a model that python3-onnx parses back field for field', () => {
    const model: ModelProto = {
      irVersion: 8,
      opsetImports: [{ domain: '', version: 17 }],
      producerName: 'convlab',
      producerVersion: '0.1.0',
      docString: 'a test',
      metadata: { model: 'tiny' },
      graph: {
        name: 'tiny',
        nodes: [
          {
            name: 'n',
            opType: 'Reshape',
            inputs: ['x', 'shape'],
            outputs: ['y'],
            attributes: { allowzero: { i: 0 } },
          },
          {
            name: 'm',
            opType: 'LeakyRelu',
            inputs: ['y'],
            outputs: ['z'],
            attributes: { alpha: { f: 0.25 } },
          },
        ],
        initializers: [{ name: 'shape', dims: [2], data: BigInt64Array.from([0n, -1n]) }],
        inputs: [{ name: 'x', elemType: 1, shape: ['N', 2, 3] }],
        outputs: [{ name: 'z', elemType: 1, shape: ['N', 6] }],
      },
    };
    const path = join(dir, 'tiny.onnx');
    writeFileSync(path, encodeModel(model));
    const script = `
import json, sys, onnx
from onnx import helper, numpy_helper
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m, full_check=True)
g = m.graph
print(json.dumps({
  "ir": m.ir_version, "producer": [m.producer_name, m.producer_version], "doc": m.doc_string,
  "meta": {p.key: p.value for p in m.metadata_props}, "opset": [[o.domain, o.version] for o in m.opset_import],
  "nodes": [[n.name, n.op_type, list(n.input), list(n.output),
             {a.name: helper.get_attribute_value(a) for a in n.attribute}] for n in g.node],
  "init": [[t.name, list(t.dims), numpy_helper.to_array(t).tolist()] for t in g.initializer],
  "inputs": [[v.name, v.type.tensor_type.elem_type, [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]] for v in g.input],
  "outputs": [[v.name, [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]] for v in g.output],
}))`;
    const p = spawnSync(PYTHON, ['-c', script, path], { encoding: 'utf8' });
    expect(p.stderr).toBe('');
    expect(JSON.parse(p.stdout)).toEqual({
      ir: 8,
      producer: ['convlab', '0.1.0'],
      doc: 'a test',
      meta: { model: 'tiny' },
      opset: [['', 17]],
      nodes: [
        ['n', 'Reshape', ['x', 'shape'], ['y'], { allowzero: 0 }],
        ['m', 'LeakyRelu', ['y'], ['z'], { alpha: 0.25 }],
      ],
      init: [['shape', [2], [0, -1]]],
      inputs: [['x', 1, ['N', 2, 3]]],
      outputs: [['z', ['N', 6]]],
    });
  });
});
