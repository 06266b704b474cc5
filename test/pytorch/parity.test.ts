import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TRAIN_DEFAULTS } from '../../src/cli/export.js';
import { withInputShape } from '../../src/ir/graph.js';
import { initialWeights, Rng, tensorSpecs, type WeightData } from '../../src/ir/init.js';
import { type ResolvedGraph, resolveGraph } from '../../src/ir/resolve.js';
import { parseSpec } from '../../src/ir/spec.js';
import { pytorchFiles } from '../../src/pytorch/export.js';
import { infer } from '../../src/runtime/infer.js';
import { type HostTensor, writeSafetensorsFile } from '../../src/runtime/safetensors.js';
import { buildModel, listModels } from '../../src/zoo/index.js';
import { tempDir } from '../support/tmp.js';

/**
 * Every zoo model exported for PyTorch computes what convlab computes: its state_dict is convlab's
 * parameters by name and shape, and its eval-mode logits equal onnxruntime's on convlab's export
 * to 1e-4 relative, with seeded weights and batch-norm statistics far from their initial 0 and 1.
 * Models run at a small input (64x64 where they allow it) and 10 classes to keep the run short.
 */

const dir = tempDir('pytorch-parity');

/** Seeded weights whose batch norms have statistics and affine terms far from identity. */
function seededWeights(r: ResolvedGraph): Map<string, WeightData> {
  const weights = initialWeights(r, 7);
  const rng = new Rng(7, 'bn');
  const spread = (name: string, low: number, high: number) => {
    const t = weights.get(name) as Float32Array;
    for (let i = 0; i < t.length; i++) t[i] = low + (high - low) * rng.uniform();
  };
  for (const n of r.nodes) {
    if (n.node.op !== 'batchnorm2d') continue;
    spread(`${n.node.name}.running_mean`, -0.3, 0.3);
    spread(`${n.node.name}.running_var`, 0.5, 2);
    spread(`${n.node.name}.weight`, 0.5, 1.5);
    spread(`${n.node.name}.bias`, -0.3, 0.3);
  }
  return weights;
}

const EXAMPLES = join(import.meta.dirname, '..', '..', 'examples');

function small(name: string): ResolvedGraph {
  if (name.endsWith('.json')) {
    const file = name.startsWith('fixtures/') ? join(import.meta.dirname, name) : join(EXAMPLES, name);
    return resolveGraph(parseSpec(readFileSync(file, 'utf8'), name));
  }
  const graph = buildModel(name, { classes: 10 });
  const [c, h] = graph.nodes[0]!.attrs['shape'] as [number, number, number];
  if (h > 64) {
    try {
      return resolveGraph(withInputShape(graph, [c, 64, 64]));
    } catch {
      // too small for this model (Inception v3 needs 75x75): its own input size
    }
  }
  return resolveGraph(graph);
}

const host = (r: ResolvedGraph, weights: ReadonlyMap<string, WeightData>): Map<string, HostTensor> => {
  const specs = tensorSpecs(r);
  return new Map(
    [...weights].map(([name, data]): [string, HostTensor] => {
      const shape = specs.get(name)!.spec.shape;
      return [
        name,
        data instanceof BigInt64Array ? { dtype: 'int64', shape, data } : { dtype: 'float32', shape, data },
      ];
    }),
  );
};

/**
 * Models above this many parameters (the VGGs' 100M-parameter classifiers, ResNet-152, ...) have
 * their names and shapes checked but their logits only with CONVLAB_PARITY_ALL=1: generating,
 * writing and loading their weights would take most of CI's minutes, and every op they use is
 * checked in the smaller models (vgg16_spp's pyramid pooling in examples/spp_head.json).
 */
const LOGITS_LIMIT = process.env['CONVLAB_PARITY_ALL'] ? Number.POSITIVE_INFINITY : 30e6;

async function prepare(name: string): Promise<string> {
  const r = small(name);
  const folder = join(dir, name.replace('/', '_'));
  mkdirSync(folder);
  for (const [file, text] of pytorchFiles(r, {
    command: 'test',
    description: name,
    weights: false,
    train: TRAIN_DEFAULTS,
  }))
    writeFileSync(join(folder, file), text);
  const specs = [...tensorSpecs(r)].map(([n, { spec }]) => [n, spec.shape]);
  writeFileSync(join(folder, 'parameters.json'), JSON.stringify(specs));
  const count = [...tensorSpecs(r).values()].reduce(
    (s, { spec }) => s + spec.shape.reduce((a, b) => a * b, 1),
    0,
  );
  if (count > LOGITS_LIMIT) return folder;
  const weights = seededWeights(r);
  writeSafetensorsFile(join(folder, 'weights.safetensors'), host(r, weights));
  const dims = [2, ...r.nodes[0]!.ctx.output.slice(1)];
  const rng = new Rng(1, 'input');
  const data = Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => rng.normal());
  const [logits] = (await infer(r, { data, dims }, { weights })).values();
  writeSafetensorsFile(join(folder, 'io.safetensors'), [
    ['input', { dtype: 'float32', shape: dims, data }],
    ['logits', { dtype: 'float32', shape: logits!.shape, data: logits!.data }],
  ]);
  return folder;
}

describe('PyTorch export parity', () => {
  const models = (
    process.env['CONVLAB_PARITY_MODELS']?.split(',') ?? [
      ...listModels().map((m) => m.name),
      ...readdirSync(EXAMPLES).filter((f) => f.endsWith('.json')),
      ...readdirSync(join(import.meta.dirname, 'fixtures')).map((f) => `fixtures/${f}`),
    ]
  ).filter(Boolean);

  it(`every zoo model and example spec (${models.length}): same parameters, same logits to 1e-4`, {
    timeout: 900_000,
  }, async () => {
    const results: Record<string, unknown>[] = [];
    // In chunks, so that the weight files of all models never sit on disk at once.
    for (let at = 0; at < models.length; at += 8) {
      const folders: string[] = [];
      for (const m of models.slice(at, at + 8)) folders.push(await prepare(m));
      const out = execFileSync(
        '/usr/bin/python3',
        [join(import.meta.dirname, 'check_models.py'), ...folders],
        {
          encoding: 'utf8',
          maxBuffer: 1 << 26,
        },
      );
      results.push(
        ...out
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as Record<string, unknown>),
      );
      for (const f of folders) rmSync(f, { recursive: true, force: true });
    }
    const compared = results.filter((r) => r['shape_equal'] !== undefined);
    const bad = results.filter(
      (r) =>
        !r['keys_equal'] ||
        (compared.includes(r) && !(r['shape_equal'] && (r['relative'] as number) <= 1e-4)),
    );
    expect(bad).toEqual([]);
    expect(results).toHaveLength(models.length);
    // Most models have their logits compared (the rest: their names and shapes).
    expect(compared.length).toBeGreaterThan(models.length / 2);
  });
});
