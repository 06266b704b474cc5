import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { add, conv2d, GraphBuilder, listModels, relu, toSpec } from '../../src/index.js';
import { cli, type Run } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

const tmp = tempDir('cli-rf');
const has = (name: string): boolean => listModels().some((m) => m.name === name);

/** `convlab rf ...` in process, through main. */
const convlabRf = (...argv: string[]): Promise<Run> => cli('rf', ...argv);

interface RfLayer {
  name: string;
  size: number[];
  stride: number[];
  padding: number[];
  aligned: boolean;
}

describe('convlab rf', () => {
  it.skipIf(!has('resnet50'))(
    '--json follows the contract; the default layer is the last with spatial extent',
    async () => {
      const r = await convlabRf('resnet50', '--json');
      expect(r.code).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out).toMatchObject({
        model: 'resnet50',
        layer: 'layer4.2.relu_2',
        size: [427, 427],
        stride: [32, 32],
        padding: [213, 213],
        aligned: true,
        input: [224, 224],
        clipped: true,
      });
      const layers = out.layers as RfLayer[];
      for (const l of layers)
        expect(Object.keys(l)).toEqual(
          expect.arrayContaining(['name', 'size', 'stride', 'padding', 'aligned']),
        );
      expect(layers[0]).toMatchObject({ name: 'conv1', size: [7, 7], stride: [2, 2], padding: [3, 3] });
      expect(layers.at(-1)!.name).toBe('layer4.2.relu_2');
      expect(layers.map((l) => l.name)).not.toContain('fc');
      expect(out.notes.join(' ')).toMatch(/larger than the 224x224 input: it is clipped by the image/);
    },
  );

  it.skipIf(!has('resnet50'))(
    'prints a readable table and says when the field is clipped by the image',
    async () => {
      const r = await convlabRf('resnet50', '--layer', 'layer3');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^resnet50 {2}input 224x224 {2}layer layer3\.5\.relu_2/);
      expect(r.stdout).toMatch(/layer\s+op\s+output\s+size\s+stride\s+padding\s+centre\s+notes/);
      expect(r.stdout).toMatch(/maxpool\s+maxpool2d\s+56x56\s+11x11\s+4\s+5\s+0/);
      expect(r.stdout).toContain(
        'receptive field of layer3.5.relu_2: 267x267, effective stride 16, effective padding 133',
      );
      expect(r.stdout).toContain('clipped by the image');
      expect(r.stdout).not.toContain('layer4');
    },
  );

  it.skipIf(!has('vgg16'))(
    'VGG-16 features.30: 212 / 32 / 90, inside the image, no clipping note',
    async () => {
      const r = await convlabRf('vgg16', '--layer', 'features.30', '--json');
      const out = JSON.parse(r.stdout);
      expect(out).toMatchObject({
        layer: 'features.30',
        size: [212, 212],
        stride: [32, 32],
        padding: [90, 90],
      });
      expect(out.clipped).toBe(false);
      expect(out.notes).toEqual([]);
    },
  );

  it.skipIf(!has('inception_v3'))('a block name stands for its last node (Mixed_6e)', async () => {
    const out = JSON.parse((await convlabRf('inception_v3', '--layer', 'Mixed_6e', '--json')).stdout);
    expect(out.layer).toMatch(/^Mixed_6e\./);
    expect(out.aligned).toBe(true);
    const last = JSON.parse((await convlabRf('inception_v3', '--json')).stdout);
    expect(last).toMatchObject({ size: [1311, 1311], stride: [32, 32], padding: [618, 618] });
    expect(last.layer).toMatch(/^Mixed_7c\./);
  });

  it.skipIf(!has('resnet18'))('--input changes what the field is compared with', async () => {
    const out = JSON.parse((await convlabRf('resnet18', '--input', '3x64x64', '--json')).stdout);
    expect(out).toMatchObject({ input: [64, 64], size: [435, 435], clipped: true });
    expect(out.notes[0]).toMatch(/larger than the 64x64 input/);
  });

  it.skipIf(!has('resnet50'))('a layer past global pooling reads the whole image', async () => {
    const r = await convlabRf('resnet50', '--layer', 'fc');
    expect(r.stdout).toContain('receptive field of fc: 224x224');
    expect(r.stdout).toContain('every output reads the whole 224x224 image');
  });

  it.skipIf(!has('se_resnet50'))('squeeze-and-excitation gates are named as context', async () => {
    const out = JSON.parse((await convlabRf('se_resnet50', '--json')).stdout);
    expect(out.context).toMatch(/\.se\./);
    expect(out.notes.join(' ')).toMatch(/whole image \(squeeze-and-excitation\)/);
  });

  it('an unaligned merge in a spec file is reported by name, with the range of sizes', async () => {
    const b = new GraphBuilder('offset', 'custom');
    const x = b.input([1, 32, 32]);
    const a = conv2d(x, { out: 1, kernel: 3, padding: 1 }, 'a');
    const c = conv2d(x, { out: 1, kernel: 5, padding: [1, 1, 3, 3] }, 'c');
    b.output(relu(add(a, c, 'add'), 'out'));
    const file = join(tmp, 'offset.json');
    writeFileSync(file, JSON.stringify(toSpec(b.build())));
    const r = await convlabRf(file, '--json');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ layer: 'out', aligned: false, size: [5, 5], padding: [1, 1] });
    expect(out.unaligned).toHaveLength(1);
    expect(out.unaligned[0]).toMatchObject({ node: 'add', aligned: false, sizeMin: [3, 3], sizeMax: [5, 5] });
    expect(out.unaligned[0].paths.map((p: { from: string }) => p.from)).toEqual(['a', 'c']);
    expect(out.notes.join(' ')).toMatch(/paths merge unaligned at 'add'/);
    const table = await convlabRf(file);
    expect(table.stdout).toMatch(/add\s+add\s+32x32\s+5x5.*unaligned merge/);
  });

  it.skipIf(!has('resnet50'))('an unknown layer fails with exit code 2 and the nearest names', async () => {
    const r = await convlabRf('resnet50', '--layer', 'layer9.0');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/unknown layer 'layer9\.0' in resnet50; nearest: .*layer1\.0/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('convlab summary --rf', () => {
  it.skipIf(!has('resnet50'))('adds size and stride columns to the table', async () => {
    const r = await cli('summary', 'resnet50', '--rf');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/layer\s+op\s+output\s+params\s+MACs\s+RF\s+RF stride/);
    expect(r.stdout).toMatch(/layer4\.2\.relu_2\s+relu\s+\[1,2048,7,7\]\s+427x427\s+32/);
    expect(r.stdout).toMatch(/fc\s+linear.*224x224\s+whole image/);
  });

  it.skipIf(!has('resnet50'))(
    'adds an rf object per layer in JSON, and folds blocks to their last node',
    async () => {
      const s = JSON.parse((await cli('summary', 'resnet50', '--rf', '--json')).stdout);
      const conv1 = s.layers.find((l: { name: string }) => l.name === 'conv1');
      expect(conv1.rf).toMatchObject({ size: [7, 7], stride: [2, 2], padding: [3, 3], aligned: true });
      const folded = JSON.parse((await cli('summary', 'resnet50', '--rf', '--depth', '1', '--json')).stdout);
      const layer3 = folded.layers.find((l: { name: string }) => l.name === 'layer3');
      expect(layer3.rf).toMatchObject({ size: [267, 267], stride: [16, 16], padding: [133, 133] });
      const plain = JSON.parse((await cli('summary', 'resnet50', '--json')).stdout);
      expect(plain.layers[0].rf).toBeUndefined();
    },
  );
});
