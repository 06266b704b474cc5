import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { buildModel, listModels, resolveGraph } from '../../src/index.js';
import { initialWeights } from '../../src/ir/init.js';
import { exportOnnx } from '../../src/onnx/export.js';
import { openSession, runBatch, sessionOptions } from '../../src/runtime/session.js';
import { golden } from '../support/golden.js';
import { tempDir } from '../support/tmp.js';
import { checkOnnx, PYTHON } from './python.js';
import { expectClose, randomT } from './reference.js';

// In memory where there is a tmpfs: a VGG export is half a gigabyte, written twice per test.
const dir = tempDir('onnx', { inMemory: true });

describe('every zoo model exports to ONNX that python3-onnx accepts and onnxruntime runs', () => {
  for (const entry of listModels()) {
    it(entry.name, async () => {
      const graph = buildModel(entry.name);
      const r = resolveGraph(graph);
      const weights = initialWeights(r, 1);
      const infer = exportOnnx(r, { mode: 'infer', weights });
      const train = exportOnnx(r, { mode: 'train', weights });
      const [i, t] = await checkOnnx(dir, infer, train);
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
