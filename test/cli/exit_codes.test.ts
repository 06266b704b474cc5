import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { fileFailureExitCode } from '../../src/ir/errors.js';
import { writeSafetensorsFile } from '../../src/runtime/safetensors.js';
import { idxBytes } from '../support/idx.js';
import { tempDir } from '../support/tmp.js';

/**
 * Issue #18 cases 1 and 4 through the CLI as a user types it: every user mistake exits 2 with one
 * line naming what is wrong; nothing is an "internal error", nothing hangs or exhausts memory.
 */

const root = tempDir('exit-codes');
let files = 0;

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (t) => (stdout += `${t}\n`), stderr: (t) => (stderr += `${t}\n`) });
  return { code, stdout, stderr };
}

/** The command exits 2 with exactly one line on stderr, matching `pattern`, and no internal error. */
async function userMistake(pattern: RegExp, ...argv: string[]): Promise<void> {
  const run = await cli(...argv);
  const lines = run.stderr.trimEnd().split('\n');
  expect(lines, run.stderr).toHaveLength(1);
  expect(run.stderr).not.toMatch(/internal error/);
  expect(run.stderr).toMatch(pattern);
  expect(run.code, run.stderr).toBe(2);
}

function specFile(spec: unknown, text?: string): string {
  const file = join(root, `spec${files++}.json`);
  writeFileSync(file, text ?? JSON.stringify(spec));
  return file;
}

const relu = (input: unknown) => ({ name: 't', input, nodes: [{ op: 'relu' }] });

/** A tiny classifier spec and its weights, for `run`. */
const classifier = specFile({
  name: 'c',
  input: [3, 4, 4],
  nodes: [{ op: 'flatten' }, { name: 'fc', op: 'linear', out: 2 }],
});
const weights = join(root, 'c.safetensors');
writeSafetensorsFile(weights, [
  ['fc.weight', { dtype: 'float32', shape: [2, 48], data: new Float32Array(96).fill(0.01) }],
  ['fc.bias', { dtype: 'float32', shape: [2], data: new Float32Array(2) }],
]);
const run = ['run', classifier, '--weights', weights];

describe('case 1: sizes without an upper bound, through the CLI', () => {
  it('adaptive pooling to 2^31 bins: exit 2 at once, not 2.8 GB and a heap crash', async () => {
    const spec = specFile({
      name: 't',
      input: [3, 8, 8],
      nodes: [{ name: 'p', op: 'adaptive_avgpool2d', output: 2147483648 }],
    });
    await userMistake(
      /node 'p' \(adaptive_avgpool2d\).*'output' is 2147483648, above the limit of 65536/,
      'summary',
      spec,
    );
  });

  it('an input of 1e300 is refused by summary and export (MACs Infinity, an int64 internal error)', async () => {
    const spec = specFile(relu([64, 1e300, 56]));
    await userMistake(/'input' H is 1\.000e\+300, above the limit of 65536/, 'summary', spec, '--json');
    await userMistake(/above the limit/, 'export', spec, '-o', join(root, 'x.onnx'));
  });

  it('--input 3x100000x100000 and a huge --batch are refused (an internal error before)', async () => {
    await userMistake(
      /--input H is 100000, above the limit of 65536/,
      'summary',
      'resnet18',
      '--input',
      '3x100000x100000',
    );
    await userMistake(/--input H is 100000/, ...run, '--random', '--input', '3x100000x100000');
    await userMistake(
      /--batch is 1000000, above the limit of 65536/,
      'summary',
      'resnet18',
      '--batch',
      '1000000',
    );
  });

  it('train --pad 100000 is refused before any data is read', async () => {
    await userMistake(
      /--pad is 100000, above the limit of 1024/,
      'train',
      'resnet18',
      '--data',
      'synthetic',
      '--out',
      join(root, 'o1'),
      '--pad',
      '100000',
    );
  });

  it('a spec of 10^6 nodes is refused, not a stack overflow', async () => {
    const nodes = `[${Array.from({ length: 1_000_000 }, () => '{"op":"relu"}').join(',')}]`;
    const spec = specFile(undefined, `{"name":"long","input":[1,2,2],"nodes":${nodes}}`);
    await userMistake(/the number of nodes is 1000000, above the limit of 100000/, 'summary', spec);
  }, 60_000);

  it('/dev/zero as an image or a spec is read only up to its bound', async () => {
    await userMistake(
      /image '\/dev\/zero' is more than 268435456 bytes, above the limit/,
      ...run,
      '--image',
      '/dev/zero',
    );
    const spec = join(root, 'zero.json');
    symlinkSync('/dev/zero', spec);
    await userMistake(/spec '.*zero\.json' is more than 67108864 bytes, above the limit/, 'summary', spec);
  }, 60_000);
});

describe('case 4: user mistakes exit 2 with one line', () => {
  it('an empty image file', async () => {
    const empty = join(root, 'empty.png');
    writeFileSync(empty, '');
    await userMistake(/image '.*empty\.png' is empty \(0 bytes\)/, ...run, '--image', empty);
  });

  it("a multi-line spec's syntax error is one line with its position", async () => {
    const spec = specFile(
      undefined,
      '{\n  "name": "t",\n  "input": [3, 8, 8],\n  "nodes": [\n    {"op": "relu",}\n  ]\n}',
    );
    await userMistake(/is not valid JSON: .*\(line 5, column \d+\)/, 'summary', spec);
  });

  it('negative numbers reach their option check, not "argument is ambiguous"', async () => {
    const train = ['train', 'resnet18', '--data', 'synthetic', '--out', join(root, 'o2')];
    await userMistake(/--epochs must be an integer >= 1, got '-1'/, ...train, '--epochs', '-1');
    await userMistake(/--lr must be a number > 0, got '-0\.1'/, ...train, '--lr', '-0.1');
    await userMistake(/--seed must be an integer >= 0, got '-1'/, ...train, '--seed', '-1');
    await userMistake(/--port must be an integer from 0 to 65535.*got '-1'/, 'lab', '--port', '-1');
  });

  it('--batch 0x10 is not 16', async () => {
    const train = ['train', 'resnet18', '--data', 'synthetic', '--out', join(root, 'o3')];
    await userMistake(/--batch must be an integer >= 1, got '0x10'/, ...train, '--batch', '0x10');
    await userMistake(
      /--batch must be a positive integer, got '0x10'/,
      'summary',
      'resnet18',
      '--batch',
      '0x10',
    );
  });

  it('an all-constant data set says so, not "standard deviations must be positive"', async () => {
    const dir = join(root, 'constant-idx');
    mkdirSync(dir);
    const put = (name: string, dims: number[], bytes: Uint8Array) =>
      writeFileSync(join(dir, name), idxBytes(dims, bytes));
    put('train-images-idx3-ubyte', [32, 8, 8], new Uint8Array(32 * 64).fill(7));
    put(
      'train-labels-idx1-ubyte',
      [32],
      Uint8Array.from({ length: 32 }, (_, i) => i % 2),
    );
    put('t10k-images-idx3-ubyte', [8, 8, 8], new Uint8Array(8 * 64).fill(7));
    put(
      't10k-labels-idx1-ubyte',
      [8],
      Uint8Array.from({ length: 8 }, (_, i) => i % 2),
    );
    const spec = specFile({
      name: 't',
      input: [1, 8, 8],
      nodes: [{ op: 'flatten' }, { op: 'linear', out: 2 }],
    });
    await userMistake(
      /training images of .* are constant in channel 0 \(every pixel 7\)/,
      'train',
      spec,
      '--data',
      `idx:${dir}`,
      '--out',
      join(root, 'o4'),
      '--batch',
      '8',
    );
  }, 60_000);

  it('--out under /proc fails at once instead of spinning', async () => {
    await userMistake(
      /cannot create the output folder --out '\/proc\/convlab-x\/run': ENOENT/,
      'train',
      'resnet18',
      '--data',
      'synthetic',
      '--out',
      '/proc/convlab-x/run',
    );
  });
});

describe('one exit code per cause', () => {
  it('a full disk is a failure while running (1); a wrong path is a user mistake (2)', () => {
    const err = (code: string) => Object.assign(new Error(code), { code });
    for (const code of ['ENOSPC', 'EDQUOT', 'EIO', 'EFBIG'])
      expect(fileFailureExitCode(err(code)), code).toBe(1);
    for (const code of ['ENOENT', 'EACCES', 'EPERM', 'EROFS', 'EISDIR', 'ENOTDIR'])
      expect(fileFailureExitCode(err(code)), code).toBe(2);
  });
});
