import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { concat, conv2d, GraphBuilder, listModels, relu, toSpec } from '../../src/index.js';
import { cli, type Run } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

const tmp = tempDir('cli-memory');
const has = (name: string): boolean => listModels().some((m) => m.name === name);

/** `convlab memory ...` in process, through main. */
const convlabMemory = (...argv: string[]): Promise<Run> => cli('memory', ...argv);

interface Out {
  model: string;
  batch: number;
  mode: string;
  strategy: string;
  bytes: Record<string, number>;
  extraFlops: number;
  timeline: { step: number; node: string; phase: string; liveBytes: number }[];
}

const run = async (...argv: string[]): Promise<Out> => {
  const r = await convlabMemory(...argv, '--json');
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as Out;
};

describe('convlab memory', () => {
  it.skipIf(!has('resnet18'))('--json follows the contract', async () => {
    const out = await run('resnet18', '--batch', '4');
    expect(out).toMatchObject({ model: 'resnet18', batch: 4, mode: 'infer', strategy: 'naive' });
    expect(Object.keys(out.bytes).sort()).toEqual(
      expect.arrayContaining([
        'params',
        'grads',
        'optimizer',
        'activationsTotal',
        'savedForBackward',
        'peak',
      ]),
    );
    expect(out.bytes['params']).toBe(11689512 * 4);
    expect(out.bytes['grads']).toBe(0);
    for (const t of out.timeline)
      expect(Object.keys(t)).toEqual(expect.arrayContaining(['step', 'node', 'liveBytes']));
    expect(out.timeline.map((t) => t.step)).toEqual(out.timeline.map((_, i) => i));
    expect(out.bytes['peak']).toBe(Math.max(...out.timeline.map((t) => t.liveBytes)));
  });

  it.skipIf(!has('resnet18'))('--mode train counts grads, optimiser state and a backward pass', async () => {
    const sgd = await run('resnet18', '--batch', '4', '--mode', 'train');
    const adam = await run('resnet18', '--batch', '4', '--mode', 'train', '--optimizer', 'adam');
    expect(sgd.bytes['grads']).toBe(sgd.bytes['params']);
    expect(sgd.bytes['optimizer']).toBe(0);
    expect(adam.bytes['optimizer']).toBe(2 * adam.bytes['params']!);
    expect(adam.bytes['peak']! - sgd.bytes['peak']!).toBe(2 * sgd.bytes['params']!);
    expect(sgd.bytes['savedForBackward']).toBeGreaterThan(0);
    expect(new Set(sgd.timeline.map((t) => t.phase))).toEqual(new Set(['forward', 'backward']));
  });

  it.skipIf(!has('resnet50'))(
    '--strategy checkpoint lowers the training peak and reports extra FLOPs',
    async () => {
      const naive = await run('resnet50', '--batch', '8', '--mode', 'train');
      const ckpt = await run('resnet50', '--batch', '8', '--mode', 'train', '--strategy', 'checkpoint');
      expect(ckpt.bytes['peak']).toBeLessThan(naive.bytes['peak']!);
      expect(ckpt.extraFlops).toBeGreaterThan(0);
      const few = await run(
        'resnet50',
        '--batch',
        '8',
        '--mode',
        'train',
        '--strategy',
        'checkpoint',
        '--segments',
        '2',
      );
      expect(few.extraFlops).toBeLessThan(ckpt.extraFlops);
    },
  );

  it.skipIf(!has('densenet_bc_100_k12'))('--strategy shared on DenseNet-BC-100, batch 64', async () => {
    const naive = await run('densenet_bc_100_k12', '--batch', '64', '--mode', 'train');
    const shared = await run(
      'densenet_bc_100_k12',
      '--batch',
      '64',
      '--mode',
      'train',
      '--strategy',
      'shared',
    );
    expect(shared.bytes['peak']! / naive.bytes['peak']!).toBeLessThan(0.6);
  });

  it.skipIf(!has('resnet50'))('prints a readable table in human units by default', async () => {
    const r = await convlabMemory('resnet50', '--batch', '32', '--mode', 'train');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^resnet50 {2}batch 32 {2}train {2}strategy naive {2}optimizer sgd/);
    expect(r.stdout).toMatch(/params\s+97\.5 MiB/);
    expect(r.stdout).toMatch(/saved for backward\s+\d+\.\d+ GiB/);
    expect(r.stdout).toMatch(/peak\s+\d+\.\d+ GiB\s+step \d+, (forward|backward) of /);
    expect(r.stdout).toMatch(/saved for backward by op: batchnorm2d/);
    expect(r.stdout).toMatch(/timeline \(live bytes; each row the highest/);
    expect(r.stdout.split('\n').length).toBeLessThan(60);
    const all = await convlabMemory('resnet50', '--batch', '32', '--timeline');
    expect(all.stdout).toMatch(/layer4\.2\.relu_2/);
    expect(all.stdout.split('\n').length).toBeGreaterThan(150);
  });

  it('reads a JSON spec file, and --batch scales every feature map', async () => {
    const b = new GraphBuilder('branches', 'custom');
    const x = b.input([3, 8, 8]);
    b.output(
      concat([
        relu(conv2d(x, { out: 4, kernel: 3, padding: 1 }, 'a'), 'ra'),
        conv2d(x, { out: 4, kernel: 1 }, 'b'),
      ]),
    );
    const file = join(tmp, 'branches.json');
    writeFileSync(file, JSON.stringify(toSpec(b.build())));
    const one = await run(file);
    const two = await run(file, '--batch', '2');
    expect(one.model).toBe('branches');
    // conv a, relu, conv b, concat: 4 + 4 + 4 + 8 channels of 8x8 floats.
    expect(one.bytes['activationsTotal']).toBe(20 * 64 * 4);
    expect(two.bytes['activationsTotal']).toBe(2 * one.bytes['activationsTotal']!);
  });

  it('bad usage exits with code 2 and one line naming the fix', async () => {
    for (const [argv, message] of [
      [['resnet18', '--mode', 'fit'], /--mode must be one of infer, train; got 'fit'/],
      [['resnet18', '--strategy', 'magic'], /--strategy must be one of naive, inplace, checkpoint, shared/],
      [['resnet18', '--optimizer', 'rmsprop'], /--optimizer must be one of sgd, momentum, adam/],
      [['resnet18', '--batch', '0'], /--batch must be a positive integer/],
      [['resnet18', '--segments', '4'], /--segments applies to --strategy checkpoint/],
      [['resnet', '--mode', 'train'], /unknown model 'resnet'/],
    ] as const) {
      const r = await convlabMemory(...argv);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});
