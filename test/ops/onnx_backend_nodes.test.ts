import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { supportedOps } from '../../src/import/convert.js';
import { convertModel, readWeights } from '../../src/import/onnx.js';
import {
  decodeModel,
  type OnnxModel,
  type OnnxNode,
  type TensorRef,
  type ValueInfo,
} from '../../src/import/proto.js';
import { memorySource } from '../../src/import/source.js';
import { typeName } from '../../src/import/tensor.js';
import { ConvlabError } from '../../src/ir/errors.js';
import { numel } from '../../src/ir/shape.js';
import { exportOnnx } from '../../src/onnx/export.js';
import { readTensor, type TestTensor } from './onnx_testdata.js';

/*
 * ONNX's backend node tests (Debian's libonnx-testdata: one node, its inputs and expected outputs
 * as protobuf files) through convlab's front-end and back: each test's model.onnx is decoded by
 * src/import, imported into the IR, exported back to ONNX by src/onnx and run by onnxruntime on the
 * test's input_0.pb, and the outputs must equal output_*.pb.
 *
 * convlab imports a model of one float image input whose first axis is the batch, so each test's
 * model is presented that way before it is imported, changing nothing the node computes: the first
 * input is the image (a 4-D one as it is, another fed flat as [N, 1, 1, size] and reshaped back to
 * its dims, its first axis staying the batch), and the test's further inputs become initializers of
 * the values in input_*.pb (shapes, pads, scales, operands: what a CNN's file holds as constants;
 * Concat's inputs, all computed, are fed together as the image and sliced apart). Optional outputs
 * convlab's op does not have (LayerNormalization's Mean, Dropout's mask, MaxPool's Indices) are not
 * compared; a test of an op unchanged since an opset below 11 is imported at 11 (UNCHANGED_SINCE).
 * A case convlab cannot take is skipped with the importer's own one-line reason, about that case (an
 * integer or sequence input, an attribute value convlab does not model, an op across the batch
 * axis, a training-mode node). Any other failure (a crash, a wrong value) fails the test.
 */

const ROOT = '/usr/share/libonnx-testdata/data/node';

/** TensorProto's packed field for an element type, for initializers given as values. */
const FIELD: Readonly<Record<number, number>> = { 1: 4, 6: 5, 7: 7, 11: 10 };
const nothing = memorySource(new Uint8Array(0), 'no bytes');

const initializer = (name: string, t: TestTensor): TensorRef => ({
  name,
  dims: t.dims,
  dataType: t.dataType,
  data: { kind: 'values', field: FIELD[t.dataType] ?? 7, values: t.values },
  source: nothing,
});

interface Case {
  readonly test: string;
  readonly op: string;
  /** The model as convlab imports it, and the batch to feed; or why the case is skipped. */
  readonly run: { readonly model: OnnxModel; readonly feed: { data: Float32Array; dims: number[] } } | string;
  readonly expected: readonly TestTensor[];
}

/**
 * ONNX versions an op only when its definition changes, so the node test of an op whose version in
 * force at opsets 11 to 21 is the one the test was written for is the same test at opset 11 (those
 * tests were generated at the lowest opset that has the op): the op's version in force at 11-21.
 */
const UNCHANGED_SINCE: Readonly<Record<string, number>> = {
  HardSigmoid: 6,
  GlobalAveragePool: 1,
  GlobalMaxPool: 1,
};

function atOpset11(m: OnnxModel): OnnxModel {
  const op = m.graph.nodes[0]!.opType;
  const own = m.opsets.find((o) => o.domain === '');
  const since = UNCHANGED_SINCE[op];
  if (!own || own.version >= 11 || since === undefined || own.version < since) return m;
  return { ...m, opsets: m.opsets.map((o) => (o === own ? { domain: '', version: 11 } : o)) };
}

/** The test's model with its first input as the image and its other inputs as initializers. */
function asImageModel(test: OnnxModel, given: readonly TestTensor[]): Case['run'] {
  let m = atOpset11(test);
  const initialized = new Set(m.graph.initializers.map((t) => t.name));
  let inputs = m.graph.inputs.filter((v) => !initialized.has(v.name));
  let first = given[0];
  if (!inputs.length) {
    // A node of no inputs (Constant) gives a constant, and a model computes from its image: the
    // image, fed zeros of the output's shape, is added to it, so the output is the node's value.
    const node = m.graph.nodes[0]!;
    const output = m.graph.outputs[0]!;
    const dims = output.shape ?? [];
    if (!dims.every((d): d is number => typeof d === 'number')) return 'its output has no static shape';
    const plus: OnnxNode = {
      ...node,
      name: 'plus_image',
      opType: 'Add',
      inputs: [node.outputs[0]!, 'zeros'],
      outputs: ['y'],
      attributes: new Map(),
    };
    const zeros = { name: 'zeros', elemType: 1, shape: dims };
    m = {
      ...m,
      graph: { ...m.graph, nodes: [node, plus], inputs: [zeros], outputs: [{ ...output, name: 'y' }] },
    };
    inputs = [zeros];
    first = { name: 'zeros', dims, dataType: 1, values: new Array<number>(numel(dims)).fill(0) };
  }
  if (inputs[0]!.elemType === 0 || !first) return 'its input is a sequence, not a tensor';
  if (first.dataType !== 1)
    return `its input is ${typeName(first.dataType)} (convlab's image input is float32)`;
  if (first.dims.length === 0) return 'its input is a scalar (an image batch has a batch axis)';
  if (m.graph.nodes[0]!.opType === 'Concat') return fedTogether(m, inputs, given);
  const constants = inputs.slice(1).map((v, i) => initializer(v.name, given[i + 1]!));
  const name = inputs[0]!.name;
  const feed = Float32Array.from(first.values);
  if (first.dims.length === 4) {
    return wrap(m, [...m.graph.nodes], { name, elemType: 1, shape: first.dims }, constants, feed);
  }
  const [batch, ...rest] = first.dims as [number, ...number[]];
  const shape = initializer('as_test_input_shape', {
    name: '',
    dims: [first.dims.length],
    dataType: 7,
    values: [0, ...rest],
  });
  const reshape: OnnxNode = {
    name: 'as_test_input',
    opType: 'Reshape',
    domain: '',
    inputs: ['image', shape.name],
    outputs: [name],
    attributes: new Map(),
  };
  const image = { name: 'image', elemType: 1, shape: [batch, 1, 1, numel(rest)] };
  return wrap(m, [reshape, ...m.graph.nodes], image, [...constants, shape], feed);
}

/**
 * Concat's inputs are all computed tensors: they are fed together as one image [N, 1, 1, sum of
 * their sizes per sample], each sliced back out and reshaped to its dims (their first axis the batch).
 */
function fedTogether(m: OnnxModel, inputs: readonly ValueInfo[], given: readonly TestTensor[]): Case['run'] {
  const batch = given[0]!.dims[0]!;
  if (given.some((t) => t.dataType !== 1 || t.dims[0] !== batch)) return 'its inputs differ in batch or type';
  const sizes = given.map((t) => numel(t.dims) / batch);
  const total = sizes.reduce((a, b) => a + b, 0);
  const feed = new Float32Array(batch * total);
  const nodes: OnnxNode[] = [];
  const constants: TensorRef[] = [];
  const ints = (name: string, values: number[]) => {
    constants.push(initializer(name, { name, dims: [values.length], dataType: 7, values }));
    return name;
  };
  let offset = 0;
  given.forEach((t, i) => {
    for (let b = 0; b < batch; b++)
      feed.set(t.values.slice(b * sizes[i]!, (b + 1) * sizes[i]!), b * total + offset);
    const part = `part_${i}`;
    const slice = [
      ints(`${part}_start`, [offset]),
      ints(`${part}_end`, [offset + sizes[i]!]),
      ints(`${part}_axis`, [3]),
    ];
    nodes.push(node('Slice', ['image', ...slice], part));
    nodes.push(node('Reshape', [part, ints(`${part}_dims`, [0, ...t.dims.slice(1)])], inputs[i]!.name));
    offset += sizes[i]!;
  });
  const image = { name: 'image', elemType: 1, shape: [batch, 1, 1, total] };
  return wrap(m, [...nodes, ...m.graph.nodes], image, constants, feed);
}

const node = (opType: string, inputs: string[], output: string): OnnxNode => ({
  name: output,
  opType,
  domain: '',
  inputs,
  outputs: [output],
  attributes: new Map(),
});

function wrap(
  m: OnnxModel,
  nodes: OnnxNode[],
  image: ValueInfo,
  constants: TensorRef[],
  data: Float32Array,
): Case['run'] {
  const graph = { ...m.graph, nodes, inputs: [image], initializers: [...m.graph.initializers, ...constants] };
  return { model: { ...m, graph }, feed: { data, dims: image.shape as number[] } };
}

/**
 * Import the model; a node's optional outputs convlab's op does not have (LayerNormalization's
 * Mean and InvStdDev, Dropout's mask, MaxPool's Indices) are dropped from the graph's outputs, and
 * the rest compared. Else the importer's one-line reason.
 */
function importable(run: Case['run']): Case['run'] {
  if (typeof run === 'string') return run;
  const node = run.model.graph.nodes.at(-1)!;
  let model: OnnxModel = run.model;
  for (;;) {
    try {
      convertModel(model);
      return { ...run, model };
    } catch (e) {
      if (!(e instanceof ConvlabError)) throw e;
      const missing = /^output '(.*)' is not produced by any node$/.exec(e.message)?.[1];
      if (!missing || node.outputs.indexOf(missing) < 1)
        return e.message.replace(/; convlab imports: .*$/, '');
      const outputs: ValueInfo[] = model.graph.outputs.filter((o) => o.name !== missing);
      model = { ...model, graph: { ...model.graph, outputs } };
    }
  }
}

function cases(): Case[] {
  if (!existsSync(ROOT)) return [];
  const imported = new Set(supportedOps());
  return readdirSync(ROOT)
    .sort()
    .flatMap((test): Case[] => {
      const dir = join(ROOT, test);
      const data = join(dir, 'test_data_set_0');
      if (!existsSync(join(dir, 'model.onnx')) || !existsSync(data)) return [];
      const m = decodeModel(memorySource(readFileSync(join(dir, 'model.onnx')), `${test}/model.onnx`));
      // One node of an op convlab imports as an IR node; the `_expanded` tests spell a function out in several.
      if (m.graph.nodes.length !== 1 || !imported.has(m.graph.nodes[0]!.opType)) return [];
      const given: TestTensor[] = [];
      for (let i = 0; existsSync(join(data, `input_${i}.pb`)); i++)
        given.push(readTensor(join(data, `input_${i}.pb`)));
      const expected = new Map(
        m.graph.outputs
          .map((o, i) => [o.name, join(data, `output_${i}.pb`)] as const)
          .filter(([, f]) => existsSync(f)),
      );
      const run = importable(asImageModel(m, given));
      return [
        {
          test,
          op: m.graph.nodes[0]!.opType,
          run,
          // The outputs compared, in the imported model's order (a Constant's is renamed 'y').
          expected:
            typeof run === 'string'
              ? []
              : run.model.graph.outputs.map((o, i) =>
                  readTensor(expected.get(o.name) ?? [...expected.values()][i]!),
                ),
        },
      ];
    });
}

const all = cases();

describe.skipIf(!existsSync(ROOT))(
  'ONNX backend node tests (libonnx-testdata) through import, export and onnxruntime',
  () => {
    for (const { test, run, expected } of all) {
      if (typeof run === 'string') {
        it.skip(`${test}: ${run}`, () => {});
        continue;
      }
      it(test, async () => {
        const imported = convertModel(run.model);
        const bytes = exportOnnx(imported.graph, { mode: 'infer', weights: readWeights(imported) });
        const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
        try {
          const feeds = { [session.inputNames[0]!]: new ort.Tensor('float32', run.feed.data, run.feed.dims) };
          const out = await session.run(feeds);
          expected.forEach((want, i) => {
            const got = out[session.outputNames[i]!]!;
            expect(got.dims, `${test} output ${i} shape`).toEqual(want.dims);
            const values = got.data as Float32Array;
            want.values.forEach((v, j) => {
              expect(
                Math.abs(values[j]! - v),
                `${test} output ${i}[${j}]: ${values[j]} vs ${v}`,
              ).toBeLessThanOrEqual(1e-4 + 1e-4 * Math.abs(v));
            });
          });
        } finally {
          await session.release();
        }
      });
    }

    // Upsample is not here: deprecated at opset 10, its one node test is at opset 9, which convlab does not import.
    it('cover every new op that has backend tests here', () => {
      const run = new Set(all.filter((c) => typeof c.run !== 'string').map((c) => c.op));
      for (const op of [
        'HardSigmoid',
        'Clip',
        'Sub',
        'Div',
        'Pow',
        'Sqrt',
        'Identity',
        'LayerNormalization',
        'Reshape',
        'Transpose',
        'Split',
        'Pad',
        'ReduceMean',
        'Resize',
        'GlobalAveragePool',
        'GlobalMaxPool',
        'Gemm',
        'MatMul',
        'Constant',
      ]) {
        expect(run.has(op), op).toBe(true);
      }
    });
  },
);
