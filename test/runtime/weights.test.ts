import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConvlabError } from '../../src/ir/errors.js';
import { type Graph, withoutAux } from '../../src/ir/graph.js';
import { tensorSpecs } from '../../src/ir/init.js';
import { resolveGraph } from '../../src/ir/resolve.js';
import { type HostTensor, readSafetensorsFile } from '../../src/runtime/safetensors.js';
import { fitAuxHeads, matchWeights } from '../../src/runtime/weights.js';
import { buildModel } from '../../src/zoo/index.js';
import { golden } from '../support/golden.js';
import { ROOT } from '../support/paths.js';
import { tempDir } from '../support/tmp.js';

/** Every tensor of a graph as a file would hold it (zeros: matching reads names, shapes and dtypes). */
function fileFor(graph: Graph): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [name, { spec }] of tensorSpecs(resolveGraph(graph))) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    out.set(
      name,
      spec.dtype === 'int64'
        ? { dtype: 'int64', shape: spec.shape, data: new BigInt64Array(n) }
        : { dtype: 'float32', shape: spec.shape, data: new Float32Array(n) },
    );
  }
  return out;
}

const f32 = (shape: number[]): HostTensor => ({
  dtype: 'float32',
  shape,
  data: new Float32Array(shape.reduce((a, b) => a * b, 1)),
});

function mismatch(graph: Graph, tensors: Map<string, HostTensor>): string {
  try {
    matchWeights(resolveGraph(graph), tensors, 'w.safetensors');
  } catch (e) {
    expect(e).toBeInstanceOf(ConvlabError);
    expect((e as ConvlabError).exitCode).toBe(2);
    expect((e as ConvlabError).message).not.toContain('\n');
    return (e as ConvlabError).message;
  }
  throw new Error('the weights matched');
}

describe('matchWeights', () => {
  const resnet18 = buildModel('resnet18');

  it('returns every parameter and buffer in state_dict order when names, shapes and dtypes fit', () => {
    const file = fileFor(resnet18);
    const shuffled = new Map([...file].reverse());
    const weights = matchWeights(resolveGraph(resnet18), shuffled);
    expect([...weights.keys()]).toEqual(golden.models['resnet18']!.state_dict.map(([k]) => k));
    expect(weights.get('conv1.weight')).toBe(file.get('conv1.weight')!.data);
  });

  it('names a missing tensor with the shape the model needs', () => {
    const file = fileFor(resnet18);
    file.delete('fc.bias');
    expect(mismatch(resnet18, file)).toBe(
      "w.safetensors do not fit model 'resnet18' (1 mismatch): missing fc.bias [1000]",
    );
  });

  it('loads a file without num_batches_tracked, starting the counters at 0 as PyTorch does', () => {
    const file = fileFor(resnet18);
    for (const name of [...file.keys()]) if (name.endsWith('.num_batches_tracked')) file.delete(name);
    const weights = matchWeights(resolveGraph(resnet18), file);
    expect([...weights.keys()]).toEqual(golden.models['resnet18']!.state_dict.map(([k]) => k));
    expect(weights.get('layer1.0.bn1.num_batches_tracked')).toEqual(new BigInt64Array([0n]));
  });

  it('names an unexpected tensor', () => {
    const file = fileFor(resnet18);
    file.set('layer5.0.conv1.weight', f32([3]));
    expect(mismatch(resnet18, file)).toMatch(/\(1 mismatch\): unexpected layer5\.0\.conv1\.weight \[3\]$/);
  });

  it('names a shape difference: what the file has and what the model needs', () => {
    const file = fileFor(resnet18);
    file.set('layer1.0.conv1.weight', f32([64, 64, 1, 1]));
    expect(mismatch(resnet18, file)).toMatch(
      /layer1\.0\.conv1\.weight: file has \[64,64,1,1\], model needs \[64,64,3,3\]$/,
    );
  });

  it('names a dtype difference (a float num_batches_tracked is not silently cast)', () => {
    const file = fileFor(resnet18);
    file.set('bn1.num_batches_tracked', f32([]));
    expect(mismatch(resnet18, file)).toMatch(
      /bn1\.num_batches_tracked: file has float32, model needs int64$/,
    );
  });

  it('lists the first six mismatches, model order first, and counts the rest', () => {
    const file = fileFor(resnet18);
    for (const name of ['conv1.weight', 'bn1.weight', 'bn1.bias', 'layer4.1.bn2.bias', 'fc.weight']) {
      file.delete(name);
    }
    file.set('extra.a', f32([1]));
    file.set('extra.b', f32([2]));
    const message = mismatch(resnet18, file);
    expect(message).toContain('(7 mismatches): missing conv1.weight [64,3,7,7]; missing bn1.weight [64]; ');
    expect(message).toContain('missing fc.weight [1000,512]; unexpected extra.a [1]; and 1 more');
  });

  it('suggests --classes when only the classifier differs in its number of classes', () => {
    const file = fileFor(buildModel('resnet18', { classes: 10 }));
    expect(mismatch(resnet18, file)).toMatch(
      /fc\.weight: file has \[10,512\], model needs \[1000,512\].*try --classes 10\)$/,
    );
  });

  it('says when nothing fits at all: weights for another model, or prefixed keys', () => {
    const prefixed = new Map([...fileFor(resnet18)].map(([k, v]) => [`module.${k}`, v]));
    expect(mismatch(resnet18, prefixed)).toMatch(/no tensor fits: are these weights for another model/);
    expect(mismatch(buildModel('mobilenet_v2'), fileFor(resnet18))).toMatch(/no tensor fits/);
  });
});

describe('fitAuxHeads', () => {
  const full = buildModel('googlenet');
  const lean = withoutAux(full);

  it('drops the auxiliary heads for a file without them, keeps them for a file with them', () => {
    expect(fitAuxHeads(full, fileFor(lean)).outputs.map((o) => o.role)).toEqual(['main']);
    expect(fitAuxHeads(full, fileFor(full))).toBe(full);
    expect(() => matchWeights(resolveGraph(fitAuxHeads(full, fileFor(lean))), fileFor(lean))).not.toThrow();
    expect(() => matchWeights(resolveGraph(fitAuxHeads(full, fileFor(full))), fileFor(full))).not.toThrow();
  });

  it('still fails on a file with half a head, naming what is missing', () => {
    const half = fileFor(full);
    for (const name of [...half.keys()]) if (name.startsWith('aux2.')) half.delete(name);
    expect(mismatch(fitAuxHeads(full, half), half)).toMatch(
      /missing aux2\.conv\.conv\.weight \[128,528,1,1\]/,
    );
  });

  it('leaves a model without heads alone', () => {
    const resnet = buildModel('resnet18');
    expect(fitAuxHeads(resnet, new Map())).toBe(resnet);
  });
});

const PYTHON = '/usr/bin/python3';
const hasTorch = spawnSync(PYTHON, ['-c', 'import torch, torchvision']).status === 0;

describe.skipIf(!hasTorch)('tools/torch_to_safetensors.py output loads into convlab by name', () => {
  const dir = tempDir('weights');

  const python = (...args: string[]) => {
    const r = spawnSync(PYTHON, args, { encoding: 'utf8', cwd: join(ROOT, 'tools') });
    if (r.status !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr}`);
    return r;
  };
  const fits = (model: string, path: string) => {
    const file = readSafetensorsFile(path);
    const graph = fitAuxHeads(buildModel(model), file.tensors);
    return matchWeights(resolveGraph(graph), file.tensors, path);
  };

  it('a --pth checkpoint: {"state_dict": ...} with DataParallel keys, --strip-prefix module.', () => {
    const pth = join(dir, 'r18.pth');
    python(
      '-c',
      `import torch, torchvision; torch.manual_seed(0); m = torchvision.models.resnet18()
torch.save({"epoch": 3, "state_dict": {"module." + k: v for k, v in m.state_dict().items()}}, ${JSON.stringify(pth)})`,
    );
    const out = join(dir, 'r18.safetensors');
    python('torch_to_safetensors.py', '--pth', pth, '--strip-prefix', 'module.', '-o', out);
    const file = readSafetensorsFile(out);
    expect(file.metadata['format']).toBe('pt');
    expect(fits('resnet18', out).size).toBe(golden.models['resnet18']!.state_dict.length);
  });

  // tools/torch_models.py's models load by name in the parity tests.
  it('--random of a torchvision model, GoogLeNet with its auxiliary heads', () => {
    const out = join(dir, 'googlenet.safetensors');
    python('torch_to_safetensors.py', '--random', '--model', 'googlenet', '--seed', '1', '-o', out);
    expect(fits('googlenet', out).size).toBe(readSafetensorsFile(out).tensors.size);
    expect(readSafetensorsFile(out).tensors.has('aux1.fc2.bias')).toBe(true);
  }, 60_000);
});
