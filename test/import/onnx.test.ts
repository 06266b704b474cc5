import { describe, expect, it } from 'vitest';
import { summariseGraph } from '../../src/analysis/summary.js';
import { type ImportedModel, importOnnx, readWeights } from '../../src/import/onnx.js';
import { memorySource } from '../../src/import/source.js';
import { ConvlabError } from '../../src/ir/errors.js';
import { exportOnnx, onnxModel } from '../../src/onnx/export.js';
import { encodeModel, type ModelProto, type NodeProto } from '../../src/onnx/proto.js';
import { buildModel } from '../../src/zoo/index.js';

/** Import the bytes of an .onnx file held in memory. */
const importBytes = (bytes: Uint8Array, options = {}): ImportedModel =>
  importOnnx(memorySource(bytes, 'model'), options);

/** The one-line ConvlabError an import fails with. */
function importError(bytes: Uint8Array, options = {}): string {
  try {
    importBytes(bytes, options);
  } catch (e) {
    expect(e).toBeInstanceOf(ConvlabError);
    const message = (e as Error).message;
    expect(message).not.toContain('\n');
    return message;
  }
  throw new Error('the import did not fail');
}

describe('convlab export -> import is the same model', () => {
  for (const name of ['resnet18', 'mobilenet_v2', 'shufflenet_v2_x1_0', 'densenet121', 'inception_v3']) {
    it(name, () => {
      const graph = buildModel(name, { aux: false });
      const bytes = exportOnnx(graph, { mode: 'infer', seed: 1 });
      const imported = importBytes(bytes);
      const [a, b] = [summariseGraph(graph), summariseGraph(imported.graph)];
      expect(b.totals.params).toBe(a.totals.params);
      expect(b.totals.macs).toBe(a.totals.macs);
      expect(b.totals.buffers).toBe(a.totals.buffers);
      // Parameters keep their names and values.
      const original = onnxModel(graph, { mode: 'infer', seed: 1 }).graph.initializers;
      const weights = readWeights(imported);
      for (const t of original.filter((t) => t.data instanceof Float32Array && t.name.endsWith('.weight'))) {
        const got = weights.get(t.name) as Float32Array;
        // Compared as bytes: a deep equality over millions of floats takes minutes.
        expect(
          Buffer.compare(
            Buffer.from(got.buffer, got.byteOffset, got.byteLength),
            Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength),
          ),
          t.name,
        ).toBe(0);
      }
    });
  }
});

/** A tiny model written with convlab's encoder, one node at a time, for the error cases. */
function tinyModel(nodes: NodeProto[], edit: (m: ModelProto) => ModelProto = (m) => m): Uint8Array {
  const base = onnxModel(buildModel('resnet18'), { mode: 'infer' });
  const model: ModelProto = {
    ...base,
    graph: {
      name: 'tiny',
      nodes,
      initializers: [],
      inputs: [{ name: 'x', elemType: 1, shape: ['N', 3, 8, 8] }],
      outputs: [{ name: 'y', elemType: 1, shape: ['N', 3, 8, 8] }],
    },
  };
  return encodeModel(edit(model));
}

const relu = (op = 'Relu', domain?: string): NodeProto => ({
  name: 'act',
  opType: op,
  inputs: ['x'],
  outputs: ['y'],
  attributes: {},
  ...(domain && { domain }),
});

describe('bad input fails with one line', () => {
  it('imports a one-node model', () => {
    expect(importBytes(tinyModel([relu()])).graph.nodes.map((n) => n.op)).toEqual(['input', 'relu']);
  });

  it('an unsupported op names the op, the node, its domain and what is supported', () => {
    const message = importError(tinyModel([relu('NonMaxSuppression')]));
    expect(message).toMatch(/unsupported ONNX op 'NonMaxSuppression' \(node 'act', domain 'ai.onnx'\).*Conv/);
  });

  it('a custom domain', () => {
    expect(importError(tinyModel([relu('Relu', 'com.example')]))).toMatch(
      /com\.example.*custom operator set/,
    );
  });

  it('a symbolic spatial dimension asks for --input, and --input pins it', () => {
    const bytes = tinyModel([relu()], (m) => ({
      ...m,
      graph: { ...m.graph, inputs: [{ name: 'x', elemType: 1, shape: ['N', 3, 'H', 'W'] }] },
    }));
    expect(importError(bytes)).toMatch(/symbolic dimension 'H'.*--input CxHxW/);
    expect(importBytes(bytes, { input: [3, 32, 32] }).graph.nodes[0]!.attrs['shape']).toEqual([3, 32, 32]);
  });

  it('an opset outside 11..21', () => {
    const bytes = tinyModel([relu()], (m) => ({ ...m, opsetImports: [{ domain: '', version: 7 }] }));
    expect(importError(bytes)).toMatch(/opset 7; convlab imports opsets 11 to 21/);
  });

  it('a file over 2 GiB without external data', () => {
    const huge = { label: 'model', length: 3 * 2 ** 30, read: () => new Uint8Array(0) };
    expect(() => importOnnx(huge)).toThrow(/3\.0 GiB.*external data/);
  });

  it('every truncation of a real model', () => {
    const bytes = exportOnnx(buildModel('resnet20'), { mode: 'infer' });
    for (let cut = 0; cut < bytes.length; cut += 9973)
      expect(importError(bytes.subarray(0, cut))).toBeTruthy();
  });
});
