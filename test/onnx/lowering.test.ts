import { execFile, spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { spatialPyramidPool } from '../../src/blocks/spp.js';
import {
  adaptiveAvgpool2d,
  adaptiveMaxpool2d,
  add,
  avgpool2d,
  batchnorm2d,
  buildModel,
  channelShuffle,
  concat,
  conv2d,
  dropout,
  flatten,
  type Graph,
  GraphBuilder,
  hardswish,
  l2norm,
  linear,
  listModels,
  maxpool2d,
  mul,
  opKinds,
  padChannels,
  relu,
  relu6,
  resolveGraph,
  sigmoid,
  slice,
  softmax,
  type Tensor,
} from '../../src/index.js';
import { initialWeights, Rng, type WeightData } from '../../src/ir/init.js';
import { exportOnnx, onnxModel } from '../../src/onnx/export.js';
import { encodeModel, Message, type ModelProto } from '../../src/onnx/proto.js';
import { openSession, runBatch, sessionOptions } from '../../src/runtime/session.js';
import { golden } from '../support/golden.js';
import { tempDir } from '../support/tmp.js';

const PYTHON = '/usr/bin/python3';
// In memory where there is a tmpfs: a VGG export is half a gigabyte, written twice per test.
const dir = tempDir('onnx', { inMemory: true });

/** What Debian's python3-onnx reads from a file: the checker's verdict and the graph's interface. */
interface Checked {
  error: string | null;
  ir: number;
  opset: number[];
  initializers: string[];
  inputs: [string, (number | string)[]][];
  outputs: [string, (number | string)[]][];
  ops: string[];
}

const CHECK = `
import json, sys, onnx
out = []
for path in sys.argv[1:]:
    m = onnx.load(path)
    try:
        onnx.checker.check_model(m, full_check=True)
        error = None
    except Exception as e:
        error = str(e)
    dims = lambda v: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
    out.append({
        "error": error, "ir": m.ir_version, "opset": [o.version for o in m.opset_import],
        "initializers": [t.name for t in m.graph.initializer],
        "inputs": [[v.name, dims(v)] for v in m.graph.input],
        "outputs": [[v.name, dims(v)] for v in m.graph.output],
        "ops": sorted({n.op_type for n in m.graph.node}),
    })
print(json.dumps(out))
`;

/**
 * onnx.checker.check_model (full check: shape inference included) on each file, in one python
 * process, run asynchronously so the test worker keeps answering vitest while python reads a VGG.
 */
async function check(...files: Uint8Array[]): Promise<Checked[]> {
  const paths = files.map((bytes, i) => {
    const path = join(dir, `check-${process.pid}-${i}.onnx`);
    writeFileSync(path, bytes);
    return path;
  });
  try {
    const { stdout } = await promisify(execFile)(PYTHON, ['-c', CHECK, ...paths], { maxBuffer: 64 << 20 });
    return JSON.parse(stdout) as Checked[];
  } catch (e) {
    throw new Error(
      `python3-onnx failed (is python3-onnx installed?): ${(e as { stderr?: string }).stderr ?? e}`,
    );
  } finally {
    for (const path of paths) rmSync(path, { force: true });
  }
}

// --- The protobuf encoder ---------------------------------------------------------------------------

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

// --- Every op's lowering against an independent reference -------------------------------------------

/** A dense NCHW (or NF) tensor for the reference implementations. */
interface T {
  shape: number[];
  data: Float32Array;
}

const zeros = (shape: number[]): T => ({ shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });

function randomT(shape: number[], seed: number): T {
  const rng = new Rng(seed, 'test');
  const t = zeros(shape);
  for (let i = 0; i < t.data.length; i++) t.data[i] = rng.normal();
  return t;
}

const at = (t: T, n: number, c: number, h: number, w: number): number =>
  t.data[((n * t.shape[1]! + c) * t.shape[2]! + h) * t.shape[3]! + w]!;

function map4(shape: number[], f: (n: number, c: number, h: number, w: number) => number): T {
  const t = zeros(shape);
  let i = 0;
  for (let n = 0; n < shape[0]!; n++)
    for (let c = 0; c < shape[1]!; c++)
      for (let h = 0; h < shape[2]!; h++) for (let w = 0; w < shape[3]!; w++) t.data[i++] = f(n, c, h, w);
  return t;
}

/** PyTorch's output length of a window, written out independently of src/ops/window.ts. */
function outLength(
  L: number,
  k: number,
  s: number,
  p0: number,
  p1: number,
  d: number,
  ceil: boolean,
): number {
  const eff = d * (k - 1) + 1;
  if (!ceil) return Math.floor((L + p0 + p1 - eff) / s) + 1;
  let o = Math.ceil((L + p0 + p1 - eff) / s) + 1;
  if ((o - 1) * s >= L + p0) o--; // the last window must start inside the input or its left padding
  return o;
}

interface ConvRef {
  w: T;
  b?: T;
  stride: [number, number];
  pad: [number, number, number, number];
  dil: [number, number];
  groups: number;
}

function convRef(x: T, c: ConvRef): T {
  const [N, , H, W] = x.shape as [number, number, number, number];
  const [O, Cg, KH, KW] = c.w.shape as [number, number, number, number];
  const Ho = outLength(H, KH, c.stride[0], c.pad[0], c.pad[2], c.dil[0], false);
  const Wo = outLength(W, KW, c.stride[1], c.pad[1], c.pad[3], c.dil[1], false);
  const perGroupOut = O / c.groups;
  return map4([N, O, Ho, Wo], (n, o, i, j) => {
    let s = c.b ? c.b.data[o]! : 0;
    const g = Math.floor(o / perGroupOut);
    for (let ci = 0; ci < Cg; ci++)
      for (let u = 0; u < KH; u++)
        for (let v = 0; v < KW; v++) {
          const h = i * c.stride[0] - c.pad[0] + u * c.dil[0];
          const w = j * c.stride[1] - c.pad[1] + v * c.dil[1];
          if (h < 0 || h >= H || w < 0 || w >= W) continue;
          s += at(x, n, g * Cg + ci, h, w) * c.w.data[((o * Cg + ci) * KH + u) * KW + v]!;
        }
    return s;
  });
}

interface PoolRef {
  k: [number, number];
  s: [number, number];
  pad: [number, number, number, number];
  dil?: [number, number];
  ceil: boolean;
  countIncludePad?: boolean;
}

/** PyTorch's max_pool2d and avg_pool2d (divisor rules of aten's AvgPool2d kernel), any padding. */
function poolRef(x: T, kind: 'max' | 'avg', p: PoolRef): T {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const dil = p.dil ?? [1, 1];
  const Ho = outLength(H, p.k[0], p.s[0], p.pad[0], p.pad[2], dil[0], p.ceil);
  const Wo = outLength(W, p.k[1], p.s[1], p.pad[1], p.pad[3], dil[1], p.ceil);
  return map4([N, C, Ho, Wo], (n, c, i, j) => {
    const h0 = i * p.s[0] - p.pad[0];
    const w0 = j * p.s[1] - p.pad[1];
    if (kind === 'max') {
      let m = Number.NEGATIVE_INFINITY;
      for (let u = 0; u < p.k[0]; u++)
        for (let v = 0; v < p.k[1]; v++) {
          const h = h0 + u * dil[0];
          const w = w0 + v * dil[1];
          if (h >= 0 && h < H && w >= 0 && w < W) m = Math.max(m, at(x, n, c, h, w));
        }
      return m;
    }
    const h1 = Math.min(h0 + p.k[0], H + p.pad[2]);
    const w1 = Math.min(w0 + p.k[1], W + p.pad[3]);
    const poolSize = (h1 - h0) * (w1 - w0);
    let s = 0;
    let valid = 0;
    for (let h = Math.max(h0, 0); h < Math.min(h1, H); h++)
      for (let w = Math.max(w0, 0); w < Math.min(w1, W); w++) {
        s += at(x, n, c, h, w);
        valid++;
      }
    return s / (p.countIncludePad ? poolSize : valid);
  });
}

function adaptiveRef(x: T, kind: 'max' | 'avg', out: [number, number]): T {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  return map4([N, C, out[0], out[1]], (n, c, i, j) => {
    const [h0, h1] = [Math.floor((i * H) / out[0]), Math.ceil(((i + 1) * H) / out[0])];
    const [w0, w1] = [Math.floor((j * W) / out[1]), Math.ceil(((j + 1) * W) / out[1])];
    let m = Number.NEGATIVE_INFINITY;
    let s = 0;
    for (let h = h0; h < h1; h++)
      for (let w = w0; w < w1; w++) {
        m = Math.max(m, at(x, n, c, h, w));
        s += at(x, n, c, h, w);
      }
    return kind === 'max' ? m : s / ((h1 - h0) * (w1 - w0));
  });
}

const flat = (x: T): T => ({ shape: [x.shape[0]!, x.data.length / x.shape[0]!], data: x.data });

/** Concatenation along channels (or features): each sample's pieces one after another. */
function concatRef(xs: T[]): T {
  const N = xs[0]!.shape[0]!;
  const per = xs.map((x) => x.data.length / N);
  const out = zeros([N, xs.reduce((s, x) => s + x.shape[1]!, 0), ...xs[0]!.shape.slice(2)]);
  let offset = 0;
  for (let n = 0; n < N; n++)
    for (const [k, x] of xs.entries()) {
      out.data.set(x.data.subarray(n * per[k]!, (n + 1) * per[k]!), offset);
      offset += per[k]!;
    }
  return out;
}

const elementwise = (x: T, f: (v: number) => number): T => ({ shape: x.shape, data: x.data.map(f) });

/** Build a one-input graph, export it, run it in onnxruntime at the batch of `x`, return output 0. */
async function runGraph(
  build: (x: Tensor) => Tensor,
  x: T,
  options: { weights?: (w: Map<string, WeightData>) => void; mode?: 'infer' | 'train' } = {},
): Promise<{ out: T; weights: Map<string, WeightData>; graph: Graph }> {
  const b = new GraphBuilder('t', 'test');
  b.output(build(b.input(x.shape.slice(1) as [number, number, number])));
  const graph = b.build();
  const weights = initialWeights(resolveGraph(graph), 7);
  // Random values for everything, BatchNorm statistics included, so no parameter is trivially 0 or 1.
  let k = 0;
  for (const [name, t] of weights) {
    if (t instanceof Float32Array) weights.set(name, randomT([t.length], 100 + k++).data);
  }
  options.weights?.(weights);
  const bytes = exportOnnx(graph, { mode: options.mode ?? 'infer', weights });
  const session = await openSession(bytes);
  const outputs = await runBatch(session, x.data, x.shape);
  await session.release();
  const first = outputs.values().next().value!;
  return { out: { shape: [...first.shape], data: first.data }, weights, graph };
}

const param = (w: Map<string, WeightData>, name: string, shape: number[]): T => ({
  shape,
  data: w.get(name) as Float32Array,
});

function expectClose(actual: T, expected: T, tolerance = 1e-5): void {
  expect(actual.shape).toEqual(expected.shape);
  let worst = 0;
  let scale = 1e-6;
  for (let i = 0; i < expected.data.length; i++) {
    worst = Math.max(worst, Math.abs(actual.data[i]! - expected.data[i]!));
    scale = Math.max(scale, Math.abs(expected.data[i]!));
  }
  expect(worst / scale).toBeLessThan(tolerance);
}

describe('every op lowers to ONNX that computes what the op means', () => {
  it('every registered op has a lowering covered below', () => {
    expect(opKinds()).toEqual(
      [
        'adaptive_avgpool2d',
        'adaptive_maxpool2d',
        'add',
        'avgpool2d',
        'batchnorm2d',
        'channel_shuffle',
        'concat',
        'conv2d',
        'dropout',
        'flatten',
        'hardswish',
        'input',
        'l2norm',
        'linear',
        'maxpool2d',
        'mul',
        'pad_channels',
        'relu',
        'relu6',
        'sigmoid',
        'slice',
        'softmax',
      ].sort(),
    );
  });

  const x = randomT([2, 4, 9, 7], 1);

  it('conv2d: stride, asymmetric padding, dilation, groups, bias', async () => {
    const cases: [string, Parameters<typeof conv2d>[1], ConvRef['stride'], ConvRef['pad'], ConvRef['dil']][] =
      [
        ['plain 3x3', { out: 6, kernel: 3, padding: 1 }, [1, 1], [1, 1, 1, 1], [1, 1]],
        [
          'asymmetric padding, strided',
          { out: 4, kernel: [3, 2], stride: [2, 1], padding: [0, 1, 2, 0], bias: false },
          [2, 1],
          [0, 1, 2, 0],
          [1, 1],
        ],
        [
          'dilated, grouped',
          { out: 6, kernel: 3, dilation: 2, groups: 2, padding: 2 },
          [1, 1],
          [2, 2, 2, 2],
          [2, 2],
        ],
        ['depthwise', { out: 4, kernel: 3, groups: 4, stride: 2, padding: 1 }, [2, 2], [1, 1, 1, 1], [1, 1]],
      ];
    for (const [, attrs, stride, pad, dil] of cases) {
      const { out, weights } = await runGraph((t) => conv2d(t, attrs, 'conv'), x);
      const groups = attrs.groups ?? 1;
      const k = typeof attrs.kernel === 'number' ? [attrs.kernel, attrs.kernel] : attrs.kernel;
      const w = param(weights, 'conv.weight', [attrs.out, 4 / groups, k[0]!, k[1]!]);
      const b = attrs.bias === false ? undefined : param(weights, 'conv.bias', [attrs.out]);
      expectClose(out, convRef(x, { w, ...(b ? { b } : {}), stride, pad, dil, groups }));
    }
  });

  it('batchnorm2d at inference: (x - mean) / sqrt(var + eps) * weight + bias', async () => {
    const { out, weights } = await runGraph((t) => batchnorm2d(t, { eps: 1e-3 }, 'bn'), x, {
      weights: (w) => w.set('bn.running_var', new Float32Array([0.5, 1, 2, 3])),
    });
    const g = (p: string) => weights.get(`bn.${p}`) as Float32Array;
    expectClose(
      out,
      map4(
        x.shape,
        (n, c, h, w) =>
          ((at(x, n, c, h, w) - g('running_mean')[c]!) / Math.sqrt(g('running_var')[c]! + 1e-3)) *
            g('weight')[c]! +
          g('bias')[c]!,
      ),
    );
  });

  it('batchnorm2d in training: batch statistics, running statistics as extra outputs', async () => {
    const b = new GraphBuilder('t', 'test');
    b.output(batchnorm2d(b.input([4, 9, 7]), {}, 'bn'));
    const model = onnxModel(b.build(), { mode: 'train' });
    // The fused kernel normalises with the batch's own statistics, computed in the graph because
    // backward needs them; the updated running statistics are outputs for the training step to keep.
    const bn = model.graph.nodes.find((n) => n.opType === 'BatchNormalization')!;
    expect(bn.attributes['training_mode']).toBeUndefined();
    expect(model.graph.outputs.map((o) => o.name)).toEqual([
      'bn',
      'next/bn.running_mean',
      'next/bn.running_var',
      'next/bn.num_batches_tracked',
    ]);
    const { out } = await runGraph((t) => batchnorm2d(t, {}, 'bn'), x, {
      mode: 'train',
      weights: (w) => {
        w.set('bn.weight', new Float32Array(4).fill(1));
        w.set('bn.bias', new Float32Array(4));
      },
    });
    const mean = [0, 1, 2, 3].map((c) => {
      let s = 0;
      for (let n = 0; n < 2; n++)
        for (let h = 0; h < 9; h++) for (let w = 0; w < 7; w++) s += at(x, n, c, h, w);
      return s / (2 * 63);
    });
    const variance = [0, 1, 2, 3].map((c) => {
      let s = 0;
      for (let n = 0; n < 2; n++)
        for (let h = 0; h < 9; h++) for (let w = 0; w < 7; w++) s += (at(x, n, c, h, w) - mean[c]!) ** 2;
      return s / (2 * 63);
    });
    expectClose(
      out,
      map4(x.shape, (n, c, h, w) => (at(x, n, c, h, w) - mean[c]!) / Math.sqrt(variance[c]! + 1e-5)),
    );
  });

  it('maxpool2d: padding, dilation and ceil_mode, including a window PyTorch drops', async () => {
    const cases: PoolRef[] = [
      { k: [3, 3], s: [2, 2], pad: [1, 1, 1, 1], ceil: false },
      { k: [3, 3], s: [2, 2], pad: [0, 0, 0, 0], ceil: true },
      { k: [2, 2], s: [3, 3], pad: [1, 1, 1, 1], ceil: true },
      { k: [3, 2], s: [2, 1], pad: [0, 1, 1, 0], ceil: true },
      { k: [3, 3], s: [1, 2], pad: [1, 1, 1, 1], dil: [2, 1], ceil: false },
      { k: [1, 1], s: [2, 2], pad: [0, 0, 0, 0], ceil: false },
    ];
    for (const input of [x, randomT([2, 3, 8, 6], 8)])
      for (const p of cases) {
        const attrs = {
          kernel: p.k,
          stride: p.s,
          padding: p.pad,
          dilation: p.dil ?? [1, 1],
          ceilMode: p.ceil,
        } as const;
        const { out } = await runGraph((t) => maxpool2d(t, attrs, 'pool'), input);
        expectClose(out, poolRef(input, 'max', p));
      }
  });

  it('avgpool2d: count_include_pad with and without ceil_mode, asymmetric padding', async () => {
    const shapes: PoolRef[] = [
      { k: [3, 3], s: [2, 2], pad: [1, 1, 1, 1], ceil: false },
      { k: [3, 3], s: [2, 2], pad: [1, 1, 1, 1], ceil: true },
      { k: [2, 2], s: [2, 2], pad: [0, 0, 0, 0], ceil: true },
      { k: [3, 3], s: [1, 1], pad: [1, 1, 1, 1], ceil: false },
      { k: [3, 2], s: [2, 3], pad: [1, 0, 0, 1], ceil: true },
    ];
    // On 8x6 the last ceil_mode window overhangs the padding: PyTorch does not count the overhang.
    for (const input of [x, randomT([2, 3, 8, 6], 8)])
      for (const p of shapes) {
        for (const countIncludePad of [true, false]) {
          const attrs = {
            kernel: p.k,
            stride: p.s,
            padding: p.pad,
            ceilMode: p.ceil,
            countIncludePad,
          } as const;
          const { out } = await runGraph((t) => avgpool2d(t, attrs, 'pool'), input);
          expectClose(out, poolRef(input, 'avg', { ...p, countIncludePad }));
        }
      }
  });

  it('adaptive pooling: global, uniform bins, and PyTorch bins of unequal size', async () => {
    const sizes: [number, number][] = [
      [1, 1],
      [3, 7], // H uneven, W identity
      [4, 3], // both uneven
      [2, 2],
      [6, 5], // output larger than half the input: overlapping bins
      [9, 1],
    ];
    const even = randomT([2, 3, 8, 6], 2);
    for (const size of sizes) {
      for (const [kind, op] of [
        ['max', adaptiveMaxpool2d],
        ['avg', adaptiveAvgpool2d],
      ] as const) {
        expectClose(
          (await runGraph((t) => op(t, { output: size }, 'pool'), x)).out,
          adaptiveRef(x, kind, size),
        );
      }
    }
    for (const size of [
      [4, 3],
      [2, 6],
      [4, 4],
    ] as [number, number][]) {
      expectClose(
        (await runGraph((t) => adaptiveAvgpool2d(t, { output: size }, 'pool'), even)).out,
        adaptiveRef(even, 'avg', size),
      );
    }
  });

  it('spatial pyramid pooling: levels 4, 2, 1 over a 13x13 map', async () => {
    const m = randomT([2, 3, 13, 13], 3);
    const { out } = await runGraph((t) => spatialPyramidPool(t, 'spp', [4, 2, 1]), m);
    expectClose(out, concatRef([4, 2, 1].map((n) => flat(adaptiveRef(m, 'max', [n, n])))));
  });

  it('linear and flatten: Flatten then Gemm with transB', async () => {
    const { out, weights } = await runGraph((t) => linear(flatten(t, 'flatten'), { out: 5 }, 'fc'), x);
    const W = weights.get('fc.weight') as Float32Array;
    const B = weights.get('fc.bias') as Float32Array;
    const f = flat(x);
    const F = f.shape[1]!;
    const ref = zeros([2, 5]);
    for (let n = 0; n < 2; n++)
      for (let o = 0; o < 5; o++) {
        let s = B[o]!;
        for (let i = 0; i < F; i++) s += f.data[n * F + i]! * W[o * F + i]!;
        ref.data[n * 5 + o] = s;
      }
    expectClose(out, ref);
  });

  it('add, mul with broadcasting (squeeze-and-excitation), concat and slice', async () => {
    const { out } = await runGraph((t) => {
      const a = slice(t, { start: 0, end: 2 }, 'a');
      const gate = adaptiveAvgpool2d(slice(t, { start: 2, end: 4 }, 'b'), { output: 1 }, 'squeeze');
      return concat(
        [add(a, gate, 'add'), mul(a, gate, 'mul'), slice(t, { start: 1, end: 3 }, 'c')],
        {},
        'cat',
      );
    }, x);
    const gate = adaptiveRef(
      map4([2, 2, 9, 7], (n, c, h, w) => at(x, n, c + 2, h, w)),
      'avg',
      [1, 1],
    );
    const a = map4([2, 2, 9, 7], (n, c, h, w) => at(x, n, c, h, w));
    expectClose(
      out,
      concatRef([
        map4(a.shape, (n, c, h, w) => at(a, n, c, h, w) + at(gate, n, c, 0, 0)),
        map4(a.shape, (n, c, h, w) => at(a, n, c, h, w) * at(gate, n, c, 0, 0)),
        map4([2, 2, 9, 7], (n, c, h, w) => at(x, n, c + 1, h, w)),
      ]),
    );
  });

  it('channel_shuffle: output channel j*g + i is input channel i*(C/g) + j', async () => {
    const c = randomT([3, 12, 2, 3], 4);
    const { out } = await runGraph((t) => channelShuffle(t, { groups: 3 }, 'shuffle'), c);
    expectClose(
      out,
      map4(c.shape, (n, ch, h, w) => at(c, n, (ch % 3) * 4 + Math.floor(ch / 3), h, w)),
    );
  });

  it('pad_channels: zero channels before and after', async () => {
    const { out } = await runGraph((t) => padChannels(t, { before: 2, after: 3 }, 'pad'), x);
    expectClose(
      out,
      map4([2, 9, 9, 7], (n, c, h, w) => (c >= 2 && c < 6 ? at(x, n, c - 2, h, w) : 0)),
    );
  });

  it('l2norm: x / sqrt(sum_c x^2 + eps), with and without a learnable scale', async () => {
    const norm = (n: number, h: number, w: number, eps: number) => {
      let s = 0;
      for (let c = 0; c < 4; c++) s += at(x, n, c, h, w) ** 2;
      return Math.sqrt(s + eps);
    };
    expectClose(
      (await runGraph((t) => l2norm(t, { eps: 0.5 }, 'norm'), x)).out,
      map4(x.shape, (n, c, h, w) => at(x, n, c, h, w) / norm(n, h, w, 0.5)),
    );
    const { out, weights } = await runGraph((t) => l2norm(t, { scale: true }, 'norm'), x);
    const scale = weights.get('norm.weight') as Float32Array;
    expectClose(
      out,
      map4(x.shape, (n, c, h, w) => (at(x, n, c, h, w) / norm(n, h, w, 1e-10)) * scale[c]!),
    );
  });

  it('softmax over classes', async () => {
    const { out } = await runGraph((t) => softmax(flatten(t, 'flatten'), {}, 'softmax'), x);
    const f = flat(x);
    const F = f.shape[1]!;
    const ref = zeros(f.shape);
    for (let n = 0; n < 2; n++) {
      const row = f.data.subarray(n * F, (n + 1) * F);
      const m = Math.max(...row);
      const sum = row.reduce((s, v) => s + Math.exp(v - m), 0);
      for (let i = 0; i < F; i++) ref.data[n * F + i] = Math.exp(row[i]! - m) / sum;
    }
    expectClose(out, ref);
  });

  it('activations: relu, relu6, sigmoid, hardswish; dropout is the identity at inference', async () => {
    const big = elementwise(x, (v) => v * 5);
    const cases: [(t: Tensor) => Tensor, (v: number) => number][] = [
      [(t) => relu(t, 'act'), (v) => Math.max(v, 0)],
      [(t) => relu6(t, 'act'), (v) => Math.min(Math.max(v, 0), 6)],
      [(t) => sigmoid(t, 'act'), (v) => 1 / (1 + Math.exp(-v))],
      [(t) => hardswish(t, 'act'), (v) => (v * Math.min(Math.max(v + 3, 0), 6)) / 6],
      [(t) => dropout(t, { p: 0.5 }, 'drop'), (v) => v],
    ];
    for (const [build, f] of cases) expectClose((await runGraph(build, big)).out, elementwise(big, f));
  });

  it('dropout in training zeroes elements and scales the rest by 1 / (1 - p)', async () => {
    const ones = elementwise(randomT([2, 4, 16, 16], 5), () => 1);
    const { out } = await runGraph((t) => dropout(t, { p: 0.25 }, 'drop'), ones, { mode: 'train' });
    const values = new Set(out.data);
    expect([...values].sort()).toEqual([0, Math.fround(1 / 0.75)]);
    const zerosFraction = out.data.filter((v) => v === 0).length / out.data.length;
    expect(Math.abs(zerosFraction - 0.25)).toBeLessThan(0.05);
  });
});

// --- Every zoo model ---------------------------------------------------------------------------------

describe('every zoo model exports to ONNX that python3-onnx accepts and onnxruntime runs', () => {
  for (const entry of listModels()) {
    it(entry.name, async () => {
      const graph = buildModel(entry.name);
      const r = resolveGraph(graph);
      const weights = initialWeights(r, 1);
      const infer = exportOnnx(r, { mode: 'infer', weights });
      const train = exportOnnx(r, { mode: 'train', weights });
      const [i, t] = await check(infer, train);
      expect(i!.error).toBeNull();
      expect(t!.error).toBeNull();
      expect([i!.ir, i!.opset]).toEqual([8, [17]]);

      // Initializers are the model's parameters by their names (torchvision's state_dict keys),
      // for exactly the nodes inference runs; helper constants live under their node's name.
      const used = r.nodes
        .filter((n) => n.inference)
        .flatMap((n) =>
          n.params.filter((p) => p.name !== 'num_batches_tracked').map((p) => `${n.node.name}.${p.name}`),
        );
      expect(i!.initializers.filter((name) => !name.includes('/'))).toEqual(used);
      const ref = golden.models[entry.name];
      if (ref) {
        const keys = new Set(ref.state_dict.map(([k]) => k));
        expect(used.filter((k) => !keys.has(k))).toEqual([]);
      }

      // Symbolic batch; inference keeps the main output only, training every output.
      const [c, h, w] = entry.input;
      expect(i!.inputs).toEqual([['input', ['N', c, h, w]]]);
      const main = graph.outputs.filter((o) => o.role === 'main');
      expect(i!.outputs).toEqual(main.map((o) => [o.node, ['N', entry.classes]]));
      expect(t!.outputs.slice(0, graph.outputs.length).map(([name]) => name)).toEqual(
        graph.outputs.map((o) => o.node),
      );

      // Batch 1 and 3 through one session: sample 0 of the batch of 3 equals the batch of 1.
      const session = await openSession(infer);
      const x = randomT([3, c, h, w], 6);
      const three = (await runBatch(session, x.data, x.shape)).get(main[0]!.node)!;
      const one = (await runBatch(session, x.data.subarray(0, c * h * w), [1, c, h, w])).get(main[0]!.node)!;
      await session.release();
      expect(three.shape).toEqual([3, entry.classes]);
      expect(one.shape).toEqual([1, entry.classes]);
      expect(three.data.every(Number.isFinite)).toBe(true);
      expectClose(
        { shape: [1, entry.classes], data: three.data.subarray(0, entry.classes) },
        { shape: [1, entry.classes], data: one.data },
        1e-4,
      );
    }, 300_000); // a VGG is half a gigabyte of weights, exported, checked and run twice
  }
});

// --- What onnxruntime makes of convlab's graphs --------------------------------------------------------

describe("convlab's inference graphs cost onnxruntime nothing extra", () => {
  // What torch.onnx.export folds itself (BatchNorm into Conv), onnxruntime's full optimisation folds
  // here, and it fuses every activation into its Conv: the graph onnxruntime runs is the one it
  // runs for PyTorch's export (bench/infer.ts measures both), and parameter names stay torchvision's.
  for (const name of ['resnet18', 'mobilenet_v2', 'shufflenet_v2_x0_5']) {
    it(name, async () => {
      const file = join(dir, `${name}-optimised.onnx`);
      const session = await ort.InferenceSession.create(exportOnnx(buildModel(name), { mode: 'infer' }), {
        ...sessionOptions(),
        optimizedModelFilePath: file,
      });
      await session.release();
      const p = spawnSync(
        PYTHON,
        [
          '-c',
          'import onnx, sys; print(" ".join(n.op_type for n in onnx.load(sys.argv[1]).graph.node))',
          file,
        ],
        { encoding: 'utf8' },
      );
      rmSync(file, { force: true });
      const ops = p.stdout.trim().split(' ');
      expect(ops).toContain('Conv');
      expect(ops.filter((op) => ['BatchNormalization', 'Relu', 'Clip', 'Identity'].includes(op))).toEqual([]);
    });
  }
});
