import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { summariseGraph } from '../../src/analysis/summary.js';
import { exportOnnx } from '../../src/onnx/export.js';
import { buildModel } from '../../src/zoo/index.js';
import { cli } from '../support/cli.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';

/** `convlab summary|rf|memory|export|run FILE.onnx` as a user types them, and bad files as one line, exit 2. */

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
