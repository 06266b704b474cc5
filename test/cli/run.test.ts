import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { topK } from '../../src/cli/run.js';
import { imagenetTensor } from '../../src/data/imagenet.js';
import { initialWeights, tensorSpecs } from '../../src/ir/init.js';
import { resolveGraph } from '../../src/ir/resolve.js';
import { type HostTensor, readSafetensorsFile, writeSafetensorsFile } from '../../src/runtime/safetensors.js';
import { buildModel } from '../../src/zoo/index.js';
import { cli } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

interface RunReport {
  model: string;
  weights: string;
  input: number[];
  image?: string;
  normalise?: { mean: number[]; std: number[] };
  random?: { seed: number };
  classes: number;
  top: { rank: number; index: number; label?: string; probability: number; logit: number }[];
}

/** convlab's seeded initialisation of a zoo model, saved as a weights file. */
function saveWeights(model: string, path: string, classes?: number): void {
  const r = resolveGraph(buildModel(model, classes ? { classes } : {}));
  const specs = tensorSpecs(r);
  const tensors = [...initialWeights(r, 7)].map(([name, data]): [string, HostTensor] => {
    const shape = specs.get(name)!.spec.shape;
    return [
      name,
      data instanceof BigInt64Array ? { dtype: 'int64', shape, data } : { dtype: 'float32', shape, data },
    ];
  });
  writeSafetensorsFile(path, tensors);
}

/** A 320x240 test card: gradients and stripes, so a shifted crop or a swapped channel shows. */
function testCard(width = 320, height = 240): Buffer {
  const pixels = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = 3 * (y * width + x);
      pixels[i] = Math.round((255 * x) / width);
      pixels[i + 1] = Math.round((255 * y) / height);
      pixels[i + 2] = 128 + Math.round(100 * Math.sin(x / 5) * Math.cos(y / 9));
    }
  }
  return pixels;
}

const dir = tempDir('run');
const path = (name: string) => join(dir, name);

beforeAll(async () => {
  saveWeights('shufflenet_v2_x0_5', path('shufflenet.safetensors'));
  saveWeights('resnet20', path('resnet20.safetensors'));
  const raw = { raw: { width: 320, height: 240, channels: 3 as const } };
  await sharp(testCard(), raw).png().toFile(path('card.png'));
  await sharp(testCard(), raw).jpeg({ quality: 90 }).toFile(path('card.jpg'));
  await sharp(testCard(), raw).greyscale().png().toFile(path('grey.png'));
  const jpeg = readFileSync(path('card.jpg'));
  writeFileSync(path('truncated.jpg'), jpeg.subarray(0, Math.floor(jpeg.length * 0.6)));
  writeFileSync(path('notes.png'), 'these are not pixels\n');
  const weights = readFileSync(path('resnet20.safetensors'));
  writeFileSync(path('truncated.safetensors'), weights.subarray(0, weights.length - 100));
  const poisoned = readSafetensorsFile(path('resnet20.safetensors')).tensors;
  poisoned.get('fc.bias')!.data[3] = Number.NaN;
  writeSafetensorsFile(path('nan.safetensors'), poisoned);
}, 60_000);

const shufflenet = ['run', 'shufflenet_v2_x0_5', '--weights', path('shufflenet.safetensors')];

describe('convlab run', () => {
  it('classifies a PNG: the top 5 ImageNet classes with their probabilities', async () => {
    const r = await cli(...shufflenet, '--image', path('card.png'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe(
      `shufflenet_v2_x0_5 on ${path('card.png')}, weights ${path('shufflenet.safetensors')}, input [1,3,224,224]`,
    );
    expect(lines[2]).toMatch(/^rank\s+class\s+name\s+probability$/);
    expect(lines.slice(4)).toHaveLength(5);
    for (const line of lines.slice(4)) expect(line).toMatch(/^\s+\d\s+\d+\s+\S.*\s\d+\.\d\d%$/);
  });

  it('--json --topk 3 on a JPEG: one JSON document, probabilities in order, ImageNet labels', async () => {
    const r = await cli(...shufflenet, '--image', path('card.jpg'), '--json', '--topk', '3');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as RunReport;
    expect(report).toMatchObject({ model: 'shufflenet_v2_x0_5', input: [1, 3, 224, 224], classes: 1000 });
    expect(report.image).toBe(path('card.jpg'));
    expect(report.normalise).toEqual({ mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
    expect(report.top.map((p) => p.rank)).toEqual([1, 2, 3]);
    const p = report.top.map((t) => t.probability);
    expect(p[0]).toBeGreaterThanOrEqual(p[1]!);
    expect(p[1]).toBeGreaterThanOrEqual(p[2]!);
    expect(p.reduce((a, b) => a + b)).toBeLessThanOrEqual(1);
    for (const t of report.top) expect(typeof t.label).toBe('string');
  });

  it('reads a greyscale image as RGB, as PIL convert("RGB") does', async () => {
    const r = await cli(...shufflenet, '--image', path('grey.png'), '--json');
    expect(r.code).toBe(0);
  });

  it('--mean and --std replace the ImageNet normalisation (Inception-style [-1, 1] here)', async () => {
    const args = [...shufflenet, '--image', path('card.png'), '--json', '--topk', '1000'];
    const imagenet = JSON.parse((await cli(...args)).stdout) as RunReport;
    const inception = JSON.parse(
      (await cli(...args, '--mean', '0.5,0.5,0.5', '--std', '0.5,0.5,0.5')).stdout,
    ) as RunReport;
    expect(inception.normalise).toEqual({ mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
    expect(inception.top).not.toEqual(imagenet.top);
  });

  it('--random is seeded: the same seed gives the same answer, another seed another', async () => {
    const a = JSON.parse((await cli(...shufflenet, '--random', '--json')).stdout) as RunReport;
    const b = JSON.parse((await cli(...shufflenet, '--random', '--json', '--seed', '0')).stdout) as RunReport;
    const c = JSON.parse((await cli(...shufflenet, '--random', '--json', '--seed', '5')).stdout) as RunReport;
    expect(a.random).toEqual({ seed: 0 });
    expect(a.top).toEqual(b.top);
    expect(c.top).not.toEqual(a.top);
  });

  it('prints class indices for a model that is not a 1000-class ImageNet classifier', async () => {
    const r = await cli(
      'run',
      'resnet20',
      '--weights',
      path('resnet20.safetensors'),
      '--image',
      path('card.png'),
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/input \[1,3,32,32\]/);
    expect(r.stdout).toMatch(/^rank\s+class\s+probability$/m);
    const json = await cli(
      'run',
      'resnet20',
      '--weights',
      path('resnet20.safetensors'),
      '--random',
      '--json',
      '--topk',
      '20',
    );
    const report = JSON.parse(json.stdout) as RunReport;
    expect(report.top).toHaveLength(10);
    expect(report.top.every((t) => t.label === undefined)).toBe(true);
  });
});

describe('convlab run rejects bad input with exit code 2 and one clear line', () => {
  const fails = async (args: string[], message: RegExp) => {
    const r = await cli(...args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^convlab run: /);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  };

  it('a truncated JPEG', () =>
    fails(
      [...shufflenet, '--image', path('truncated.jpg')],
      /cannot decode image '.*truncated\.jpg': .*\(PNG or JPEG expected\)/,
    ));

  it('a text file named .png', () =>
    fails(
      [...shufflenet, '--image', path('notes.png')],
      /cannot decode image '.*notes\.png': .*unsupported image format/,
    ));

  it('a missing image', () =>
    fails([...shufflenet, '--image', path('nope.jpg')], /cannot read image '.*nope\.jpg': no such file/));

  it('a missing weights file', () =>
    fails(
      ['run', 'resnet20', '--weights', path('nope.safetensors'), '--random'],
      /cannot read weights '.*nope\.safetensors': no such file/,
    ));

  it('a truncated weights file', () =>
    fails(
      ['run', 'resnet20', '--weights', path('truncated.safetensors'), '--random'],
      /truncated\.safetensors: not a valid safetensors file: .*truncated/,
    ));

  it('weights for another model', () =>
    fails(
      ['run', 'resnet20', '--weights', path('shufflenet.safetensors'), '--random'],
      /do not fit model 'resnet20' \(\d+ mismatches\): missing conv1\.weight \[16,3,3,3\].*no tensor fits/,
    ));

  it('weights for another number of classes', () =>
    fails(
      ['run', 'resnet20', '--weights', path('resnet20.safetensors'), '--random', '--classes', '100'],
      /fc\.weight: file has \[10,64\], model needs \[100,64\].*try --classes 10/,
    ));

  it('an input too small for the model, or not C x H x W', async () => {
    const weights = ['--weights', path('resnet20.safetensors'), '--random'];
    await fails(
      ['run', 'densenet_bc_100_k12', ...weights, '--input', '3x2x2'],
      /node 'features\.transition\d\.pool' \(avgpool2d\) with inputs \[1,\d+,1,1\]: kernel 2x2 .* larger than the padded input 1x1/,
    );
    await fails(['run', 'resnet20', ...weights, '--input', '3x32'], /--input must be CxHxW/);
  });

  it('an image for a model without 3 input channels', () =>
    fails(
      [
        'run',
        'resnet20',
        '--weights',
        path('resnet20.safetensors'),
        '--image',
        path('card.png'),
        '--input',
        '1x32x32',
      ],
      /conv1\.weight: file has \[16,3,3,3\], model needs \[16,1,3,3\]/,
    ));

  it('bad usage: no weights, both or neither source, a bad --topk or --seed', async () => {
    await fails(['run', 'resnet20', '--random'], /--weights FILE\.safetensors is required/);
    await fails(
      ['run', 'resnet20', '--weights', path('resnet20.safetensors')],
      /exactly one of --image FILE and --random/,
    );
    await fails([...shufflenet, '--random', '--image', path('card.png')], /exactly one of/);
    await fails([...shufflenet, '--random', '--topk', '0'], /--topk must be a positive integer/);
    await fails([...shufflenet, '--random', '--seed', '1.5'], /--seed must be an integer >= 0, got '1\.5'/);
    await fails(
      [...shufflenet, '--random', '--std', '0.5,0,0.5'],
      /--std must be three positive numbers R,G,B/,
    );
    await fails([...shufflenet, '--random', '--mean', '0.5,0.5'], /--mean must be three numbers R,G,B/);
  });
});

describe('convlab run fails with exit code 1 when the computation goes wrong', () => {
  it('weights that make the logits NaN', async () => {
    const r = await cli('run', 'resnet20', '--weights', path('nan.safetensors'), '--random');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      "convlab run: 'resnet20' computed non-finite logits (NaN or infinity); check the weights\n",
    );
  });
});

describe('run helpers', () => {
  it('topK: softmax probabilities, highest first, ties by index', () => {
    const top = topK([1, 3, 3, 0], 3, ['a', 'b', 'c', 'd']);
    expect(top.map((t) => [t.index, t.label])).toEqual([
      [1, 'b'],
      [2, 'c'],
      [0, 'a'],
    ]);
    const z = Math.exp(1) + 2 * Math.exp(3) + 1;
    expect(top[0]!.probability).toBeCloseTo(Math.exp(3) / z, 12);
    expect(topK([1000, 0], 1)[0]).toEqual({ rank: 1, index: 0, probability: 1, logit: 1000 });
  });
});

const PYTHON = '/usr/bin/python3';
const hasTorch = spawnSync(PYTHON, ['-c', 'import torchvision']).status === 0;

describe.skipIf(!hasTorch)('ImageNet preprocessing against torchvision on PIL, pixel for pixel', () => {
  it('resize, centre crop and normalise equal torchvision.transforms on PIL', async () => {
    const script = `
import sys, numpy as np, torchvision.transforms as T
from PIL import Image
for crop, resize in ((224, 256), (299, 342)):
    t = T.Compose([T.Resize(resize), T.CenterCrop(crop), T.ToTensor(),
                   T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    for name in ("card.png", "card.jpg"):
        x = t(Image.open(sys.argv[1] + "/" + name).convert("RGB")).numpy()
        x.astype("<f4").tofile(sys.argv[1] + f"/{name}.{crop}.bin")
`;
    const r = spawnSync(PYTHON, ['-c', script, dir], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    for (const crop of [224, 299]) {
      for (const name of ['card.png', 'card.jpg']) {
        const ours = await imagenetTensor(readFileSync(path(name)), [3, crop, crop]);
        const theirs = new Float32Array(new Uint8Array(readFileSync(path(`${name}.${crop}.bin`))).buffer);
        expect(ours.length).toBe(theirs.length);
        let max = 0;
        let sum = 0;
        // In levels of 255, bounded with the largest channel std: |normalised difference| * std * 255.
        theirs.forEach((v, i) => {
          const levels = Math.abs(ours[i]! - v) * 0.229 * 255;
          max = Math.max(max, levels);
          sum += levels;
        });
        // The same pixels (float32 rounding aside); a JPEG may decode a level apart under another libjpeg.
        expect(max).toBeLessThanOrEqual(name.endsWith('.png') ? 1e-3 : 1);
        expect(sum / theirs.length).toBeLessThan(name.endsWith('.png') ? 1e-4 : 0.05);
      }
    }
  }, 60_000);
});
