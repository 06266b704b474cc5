import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { synthetic } from '../../src/data/synthetic.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { ConvlabError } from '../../src/ir/errors.js';
import type { Graph } from '../../src/ir/graph.js';
import type { WeightData } from '../../src/ir/init.js';
import { bindingBuilt } from '../../src/native/binding.js';
import { adaptiveAvgpool2d } from '../../src/ops/adaptive_avgpool2d.js';
import { batchnorm2d } from '../../src/ops/batchnorm2d.js';
import { conv2d } from '../../src/ops/conv2d.js';
import { flatten } from '../../src/ops/flatten.js';
import { linear } from '../../src/ops/linear.js';
import { relu } from '../../src/ops/relu.js';
import type { ImageBatch, StepSession, TrainingBackend } from '../../src/train/backend.js';
import { DEFAULT_BACKEND, trainingBackend } from '../../src/train/backends.js';
import { benchTrain } from '../../src/train/bench.js';
import { readCheckpoint } from '../../src/train/checkpoint.js';
import type { TrainConfig } from '../../src/train/config.js';
import { train } from '../../src/train/loop.js';
import type { EpochRecord } from '../../src/train/metrics.js';
import { FILES } from '../../src/train/run_folder.js';
import { onnxruntimeBackend } from '../../src/train/step.js';
import { randomBatch } from '../../src/train/timing.js';
import { tempDir } from '../support/tmp.js';

const root = tempDir('backend');

function tiny(): Graph {
  const b = new GraphBuilder('tiny', 'test');
  let x = b.input([1, 12, 12]);
  x = relu(
    batchnorm2d(conv2d(x, { out: 4, kernel: 3, padding: 1, bias: false }, 'conv1'), {}, 'bn1'),
    'relu1',
  );
  x = flatten(adaptiveAvgpool2d(x, { output: 1 }, 'avgpool'), 'flatten');
  b.output(linear(x, { out: 10 }, 'fc'));
  return b.build();
}

const SGD = { kind: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 5e-4 } as const;
const batch = 8;
const images: ImageBatch = { data: randomBatch([batch, 1, 12, 12], 3), dims: [batch, 1, 12, 12] };
const labels = Int32Array.from({ length: batch }, (_, i) => i % 10);
/** A copy of a session's state, independent of the arrays the session hands out. */
const copy = (state: ReadonlyMap<string, WeightData>) => new Map([...state].map(([k, v]) => [k, v.slice()]));

describe('the training backend seam', () => {
  it('onnxruntime: state by name; snapshot then restore repeats a step bit for bit', async () => {
    const session = await onnxruntimeBackend.create(tiny(), { batch, optimizer: SGD }, { seed: 1 });
    try {
      expect(session.backend).toBe('onnxruntime');
      const kinds = new Map(session.state.map((s) => [s.name, s.kind]));
      expect(kinds.get('conv1.weight')).toBe('param');
      expect(kinds.get('bn1.running_mean')).toBe('buffer');
      expect(kinds.get('fc.weight.momentum_buffer')).toBe('optimizer');
      const before = copy(session.snapshot());
      expect([...before.keys()]).toEqual(session.state.map((s) => s.name));
      expect(session.stateBytes).toBe([...before.values()].reduce((s, d) => s + d.byteLength, 0));

      const first = await session.step(images, labels, 0.1, 1);
      const after = copy(session.snapshot());
      expect(after.get('fc.weight')).not.toEqual(before.get('fc.weight'));
      session.restore(before);
      const again = await session.step(images, labels, 0.1, 1);
      expect(again.loss).toBe(first.loss);
      expect(again.correct).toBe(first.correct);
      for (const [name, data] of session.snapshot()) expect(data, name).toEqual(after.get(name));

      expect(() => session.restore(new Map([['nope.weight', new Float32Array(1)]]))).toThrow(
        /cannot restore nope\.weight/,
      );
      expect(() => session.restore(new Map([['fc.bias', new Float32Array(3)]]))).toThrow(
        /'fc\.bias' has 3 values; the model needs \[10\]/,
      );
    } finally {
      await session.release();
    }
  });

  it('onednn by default where its binding is built, else onnxruntime; unknown names are usage errors', async () => {
    expect(await trainingBackend('onnxruntime')).toBe(onnxruntimeBackend);
    if (bindingBuilt()) {
      expect(DEFAULT_BACKEND).toBe('onednn');
      expect((await trainingBackend()).name).toBe('onednn');
    } else {
      expect(DEFAULT_BACKEND).toBe('onnxruntime');
      expect(await trainingBackend()).toBe(onnxruntimeBackend);
      const refused = await trainingBackend('onednn').catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(ConvlabError);
      expect((refused as ConvlabError).exitCode).toBe(2);
      expect((refused as Error).message).toMatch(/^the native oneDNN backend is (not built|off)[^\n]*$/);
    }
    await expect(trainingBackend('cuda')).rejects.toThrow(
      /--backend must be one of onnxruntime, onednn, got 'cuda'/,
    );
  });

  it('the loop, its checkpoints and evaluation, and bench train run every step through the backend given', async () => {
    let steps = 0;
    const counting: TrainingBackend = {
      name: 'onnxruntime',
      async create(model, options, init, runtime) {
        const inner = await onnxruntimeBackend.create(model, options, init, runtime);
        const session: StepSession = {
          backend: inner.backend,
          state: inner.state,
          get stateBytes() {
            return inner.stateBytes;
          },
          step: (...args) => {
            steps++;
            return inner.step(...args);
          },
          snapshot: () => inner.snapshot(),
          restore: (state) => inner.restore(state),
          release: () => inner.release(),
        };
        return session;
      },
    };
    const data = synthetic({ shape: [1, 12, 12], train: 64, test: 32 });
    const config: TrainConfig = {
      model: 'tiny',
      graph: 'tiny',
      data: 'synthetic',
      limit: null,
      epochs: 2,
      batch,
      lr: 0.05,
      optimizer: SGD,
      schedule: 'cosine',
      warmup: 0,
      labelSmoothing: 0,
      auxWeight: null,
      aux: true,
      seed: 0,
      augment: { pad: 1, flip: false },
      normalise: { mean: [0.5], std: [0.25] },
    };
    const run = async (name: string, backend?: TrainingBackend) => {
      const out = join(root, name);
      mkdirSync(out);
      const result = await train({
        graph: tiny(),
        data,
        config,
        out,
        thread: false,
        ...(backend && { backend }),
      });
      return { result, tensors: readCheckpoint(join(out, FILES.checkpoint)).tensors };
    };
    const through = await run('through', counting);
    expect(steps).toBe(16);
    expect(through.result).toMatchObject({ status: 'completed', backend: 'onnxruntime', step: 16 });
    const direct = await run('direct');
    const figures = (h: readonly EpochRecord[]) => h.map(({ time, imagesPerSec, ...rest }) => rest);
    expect(figures(through.result.history)).toEqual(figures(direct.result.history));
    for (const [name, t] of direct.tensors) expect(through.tensors.get(name)!.data, name).toEqual(t.data);

    steps = 0;
    const bench = await benchTrain(tiny(), { batch, runs: 2, warmup: 1, backend: counting });
    expect(bench).toMatchObject({ mode: 'train', backend: 'onnxruntime', runs: 2 });
    expect(steps).toBe(3);
  });
});
