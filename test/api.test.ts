import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import {
  build,
  ConvlabError,
  exportOnnx,
  inputShape,
  memory,
  receptiveField,
  run,
  type Spec,
  summarize,
  toSpec,
  train,
} from '../src/index.js';
import { bindingBuilt } from '../src/native/binding.js';
import { DEFAULT_BACKEND } from '../src/train/backends.js';
import { published } from './support/golden.js';
import { ROOT } from './support/paths.js';
import { tempDir } from './support/tmp.js';

const root = tempDir('api');

const tinySpec: Spec = {
  convlab: 1,
  name: 'tiny',
  input: [1, 16, 16],
  nodes: [
    { name: 'conv1', op: 'conv2d', out: 8, kernel: 3, padding: 1, bias: false },
    { name: 'bn1', op: 'batchnorm2d' },
    { name: 'relu1', op: 'relu' },
    { name: 'avgpool', op: 'adaptive_avgpool2d', output: 1 },
    { name: 'flatten', op: 'flatten' },
    { name: 'fc', op: 'linear', out: 10 },
  ],
};

describe('the library API', () => {
  it('build: a zoo name, a spec document or a graph; summarize, receptiveField and memory analyse it', () => {
    const resnet = build('resnet50');
    expect(summarize(resnet).totals.params).toBe(published['resnet50']!.params);
    expect(summarize(build('resnet50', { classes: 10 })).totals.params).toBeLessThan(
      published['resnet50']!.params!,
    );
    const tiny = build(tinySpec);
    expect(toSpec(tiny).nodes.map((n) => n.name)).toEqual(tinySpec.nodes.map((n) => n.name));
    expect(inputShape(build(tiny, { input: [1, 32, 32] }))).toEqual([1, 32, 32]);
    expect(() => build(tinySpec, { classes: 5 })).toThrow(ConvlabError);
    expect(() => build('resnet2000')).toThrow(/unknown model 'resnet2000'/);
    expect(build('googlenet', { aux: false }).outputs).toHaveLength(1);

    // ResNet-50's last block sees 427x427 pixels (Araujo, Norris and Sim 2019).
    expect(receptiveField(resnet).byName.get('layer4.2.relu_2')?.size).toEqual([427, 427]);
    const m = memory(resnet, { batch: 8, mode: 'train', optimizer: 'momentum' });
    expect(m.bytes.optimizer).toBe(m.bytes.params);
    expect(m.bytes.peak).toBeGreaterThan(m.bytes.params + m.bytes.grads + m.bytes.optimizer);
  });

  it('exportOnnx and run: the same logits from onnxruntime directly and through run', async () => {
    const tiny = build(tinySpec);
    const images = {
      data: Float32Array.from({ length: 2 * 256 }, (_, i) => Math.sin(i)),
      dims: [2, 1, 16, 16],
    };
    const outputs = await run(tiny, images, { seed: 3 });
    const [logits] = [...outputs.values()];
    expect(logits!.shape).toEqual([2, 10]);
    const session = await ort.InferenceSession.create(exportOnnx(tiny, { mode: 'infer', seed: 3 }));
    const direct = await session.run({ input: new ort.Tensor('float32', images.data, [2, 1, 16, 16]) });
    await session.release();
    expect(logits!.data).toEqual(direct[session.outputNames[0]!]!.data);
  });

  it('train: a run as convlab train makes it, from a graph and a data source', async () => {
    const result = await train({
      model: build(tinySpec),
      data: 'synthetic:shape=1x16x16,train=64,test=32',
      out: join(root, 'run'),
      epochs: 1,
      batch: 16,
    });
    expect(result).toMatchObject({ status: 'completed', backend: DEFAULT_BACKEND, epoch: 1, step: 4 });
    expect(result.files.model).toBe(join(root, 'run', 'model.onnx'));
    if (bindingBuilt()) return; // the refusal below is for a machine without the native backend
    await expect(
      train({ model: 'resnet20', data: 'synthetic', out: join(root, 'other'), backend: 'onednn' }),
    ).rejects.toThrow(/oneDNN backend is not built/);
  });

  it('importing the library loads no native addon (onnxruntime loads when run or train is called)', async () => {
    const script = [
      'const loaded = [];',
      'const dlopen = process.dlopen;',
      'process.dlopen = (module, file, ...rest) => { loaded.push(file); return dlopen(module, file, ...rest); };',
      `const lib = await import(${JSON.stringify(join(ROOT, 'src', 'index.ts'))});`,
      "lib.summarize(lib.build('resnet18'));",
      'console.log(JSON.stringify(loaded));',
    ].join('\n');
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: ROOT },
    );
    expect(JSON.parse(stdout)).toEqual([]);
  });
});
