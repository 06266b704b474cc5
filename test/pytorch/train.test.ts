import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { readSafetensorsFile } from '../../src/runtime/safetensors.js';
import { cli } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

/**
 * train.py for real, with Debian's python3-torch: torchrun with 2 CPU processes (gloo) on
 * Fashion-MNIST, one DDP step against one single-process step, and a run killed with SIGKILL and
 * resumed. resnet20 exported at 1x28x28.
 */

const PYTHON = '/usr/bin/python3';
const TORCHRUN = '/usr/bin/torchrun';
const FASHION_MNIST = '/usr/share/datasets/fashion-mnist';
// Debian's torch 1.13 under Python 3.11: torchrun's default --redirects/--tee ('0') parse to None; redirect nothing explicitly.
const TORCHRUN_ENV = { ...process.env, PET_REDIRECTS: '9:1', PET_TEE: '9:1', OMP_NUM_THREADS: '1' };

const dir = tempDir('pytorch-train');
const model = join(dir, 'resnet20');

interface Done {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function python(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<Done> {
  try {
    const { stdout, stderr } = await promisify(execFile)(args[0]!, args.slice(1), {
      env,
      cwd: dir,
      maxBuffer: 1 << 26,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const torchrun = (...args: string[]) =>
  python([TORCHRUN, '--standalone', '--nproc_per_node=2', join(model, 'train.py'), ...args], TORCHRUN_ENV);
const single = (...args: string[]) => python([PYTHON, join(model, 'train.py'), ...args]);

/** Every tensor of a safetensors file as float64 arrays. */
function tensors(path: string): Map<string, Float64Array> {
  return new Map(
    [...readSafetensorsFile(path).tensors].map(([k, t]) => [
      k,
      Float64Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v)),
    ]),
  );
}

/** The largest difference of any tensor, relative to that tensor's largest magnitude. */
function relativeDifference(a: Map<string, Float64Array>, b: Map<string, Float64Array>): number {
  expect([...a.keys()]).toEqual([...b.keys()]);
  let worst = 0;
  for (const [k, x] of a) {
    const y = b.get(k)!;
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < x.length; i++) {
      diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
      scale = Math.max(scale, Math.abs(y[i]!));
    }
    if (scale > 0) worst = Math.max(worst, diff / scale);
  }
  return worst;
}

const hasTorch = existsSync(PYTHON) && existsSync(TORCHRUN) && existsSync(FASHION_MNIST);

describe.runIf(hasTorch)('train.py with torchrun', () => {
  beforeAll(async () => {
    const r = await cli('export', 'resnet20', '--input', '1x28x28', '--format', 'pytorch', '-o', model);
    expect(r.stderr).toBe('');
    const compiled = await python([
      PYTHON,
      '-m',
      'py_compile',
      join(model, 'model.py'),
      join(model, 'train.py'),
    ]);
    expect(compiled.stderr).toBe('');
  });

  it('2 processes (gloo) on Fashion-MNIST: the loss falls, the processes agree, convlab scores the same accuracy', {
    timeout: 600_000,
  }, async () => {
    const out = join(dir, 'run');
    const r = await torchrun('--data', 'fashion-mnist', '--limit', '2000', '--epochs', '1', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('2 processes x 64');
    const steps = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { step: number; loss?: number; test_accuracy?: number })
      .filter((m) => m.loss !== undefined);
    expect(steps.map((s) => s.step)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    const mean = (xs: { loss?: number }[]) => xs.reduce((s, x) => s + x.loss!, 0) / xs.length;
    expect(mean(steps.slice(-3))).toBeLessThan(0.8 * mean(steps.slice(0, 3)));

    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as {
      processes: number;
      digests: string[];
      test_correct: number;
      test_count: number;
    };
    expect(summary.processes).toBe(2);
    expect(summary.digests).toHaveLength(2);
    expect(summary.digests[1]).toBe(summary.digests[0]);
    const printed = /test accuracy ([\d.]+)% \((\d+)\/10000\)/.exec(r.stdout);
    expect(Number(printed?.[2])).toBe(summary.test_correct);

    const scored = await cli(
      'evaluate',
      'resnet20',
      '--weights',
      join(out, 'model.safetensors'),
      '--data',
      'fashion-mnist',
      '--json',
    );
    expect(scored.stderr).toBe('');
    const report = JSON.parse(scored.stdout) as {
      correct: number;
      count: number;
      normalise: { from: string };
    };
    expect(report.count).toBe(summary.test_count);
    expect(report.normalise.from).toBe('weights metadata');
    // onnxruntime and PyTorch round differently: an image whose two best logits tie to 1e-6 may flip.
    expect(Math.abs(report.correct - summary.test_correct)).toBeLessThanOrEqual(2);
  });

  // In float64, so that the check sees the arithmetic and not float32's rounding, which batch norm's
  // backward amplifies to 1e-3 of an update whatever the order of the sums (the files are float32).
  it('one DDP step on 2 x 32 equals one single-process step on 64 (the gradients are averaged)', {
    timeout: 300_000,
  }, async () => {
    const data = [
      '--data',
      'synthetic:train=256,test=32',
      '--batch',
      '64',
      '--pad',
      '0',
      '--no-flip',
      '--float64',
    ];
    const init = join(dir, 'init');
    expect((await single(...data, '--max-steps', '0', '--out', init)).code).toBe(0);
    const start = ['--weights', join(init, 'model.safetensors'), '--max-steps', '1'];
    const [ddp, one] = await Promise.all([
      torchrun(...data, ...start, '--out', join(dir, 'ddp')),
      single(...data, ...start, '--out', join(dir, 'single')),
    ]);
    expect(ddp.code, ddp.stderr).toBe(0);
    expect(one.code, one.stderr).toBe(0);
    const w0 = tensors(join(init, 'model.safetensors'));
    const a = tensors(join(dir, 'ddp', 'model.safetensors'));
    const b = tensors(join(dir, 'single', 'model.safetensors'));
    expect(relativeDifference(a, b)).toBeLessThan(1e-5);
    // The step itself agrees, not only the weights it moved (summed gradients would double it).
    const update = (w: Map<string, Float64Array>) =>
      new Map([...w].map(([k, x]) => [k, x.map((v, i) => v - w0.get(k)![i]!)]));
    const moved = update(b);
    expect(relativeDifference(update(a), moved)).toBeLessThan(1e-5);
    expect(Math.max(...[...moved.values()].map((x) => Math.max(...x.map(Math.abs))))).toBeGreaterThan(1e-4);
  });

  it('a run killed with SIGKILL mid-epoch continues from its last checkpoint with --resume, as if never stopped', {
    timeout: 300_000,
  }, async () => {
    const args = [
      '--data',
      'synthetic:train=256,test=32',
      '--batch',
      '32',
      '--epochs',
      '2',
      '--checkpoint-every',
      '3',
    ];
    const whole = await single(...args, '--out', join(dir, 'whole'));
    expect(whole.code, whole.stderr).toBe(0);

    const out = join(dir, 'killed');
    const child = spawn(PYTHON, [join(model, 'train.py'), ...args, '--out', out], { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_, signal) => resolve(signal)),
    );
    const checkpoint = join(out, 'checkpoint.safetensors');
    while (!existsSync(checkpoint) && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    const state = JSON.parse(readSafetensorsFile(checkpoint).metadata['state']!) as { step: number };
    expect(state.step).toBeLessThan(16);

    const resumed = await single(...args, '--out', out, '--resume');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain(`at step ${state.step} of 16`);
    expect(
      relativeDifference(
        tensors(join(out, 'model.safetensors')),
        tensors(join(dir, 'whole', 'model.safetensors')),
      ),
    ).toBeLessThan(1e-6);
    // Without --resume the folder is refused rather than overwritten.
    const again = await single(...args, '--out', out);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('--resume');
  });
});
