import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { summariseGraph } from '../../src/analysis/summary.js';
import { withOnnxFile } from '../../src/import/file.js';
import { importOnnx, readWeights } from '../../src/import/onnx.js';
import { memorySource } from '../../src/import/source.js';
import { Rng } from '../../src/ir/init.js';
import { exportOnnx } from '../../src/onnx/export.js';
import { openSession, runBatch } from '../../src/runtime/session.js';
import { ROOT } from '../support/paths.js';

/*
 * Acceptance of the ONNX front-end on torchvision 0.14 exported by Debian's PyTorch 1.13
 * (tools/torchvision_onnx.py, run here into a cache folder outside the repository: the files are
 * large). A representative subset runs in CI, one model per family of ops; CONVLAB_IMPORT_ALL=1
 * runs every family the script knows.
 */

const PYTHON = '/usr/bin/python3';
const SCRIPT = join(ROOT, 'tools', 'torchvision_onnx.py');
const SUBSET = [
  'resnet18',
  'mobilenet_v3_small',
  'shufflenet_v2_x0_5',
  'efficientnet_b0',
  'convnext_tiny',
  'squeezenet1_0',
  'mnasnet0_5',
  'regnet_y_400mf',
];
const ALL = process.env['CONVLAB_IMPORT_ALL'] === '1';

const torchCheck = spawnSync(PYTHON, ['-c', 'import torch, torchvision, onnx'], { encoding: 'utf8' });
const haveTorch = torchCheck.status === 0;
if (!haveTorch)
  console.warn(`torchvision ONNX import tests SKIPPED: ${PYTHON} cannot import torch, torchvision and onnx`);

/** The fixture folder, keyed by the script's content so an edited script regenerates. */
const CACHE = join(
  tmpdir(),
  `convlab-onnx-${createHash('sha256').update(readFileSync(SCRIPT)).digest('hex').slice(0, 12)}`,
);

/** Export `model` once into the cache; asynchronously, so the test worker keeps answering vitest. */
async function fixtures(model: string): Promise<string> {
  if (!existsSync(join(CACHE, `${model}.json`))) {
    mkdirSync(CACHE, { recursive: true });
    await promisify(execFile)(PYTHON, [SCRIPT, CACHE, '--models', model], { timeout: 600_000 });
  }
  return CACHE;
}

interface Info {
  input: [number, number, number];
  params: number;
  bn_channels: number;
  held: Record<string, number>;
  macs: number;
  modules: string[];
}

const models = ALL
  ? (/FAMILIES = \[([^\]]*)\]/s.exec(readFileSync(SCRIPT, 'utf8'))![1]!.match(/"([^"]+)"/g) ?? []).map((s) =>
      s.slice(1, -1),
    )
  : SUBSET;

/** max |a - b| / max |b|: how far convlab's run is from onnxruntime's on the file itself. */
function relativeError(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

async function runFile(bytes: Uint8Array, x: Float32Array, dims: number[]): Promise<Float32Array> {
  const session = await openSession(bytes);
  try {
    return [...(await runBatch(session, x, dims)).values()][0]!.data;
  } finally {
    await session.release();
  }
}

describe.skipIf(!haveTorch)('torchvision models exported by torch.onnx.export import exactly', () => {
  for (const model of models) {
    for (const opset of [13, 17]) {
      for (const form of ['eval', 'bn'] as const) {
        it(`${model} opset ${opset}, ${form === 'eval' ? 'BatchNorm folded' : 'BatchNorm kept'}`, async () => {
          const dir = await fixtures(model);
          const info = JSON.parse(readFileSync(join(dir, `${model}.json`), 'utf8')) as Info;
          const path = join(dir, `${model}.op${opset}.${form}.onnx`);
          const { graph, report, weights } = withOnnxFile(path, {}, (m) => ({
            ...m,
            weights: readWeights(m),
          }));
          const s = summariseGraph(graph);
          // What the file holds (counted independently in Python), which with BatchNorm kept is torchvision's count.
          expect(s.totals.params).toBe(info.held[`${opset}.${form}`]);
          if (form === 'bn') expect(s.totals.params).toBe(info.params);
          expect(s.totals.macs).toBe(info.macs);
          expect(report.batchNormFolded).toBe(form === 'eval' && info.bn_channels > 0);
          const names = new Set(graph.nodes.map((n) => n.name));
          expect(info.modules.filter((m) => !names.has(m))).toEqual([]);

          const batch = 2;
          const dims = [batch, ...info.input];
          const rng = new Rng(7, 'input');
          const x = Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => rng.normal());
          const reference = await runFile(readFileSync(path), x, dims);
          const exported = exportOnnx(graph, { mode: 'infer', weights });
          expect(relativeError(await runFile(exported, x, dims), reference)).toBeLessThan(1e-5);
          // The export imports back to the same model.
          const again = summariseGraph(importOnnx(memorySource(exported)).graph);
          expect([again.totals.params, again.totals.macs]).toEqual([s.totals.params, s.totals.macs]);
        }, 600_000);
      }
    }
  }
});
