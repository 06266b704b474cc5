import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { initialWeights, tensorSpecs } from '../../src/ir/init.js';
import { defineOp } from '../../src/ir/op.js';
import { registerOp } from '../../src/ir/registry.js';
import { resolveGraph } from '../../src/ir/resolve.js';
import { Relu } from '../../src/ops/relu.js';
import { type HostTensor, writeSafetensorsFile } from '../../src/runtime/safetensors.js';
import { buildModel } from '../../src/zoo/index.js';
import { cli } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

const dir = tempDir('export-pytorch');
const path = (name: string) => join(dir, name);

/** convlab's seeded weights of a zoo model as a safetensors file, optionally edited. */
function saveWeights(model: string, file: string, edit?: (t: Map<string, HostTensor>) => void): void {
  const r = resolveGraph(buildModel(model));
  const specs = tensorSpecs(r);
  const tensors = new Map<string, HostTensor>(
    [...initialWeights(r, 0)].map(([name, data]): [string, HostTensor] => {
      const shape = specs.get(name)!.spec.shape;
      return [
        name,
        data instanceof BigInt64Array ? { dtype: 'int64', shape, data } : { dtype: 'float32', shape, data },
      ];
    }),
  );
  edit?.(tensors);
  writeSafetensorsFile(file, tensors);
}

/** An op convlab knows and PyTorch's emitter does not: relu under another name. */
registerOp(defineOp({ ...Relu, kind: 'test_unported_relu' }));

describe('convlab export --format pytorch', () => {
  it('writes model.py, train.py and README.md; an existing DIR is refused without --force', async () => {
    const out = path('resnet20');
    const r = await cli('export', 'resnet20', '--format', 'pytorch', '-o', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('README.md');
    for (const f of ['model.py', 'train.py', 'README.md']) expect(existsSync(join(out, f))).toBe(true);
    expect(readFileSync(join(out, 'model.py'), 'utf8')).toContain('class BasicBlock(nn.Module):');
    expect(readFileSync(join(out, 'README.md'), 'utf8')).toContain('--nnodes');

    writeFileSync(join(out, 'model.py'), '# edited by hand\n');
    const again = await cli('export', 'resnet20', '--format', 'pytorch', '-o', out);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already exists.*--force/);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
    expect(readFileSync(join(out, 'model.py'), 'utf8')).toBe('# edited by hand\n');

    const forced = await cli('export', 'resnet20', '--format', 'pytorch', '-o', out, '--force');
    expect(forced.code).toBe(0);
    expect(readFileSync(join(out, 'model.py'), 'utf8')).toContain('def build(');
  });

  it('--weights: checked against the model, copied beside it and loaded by build()', async () => {
    const weights = path('resnet20.safetensors');
    saveWeights('resnet20', weights);
    const out = path('with-weights');
    const r = await cli('export', 'resnet20', '--format', 'pytorch', '-o', out, '--weights', weights);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(out, 'weights.safetensors'))).toEqual(readFileSync(weights));
    expect(readFileSync(join(out, 'model.py'), 'utf8')).toContain('def build(weights=WEIGHTS):');
  });

  it('weights whose names or shapes differ: exit 2 naming the first mismatches, nothing written', async () => {
    const weights = path('wrong.safetensors');
    saveWeights('resnet20', weights, (t) => {
      const fc = t.get('fc.weight')!;
      t.delete('fc.weight');
      t.set('fc.weights', fc);
      const conv = t.get('conv1.weight')!;
      t.set('conv1.weight', {
        dtype: 'float32',
        shape: [8, 3, 3, 3],
        data: (conv.data as Float32Array).subarray(0, 216),
      });
    });
    const out = path('mismatch');
    const r = await cli('export', 'resnet20', '--format', 'pytorch', '-o', out, '--weights', weights);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('conv1.weight');
    expect(r.stderr).toContain('fc.weight');
    expect(existsSync(out)).toBe(false);
  });

  it('an op with no PyTorch equivalent: exit 2 naming the op and its node, nothing written', async () => {
    const spec = path('unported.json');
    writeFileSync(
      spec,
      JSON.stringify({
        convlab: 1,
        name: 'unported',
        input: [3, 8, 8],
        nodes: [
          { name: 'conv', op: 'conv2d', out: 4, kernel: 3 },
          { name: 'act', op: 'test_unported_relu' },
        ],
      }),
    );
    const out = path('unported');
    const r = await cli('export', spec, '--format', 'pytorch', '-o', out);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/op 'test_unported_relu' \(node 'act'\) has no PyTorch equivalent/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(out)).toBe(false);
  });

  it('--training and --seed are ONNX options; --force needs --format pytorch; an unknown format is named', async () => {
    expect(
      (await cli('export', 'resnet20', '--format', 'pytorch', '-o', path('x'), '--training')).stderr,
    ).toMatch(/--training applies to ONNX/);
    expect((await cli('export', 'resnet20', '-o', path('x.onnx'), '--force')).stderr).toMatch(
      /--force applies/,
    );
    const r = await cli('export', 'resnet20', '--format', 'keras', '-o', path('k'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--format must be onnx or pytorch, got 'keras'/);
  });
});
