import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveGraph } from '../../src/ir/resolve.js';
import { exportOnnx } from '../../src/onnx/export.js';
import { readSafetensorsFile } from '../../src/runtime/safetensors.js';
import { openSession, runBatch } from '../../src/runtime/session.js';
import { matchWeights } from '../../src/runtime/weights.js';
import { buildModel } from '../../src/zoo/index.js';
import { ROOT } from '../support/paths.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';
import { PYTHON } from './python.js';

/**
 * Numeric parity with PyTorch: tools/parity_fixtures.py writes seeded weights (BatchNorm statistics
 * randomised), a seeded batch of 2 and PyTorch's eval-mode logits; convlab exports its own graph with
 * those weights and runs it in onnxruntime. The fixtures (~900 MB) are generated per run into a
 * temporary directory, not committed; CI installs Debian's python3-torch and python3-torchvision.
 * CONVLAB_PARITY_DIR=DIR reuses fixtures already generated there.
 */

const TOLERANCE = 1e-4;

const MODELS = [
  'resnet18',
  'resnet50',
  'googlenet',
  'inception_v3',
  'densenet121',
  'mobilenet_v2',
  'shufflenet_v2_x1_0',
  'resnext50_32x4d',
  'wide_resnet50_2',
  'se_resnet50',
  'xception',
];

const torchCheck = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
const hasTorch = torchCheck.status === 0;
if (!hasTorch) {
  console.warn(
    `parity tests SKIPPED: ${PYTHON} cannot import torch and torchvision (install Debian's python3-torch and python3-torchvision): ${(torchCheck.stderr ?? String(torchCheck.error)).trim().split('\n').pop()}`,
  );
}

describe.skipIf(!hasTorch)('parity with PyTorch (eval mode, batch 2, seeded weights)', () => {
  const reuse = process.env['CONVLAB_PARITY_DIR'];
  const dir = reuse ?? makeTempDir('parity');
  const results: string[] = [];

  // Asynchronous: a worker blocked for a minute misses vitest's heartbeats.
  beforeAll(async () => {
    if (reuse && existsSync(join(reuse, 'manifest.json'))) return;
    const script = join(ROOT, 'tools', 'parity_fixtures.py');
    try {
      await promisify(execFile)(PYTHON, [script, dir, '--models', MODELS.join(','), '--threads', '2'], {
        timeout: 300_000,
      });
    } catch (e) {
      const { code, stderr } = e as { code?: number | string; stderr?: string };
      throw new Error(`tools/parity_fixtures.py failed (${code}): ${String(stderr).slice(-2000)}`);
    }
  }, 310_000);

  afterAll(() => {
    if (!reuse) removeTempDir(dir);
    console.log(`parity, max|convlab - torch| / max|torch| per model:\n${results.join('\n')}`);
  });

  it.each(MODELS)(
    '%s',
    async (name) => {
      const files = join(dir, name);
      const graph = buildModel(name, { aux: false });
      const input = readSafetensorsFile(join(files, 'input.safetensors')).tensors.get('input')!;
      const expected = readSafetensorsFile(join(files, 'output.safetensors')).tensors.get('logits')!;
      const r = resolveGraph(graph, { batch: input.shape[0]! });
      const weights = matchWeights(r, readSafetensorsFile(join(files, 'weights.safetensors')).tensors, name);

      const session = await openSession(exportOnnx(r, { mode: 'infer', weights }));
      const outputs = await runBatch(session, input.data as Float32Array, input.shape);
      await session.release();
      if (!reuse) removeTempDir(files);

      const [logits] = [...outputs.values()];
      expect(logits!.shape).toEqual(expected.shape);
      let diff = 0;
      let scale = 0;
      expected.data.forEach((v, i) => {
        diff = Math.max(diff, Math.abs(logits!.data[i]! - Number(v)));
        scale = Math.max(scale, Math.abs(Number(v)));
      });
      results.push(
        `  ${name.padEnd(20)} ${diff.toExponential(2)} / ${scale.toFixed(3)} = ${(diff / scale).toExponential(2)}`,
      );
      expect(scale).toBeGreaterThan(0.1);
      expect(diff / scale).toBeLessThanOrEqual(TOLERANCE);
    },
    60_000,
  );
});
