import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listModels } from '../../src/index.js';
import { cli, spawnCli } from '../support/cli.js';
import { published } from '../support/golden.js';
import { tempDir } from '../support/tmp.js';

const tmp = tempDir('cli');

describe('convlab list', () => {
  it('--json lists every zoo model with its figures', async () => {
    const r = await cli('list', '--json');
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.stdout) as {
      name: string;
      family: string;
      input: number[];
      params: number;
      macs: number;
    }[];
    expect(rows.map((row) => row.name)).toEqual(listModels().map((m) => m.name));
    const resnet50 = rows.find((row) => row.name === 'resnet50')!;
    expect(resnet50).toEqual({
      name: 'resnet50',
      family: 'resnet',
      input: [3, 224, 224],
      params: 25557032,
      macs: 4089184256,
    });
  });

  it('prints a readable table with thousands separators', async () => {
    const r = await cli('list');
    expect(r.stdout).toMatch(/resnet50\s+resnet\s+3x224x224\s+25,557,032\s+4\.09 G/);
  });
});

describe('convlab summary', () => {
  it('--json follows the contract', async () => {
    const r = await cli('summary', 'resnet50', '--json', '--batch', '2');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.model).toBe('resnet50');
    expect(s.input).toEqual([2, 3, 224, 224]);
    expect(s.totals.params).toBe(published['resnet50']!.params);
    expect(s.totals.trainableParams).toBe(s.totals.params);
    expect(s.totals.macs).toBe(2 * 4089184256);
    expect(s.totals.buffers).toBe(53173);
    expect(Object.keys(s.totals).sort()).toEqual(
      ['activationBytes', 'buffers', 'flops', 'macs', 'params', 'trainableParams'].sort(),
    );
    expect(s.outputs).toEqual([{ name: 'fc', shape: [2, 1000], role: 'main' }]);
    const conv1 = s.layers.find((l: { name: string }) => l.name === 'layer1.0.conv1');
    expect(conv1).toEqual({
      name: 'layer1.0.conv1',
      op: 'conv2d',
      inputs: ['maxpool'],
      outShape: [2, 64, 56, 56],
      params: 4096,
      macs: 2 * 56 * 56 * 64 * 64,
      flops: 2 * 2 * 56 * 56 * 64 * 64,
    });
  });

  it('--depth folds blocks and keeps totals', async () => {
    const full = JSON.parse((await cli('summary', 'resnet50', '--json')).stdout);
    const folded = JSON.parse((await cli('summary', 'resnet50', '--json', '--depth', '1')).stdout);
    expect(folded.layers.map((l: { name: string }) => l.name)).toEqual([
      'conv1',
      'bn1',
      'relu',
      'maxpool',
      'layer1',
      'layer2',
      'layer3',
      'layer4',
      'avgpool',
      'flatten',
      'fc',
    ]);
    const sum = (rows: { params: number }[]) => rows.reduce((a, l) => a + l.params, 0);
    expect(sum(folded.layers)).toBe(sum(full.layers));
    expect(folded.layers[4]).toMatchObject({ op: 'ResLayer', outShape: [1, 256, 56, 56] });
    const table = (await cli('summary', 'resnet50', '--depth', '2')).stdout;
    expect(table).toMatch(/layer1\.0\s+Bottleneck\s+\[1,256,56,56\]\s+75,008/);
    expect(table).toContain('params           25,557,032');
  });

  it('--input and --classes change the model', async () => {
    const s = JSON.parse(
      (await cli('summary', 'resnet18', '--json', '--input', '3x64x64', '--classes', '10')).stdout,
    );
    expect(s.input).toEqual([1, 3, 64, 64]);
    expect(s.outputs[0].shape).toEqual([1, 10]);
    expect(s.totals.params).toBe(11689512 - 990 * 513);
  });

  it('accepts a spec file', async () => {
    const file = join(tmp, 'tiny.json');
    writeFileSync(
      file,
      JSON.stringify({
        name: 'tiny',
        input: [1, 28, 28],
        nodes: [{ op: 'flatten' }, { name: 'fc', op: 'linear', out: 10 }],
      }),
    );
    const s = JSON.parse((await cli('summary', file, '--json')).stdout);
    expect(s.totals.params).toBe(784 * 10 + 10);
    expect(s.totals.macs).toBe(7840);
  });
});

describe('bad usage and bad input exit 2 with one line', () => {
  const dir = tempDir('cli-usage');
  const badSpec = join(dir, 'mismatch.json');
  writeFileSync(
    badSpec,
    JSON.stringify({
      name: 'mismatch',
      input: [3, 8, 8],
      nodes: [
        { name: 'a', op: 'conv2d', out: 8, kernel: 1 },
        { name: 'b', op: 'conv2d', inputs: ['input'], out: 4, kernel: 1 },
        { name: 'sum', op: 'add', inputs: ['a', 'b'] },
      ],
    }),
  );
  const malformed = join(dir, 'malformed.json');
  writeFileSync(malformed, '{"name": ');
  const cases: [string, string[], RegExp][] = [
    ['unknown command', ['summarize', 'resnet50'], /unknown command 'summarize'/],
    ['unknown model', ['summary', 'resnet51'], /unknown model 'resnet51'; did you mean resnet50/],
    ['unknown option', ['summary', 'resnet50', '--bogus'], /Unknown option '--bogus'/],
    ['missing argument', ['summary'], /expected 1 argument/],
    ['bad --input', ['summary', 'resnet50', '--input', '3x224'], /--input must be CxHxW/],
    ['zero --batch', ['summary', 'resnet50', '--batch', '0'], /--batch must be a positive integer/],
    ['input too small', ['summary', 'vgg16', '--input', '3x16x16'], /node '.*' \(.*\) with inputs \[.*\]: /],
    ['channel mismatch', ['summary', badSpec], /node 'sum' \(add\) with inputs \[1,8,8,8\], \[1,4,8,8\]/],
    ['malformed spec', ['summary', malformed], /spec .*malformed\.json is not valid JSON/],
    ['missing spec', ['summary', join(dir, 'none.json')], /cannot read spec .*none\.json.*ENOENT/],
  ];
  for (const [what, argv, message] of cases) {
    it(what, async () => {
      const r = await cli(...argv);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim()).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    });
  }
});

describe('the installed binary', () => {
  it('npx convlab --help works without a build step of the user', async () => {
    const r = await spawnCli('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('convlab summary MODEL');
  });

  it('a user mistake never prints a stack trace', async () => {
    const r = await spawnCli('summary', 'nope', '--json');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).not.toMatch(/\bat .*\.js:\d+/);
  });
});
