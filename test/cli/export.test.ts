import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initialWeights, tensorSpecs } from '../../src/ir/init.js';
import { resolveGraph } from '../../src/ir/resolve.js';
import { type HostTensor, writeSafetensorsFile } from '../../src/runtime/safetensors.js';
import { openSession, runBatch } from '../../src/runtime/session.js';
import { DEFAULT_BACKEND } from '../../src/train/backends.js';
import { buildModel } from '../../src/zoo/index.js';
import { cli } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

const dir = tempDir('export');
const path = (name: string) => join(dir, name);

/** convlab's seeded initialisation of a zoo model as a safetensors file, optionally edited. */
function saveWeights(
  model: string,
  file: string,
  seed: number,
  edit?: (t: Map<string, HostTensor>) => void,
): void {
  const r = resolveGraph(buildModel(model));
  const specs = tensorSpecs(r);
  const tensors = new Map<string, HostTensor>(
    [...initialWeights(r, seed)].map(([name, data]): [string, HostTensor] => {
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

/** Logits of an exported file on a fixed input batch. */
async function logits(
  file: string,
  batch: number,
): Promise<{ shape: readonly number[]; data: Float32Array }> {
  const session = await openSession(readFileSync(file));
  const x = Float32Array.from({ length: batch * 3 * 32 * 32 }, (_, i) => Math.sin(i));
  const out = await runBatch(session, x, [batch, 3, 32, 32]);
  await session.release();
  return [...out.values()][0]!;
}

beforeAll(() => saveWeights('resnet20', path('resnet20.safetensors'), 5));

describe('convlab export', () => {
  it('writes an ONNX file with a symbolic batch and reports it as JSON', async () => {
    const r = await cli('export', 'resnet20', '-o', path('r20.onnx'), '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({
      model: 'resnet20',
      file: path('r20.onnx'),
      mode: 'infer',
      opset: 17,
      input: { name: 'input', shape: ['N', 3, 32, 32] },
      outputs: [{ name: 'fc', role: 'main', shape: ['N', 10] }],
      weights: { seed: 0 },
    });
    expect(report.bytes).toBe(readFileSync(path('r20.onnx')).length);
    expect((await logits(path('r20.onnx'), 1)).shape).toEqual([1, 10]);
    expect((await logits(path('r20.onnx'), 4)).shape).toEqual([4, 10]);
  });

  it('prints a short human report', async () => {
    const r = await cli('export', 'resnet20', '--output', path('human.onnx'));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`wrote ${path('human.onnx')}`);
    expect(r.stdout).toContain('input   input [N,3,32,32]');
    expect(r.stdout).toContain('output  fc [N,10]');
  });

  it('--weights puts the file into the model: the same logits as the same values seeded', async () => {
    expect(
      (await cli('export', 'resnet20', '-o', path('w.onnx'), '--weights', path('resnet20.safetensors'))).code,
    ).toBe(0);
    expect((await cli('export', 'resnet20', '-o', path('s5.onnx'), '--seed', '5')).code).toBe(0);
    expect((await cli('export', 'resnet20', '-o', path('s6.onnx'), '--seed', '6')).code).toBe(0);
    const fromFile = await logits(path('w.onnx'), 2);
    expect([...fromFile.data]).toEqual([...(await logits(path('s5.onnx'), 2)).data]);
    expect([...fromFile.data]).not.toEqual([...(await logits(path('s6.onnx'), 2)).data]);
  });

  it('--training exports the training forward (BatchNormalization on batch statistics)', async () => {
    const r = await cli('export', 'resnet20', '-o', path('train.onnx'), '--training', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).mode).toBe('train');
    const bytes = readFileSync(path('train.onnx'));
    expect(bytes.includes(Buffer.from('next/bn1.running_mean'))).toBe(true);
    // Batch statistics: two different batches normalise sample 0 differently.
    const two = await logits(path('train.onnx'), 2);
    const four = await logits(path('train.onnx'), 4);
    expect([...two.data.subarray(0, 10)]).not.toEqual([...four.data.subarray(0, 10)]);
  });

  it('auxiliary heads: inference drops them, the training export keeps them as outputs', async () => {
    const infer = JSON.parse((await cli('export', 'googlenet', '-o', path('g.onnx'), '--json')).stdout);
    expect(infer.outputs.map((o: { name: string }) => o.name)).toEqual(['fc']);
    const train = JSON.parse(
      (await cli('export', 'googlenet', '-o', path('gt.onnx'), '--training', '--json')).stdout,
    );
    expect(train.outputs.map((o: { role: string }) => o.role)).toEqual(['main', 'aux', 'aux']);
    const noAux = JSON.parse(
      (await cli('export', 'googlenet', '-o', path('gn.onnx'), '--training', '--no-aux', '--json')).stdout,
    );
    expect(noAux.outputs).toHaveLength(1);
  });

  it('--input and --classes change the exported model', async () => {
    const r = await cli(
      'export',
      'resnet18',
      '-o',
      path('r18.onnx'),
      '--input',
      '3x64x64',
      '--classes',
      '7',
      '--json',
    );
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.input.shape).toEqual(['N', 3, 64, 64]);
    expect(report.outputs[0].shape).toEqual(['N', 7]);
  });
});

describe('convlab export: bad input exits 2 with one clear line, and writes nothing', () => {
  const expectUserError = async (args: string[], message: RegExp) => {
    const before = readdirSync(dir).length;
    const r = await cli('export', ...args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(readdirSync(dir).length).toBe(before);
  };

  it('no -o', () => expectUserError(['resnet20'], /-o FILE\.onnx is required/));
  it('an unknown model', () => expectUserError(['resnet2', '-o', path('x.onnx')], /unknown model 'resnet2'/));
  it('a directory that does not exist', () =>
    expectUserError(['resnet20', '-o', join(dir, 'no', 'x.onnx')], /cannot write .*no such directory/));
  it('a bad seed', () =>
    expectUserError(['resnet20', '-o', path('x.onnx'), '--seed', '1.5'], /--seed must be/));
  it('a missing weights file', () =>
    expectUserError(
      ['resnet20', '-o', path('x.onnx'), '--weights', path('none.safetensors')],
      /no such file/,
    ));

  it('weights for another model, listing the first mismatches', async () => {
    saveWeights('resnet20', path('bad.safetensors'), 1, (t) => {
      t.delete('fc.bias');
      t.set('conv1.weight', { dtype: 'float32', shape: [16, 3, 5, 5], data: new Float32Array(16 * 3 * 25) });
      t.set('extra.weight', { dtype: 'float32', shape: [1], data: new Float32Array(1) });
    });
    await expectUserError(
      ['resnet20', '-o', path('x.onnx'), '--weights', path('bad.safetensors')],
      /do not fit model 'resnet20' \(3 mismatches\): conv1\.weight: file has \[16,3,5,5\], model needs \[16,3,3,3\]; missing fc\.bias \[10\]; unexpected extra\.weight/,
    );
    rmSync(path('bad.safetensors'));
  });

  it('a truncated weights file', async () => {
    const whole = readFileSync(path('resnet20.safetensors'));
    writeFileSync(path('cut.safetensors'), whole.subarray(0, whole.length - 100));
    await expectUserError(
      ['resnet20', '-o', path('x.onnx'), '--weights', path('cut.safetensors')],
      /not a valid safetensors file/,
    );
    rmSync(path('cut.safetensors'));
  });

  it('leaves no temporary file behind', () => {
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(existsSync(path('x.onnx'))).toBe(false);
  });
});

describe('convlab bench', () => {
  it('bench infer reports throughput as the contract says', async () => {
    const r = await cli(
      'bench',
      'infer',
      'resnet20',
      '--batch',
      '2',
      '--runs',
      '3',
      '--warmup',
      '1',
      '--json',
    );
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ model: 'resnet20', batch: 2, mode: 'infer', runs: 3 });
    expect(report.ms.min).toBeLessThanOrEqual(report.ms.median);
    expect(report.ms.median).toBeLessThanOrEqual(report.ms.max);
    expect(report.imagesPerSec).toBeCloseTo(2 / (report.ms.median / 1000), 6);
    // GFLOP/s counts each conv/linear multiply-accumulate as two FLOPs.
    expect(report.gflops).toBeCloseTo((2 * report.macs) / (report.ms.median / 1000) / 1e9, 6);
    expect(report.macs).toBe(2 * 40_551_040);
  });

  it('bench train times one whole training step; an unknown mode is a usage error', async () => {
    const train = await cli(
      'bench',
      'train',
      'resnet20',
      '--batch',
      '8',
      '--runs',
      '3',
      '--warmup',
      '1',
      '--json',
    );
    expect(train.code).toBe(0);
    const report = JSON.parse(train.stdout);
    expect(report).toMatchObject({ model: 'resnet20', batch: 8, mode: 'train', backend: DEFAULT_BACKEND });
    expect(report.imagesPerSec).toBeGreaterThan(0);
    const r = await cli('bench', 'fast', 'resnet20');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown bench mode 'fast'; modes: infer, train/);
  });
});
