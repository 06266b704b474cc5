import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { summariseGraph } from '../../src/analysis/summary.js';
import { withOnnxFile } from '../../src/import/file.js';
import { readWeights } from '../../src/import/onnx.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { bindingBuilt } from '../../src/native/binding.js';
import { exportOnnx } from '../../src/onnx/export.js';
import { adaptiveAvgpool2d, batchnorm2d, conv2d, flatten, linear, relu } from '../../src/ops/index.js';
import { readSafetensorsFile } from '../../src/runtime/safetensors.js';
import { FILES } from '../../src/train/run_folder.js';
import { buildModel } from '../../src/zoo/index.js';
import { cli } from '../support/cli.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';

/** `convlab summary|rf|memory|export|run|train FILE.onnx` as a user types them, and bad files as one line, exit 2. */

const dir = makeTempDir('import-cli');
afterAll(() => removeTempDir(dir));

const graph = buildModel('resnet20');
const file = join(dir, 'resnet20.onnx');
writeFileSync(file, exportOnnx(graph, { mode: 'infer', seed: 5 }));

describe('the CLI on an ONNX file', () => {
  it('summary, rf and memory read it', async () => {
    const summary = await cli('summary', file, '--json');
    expect(summary.code).toBe(0);
    const s = JSON.parse(summary.stdout) as {
      totals: { params: number; macs: number };
      import: { opset: number; batchNormFolded: boolean };
    };
    expect(s.import).toMatchObject({ opset: 17, batchNormFolded: false });
    expect((await cli('summary', file)).stdout).toMatch(/imported +ONNX opset 17.*no folded BatchNorm/);
    const want = summariseGraph(graph).totals;
    expect([s.totals.params, s.totals.macs]).toEqual([want.params, want.macs]);
    expect((await cli('rf', file)).code).toBe(0);
    expect((await cli('memory', file)).code).toBe(0);
  });

  it('run uses the weights the file holds; export writes them back', async () => {
    const run = await cli('run', file, '--random', '--json');
    expect(run.code).toBe(0);
    const out = join(dir, 'again.onnx');
    expect((await cli('export', file, '-o', out)).code).toBe(0);
    const again = await cli('run', out, '--random', '--json');
    expect(JSON.parse(again.stdout).top).toEqual(JSON.parse(run.stdout).top);
  });

  it('train starts from the weights the file holds, on every backend', async () => {
    // A model of ops the native backend has (resnet20's padded shortcuts are not among them).
    const b = new GraphBuilder('small', 'test');
    let x = b.input([3, 16, 16]);
    for (const [i, out] of [8, 16].entries())
      x = relu(
        batchnorm2d(
          conv2d(x, { out, kernel: 3, stride: 2, padding: 1, bias: false }, `conv${i}`),
          {},
          `bn${i}`,
        ),
      );
    b.output(linear(flatten(adaptiveAvgpool2d(x, { output: 1 })), { out: 10 }, 'fc'));
    const small = join(dir, 'small.onnx');
    writeFileSync(small, exportOnnx(b.build(), { mode: 'infer', seed: 5 }));
    const held = withOnnxFile(small, {}, readWeights);
    const backends = ['onnxruntime', ...(bindingBuilt() ? ['onednn'] : [])];
    for (const backend of backends) {
      const out = join(dir, `train-${backend}`);
      // An lr so small that no step moves a weight by a representable amount, except a zero one by ~1e-30.
      const r = await cli(
        'train',
        small,
        ...['--data', 'synthetic:classes=10,shape=3x16x16,train=16,test=8', '--out', out],
        ...['--epochs', '1', '--batch', '8', '--lr', '1e-30', '--weight-decay', '0', '--backend', backend],
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/from the file's weights/);
      const trained = readSafetensorsFile(join(out, FILES.weights)).tensors;
      const params = [...held].filter(([name]) => /(weight|bias)$/.test(name));
      expect(params.length).toBe(8);
      for (const [name, data] of params) {
        const after = trained.get(name)!.data as Float32Array;
        const moved = Math.max(...Array.from(after, (v, i) => Math.abs(v - (data as Float32Array)[i]!)));
        expect(moved, `${backend}: ${name}`).toBeLessThan(1e-20);
      }
    }
  }, 120_000);

  it('a truncated file, a missing file and --classes: one line, exit 2', async () => {
    const bad = join(dir, 'bad.onnx');
    writeFileSync(bad, exportOnnx(graph, { mode: 'infer' }).subarray(0, 5000));
    for (const argv of [
      ['summary', bad],
      ['summary', join(dir, 'none.onnx')],
      ['summary', file, '--classes', '10'],
    ]) {
      const r = await cli(...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});
