import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { FASHION_MNIST_DIR } from '../../src/data/idx.js';
import { bindingBuilt } from '../../src/native/binding.js';
import { DEFAULT_BACKEND } from '../../src/train/backends.js';
import { readCheckpoint } from '../../src/train/checkpoint.js';
import { FILES } from '../../src/train/run_folder.js';
import { cli, type Run } from '../support/cli.js';
import { tinyIdx, writeIdx } from '../support/idx.js';
import { ROOT } from '../support/paths.js';
import { tempDir } from '../support/tmp.js';

const root = tempDir('cli-train');
let dirs = 0;
const outDir = () => join(root, `out${dirs++}`);

/** `convlab train ...` in process, through main. */
const train = (...argv: string[]): Promise<Run> => cli('train', ...argv);

/** Two conv-BN-ReLU layers, global pooling and a linear classifier, as a spec file. */
function tinySpec(name: string, input: number[], classes = 10, width = 8): string {
  const file = join(root, `${name}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      name: 'tiny',
      input,
      nodes: [
        { name: 'conv1', op: 'conv2d', out: width, kernel: 3, padding: 1, bias: false },
        { name: 'bn1', op: 'batchnorm2d' },
        { name: 'relu1', op: 'relu' },
        { name: 'conv2', op: 'conv2d', out: 2 * width, kernel: 3, stride: 2, padding: 1, bias: false },
        { name: 'bn2', op: 'batchnorm2d' },
        { name: 'relu2', op: 'relu' },
        { name: 'avgpool', op: 'adaptive_avgpool2d', output: 1 },
        { name: 'flatten', op: 'flatten' },
        { name: 'fc', op: 'linear', out: classes },
      ],
    }),
  );
  return file;
}

const spec16 = tinySpec('tiny16', [1, 16, 16]);
const SYNTHETIC = 'synthetic:shape=1x16x16,train=320,test=200';

/** The metrics without wall-clock fields. */
const metricsOf = (dir: string) =>
  readFileSync(join(dir, FILES.metrics), 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const { time, imagesPerSec, ...rest } = JSON.parse(l);
      return rest;
    });

function expectSameCheckpoint(a: string, b: string) {
  const x = readCheckpoint(join(a, FILES.checkpoint)).tensors;
  const y = readCheckpoint(join(b, FILES.checkpoint)).tensors;
  expect([...y.keys()]).toEqual([...x.keys()]);
  for (const [name, t] of x)
    expect(Buffer.from(y.get(name)!.data.buffer).equals(Buffer.from(t.data.buffer)), name).toBe(true);
}

describe('convlab train: a small real run', () => {
  it('learns the synthetic set and writes metrics, checkpoint and the inference model', async () => {
    const out = outDir();
    const r = await train(
      spec16,
      '--data',
      SYNTHETIC,
      '--out',
      out,
      '--epochs',
      '4',
      '--batch',
      '32',
      '--json',
    );
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({
      model: 'tiny',
      backend: DEFAULT_BACKEND,
      data: { source: SYNTHETIC, train: 320, test: 200, shape: [1, 16, 16], classes: 10 },
      status: 'completed',
      epochs: 4,
      epoch: 4,
      step: 40,
      stepsPerEpoch: 10,
      config: {
        batch: 32,
        lr: 0.1,
        optimizer: { kind: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 5e-4 },
        schedule: 'cosine',
        warmup: 1,
        augment: { pad: 0, flip: false },
      },
    });
    const history = summary.history as { loss: number; testAccuracy: number }[];
    expect(history).toHaveLength(4);
    expect(history[3]!.loss).toBeLessThan(history[0]!.loss * 0.7); // the loss falls
    expect(summary.final.testAccuracy).toBeGreaterThan(0.6); // chance is 0.1
    expect(summary.config.normalise.mean[0]).toBeGreaterThan(0.3);

    expect(readdirSync(out).sort()).toEqual(
      [FILES.checkpoint, FILES.metrics, FILES.model, FILES.weights].sort(),
    );
    const lines = readFileSync(join(out, FILES.metrics), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(44);
    for (const key of ['epoch', 'step', 'loss', 'accuracy', 'lr', 'time'])
      expect(lines[0]).toHaveProperty(key);
    expect(lines.at(-1)).toMatchObject({ kind: 'epoch', epoch: 4, step: 40 });
    expect(lines.at(-1)).toHaveProperty('testAccuracy', summary.final.testAccuracy);

    // model.onnx takes normalised images and carries the normalisation in its metadata.
    const session = await ort.InferenceSession.create(join(out, FILES.model));
    const x = new ort.Tensor('float32', new Float32Array(2 * 256), [2, 1, 16, 16]);
    const logits = (await session.run({ [session.inputNames[0]!]: x }))[session.outputNames[0]!]!;
    expect(logits.dims).toEqual([2, 10]);
    await session.release();
    const text = readFileSync(join(out, FILES.model)).toString('latin1');
    expect(text).toContain('trained_on');

    // Progress went to stderr as plain lines (not a terminal), one summary per epoch.
    expect(r.stderr).toMatch(/^training tiny \(1,\d{3} params\) on synthetic/);
    expect(r.stderr.match(/^epoch \d\/4: train loss/gm)).toHaveLength(4);
  });

  it('prints a table of the epochs without --json', async () => {
    const out = outDir();
    const r = await train(
      spec16,
      '--data',
      SYNTHETIC,
      '--out',
      out,
      '--epochs',
      '1',
      '--batch',
      '64',
      '--lr',
      '0.05',
      '--schedule',
      'constant',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^epoch +step +lr +train loss +train acc +test loss +test acc/);
    expect(r.stdout).toMatch(/tiny: test accuracy \d+\.\d\d% after 1 epochs/);
  });

  it.skipIf(!existsSync(FASHION_MNIST_DIR))('learns a few hundred Fashion-MNIST images', async () => {
    const out = outDir();
    const spec = tinySpec('tiny28', [1, 28, 28], 10, 16);
    const r = await train(
      spec,
      '--data',
      'fashion-mnist',
      '--limit',
      '640',
      '--out',
      out,
      '--epochs',
      '4',
      '--batch',
      '32',
      '--json',
    );
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.data).toMatchObject({ train: 640, test: 10000, shape: [1, 28, 28] });
    expect(summary.config.augment).toEqual({ pad: 2, flip: true });
    expect(summary.history[3].loss).toBeLessThan(summary.history[0].loss);
    expect(summary.final.testAccuracy).toBeGreaterThan(0.35); // chance is 0.1
  });
});

describe('convlab train: bad input exits 2 with one line, before any training', () => {
  const expectBad = async (r: Run, pattern: RegExp, out?: string) => {
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(pattern);
    if (out) expect(existsSync(join(out, FILES.checkpoint))).toBe(false);
  };

  it('a missing or corrupt dataset, labels out of range, a batch larger than the data', async () => {
    let out = outDir();
    await expectBad(
      await train(spec16, '--data', `fashion-mnist:${join(root, 'nowhere')}`, '--out', out),
      /nowhere/,
      out,
    );
    const corrupt = writeIdx(join(root, 'corrupt'), tinyIdx(), false);
    writeFileSync(join(corrupt, 'train-images-idx3-ubyte'), 'garbage!');
    await expectBad(
      await train(spec16, '--data', `idx:${corrupt}`, '--out', out),
      /train-images-idx3-ubyte/,
      out,
    );
    // Labels 0..9 for a spec with 5 outputs.
    const labels = writeIdx(join(root, 'labels'), tinyIdx(), false);
    const five = tinySpec('five', [1, 3, 5], 5);
    await expectBad(
      await train(five, '--data', `idx:${labels}`, '--out', out, '--batch', '2'),
      /label 9 .* out of range/,
      out,
    );
    out = outDir();
    await expectBad(
      await train(spec16, '--data', 'synthetic:shape=1x16x16,train=100', '--out', out, '--batch', '128'),
      /--batch 128 is larger than the 100 training samples/,
      out,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('an output folder that cannot be written, or already holds a run', async () => {
    const file = join(root, 'a-file');
    writeFileSync(file, '');
    await expectBad(
      await train(spec16, '--data', SYNTHETIC, '--out', join(file, 'sub')),
      /cannot create the output folder/,
    );
    await expectBad(await train(spec16, '--data', SYNTHETIC, '--out', file), /not a folder|cannot create/);
    const out = outDir();
    mkdirSync(out);
    writeFileSync(join(out, FILES.checkpoint), '');
    await expectBad(
      await train(spec16, '--data', SYNTHETIC, '--out', out),
      /already holds a training run.*--resume/,
    );
  });

  it('a spec whose input does not match the data', async () => {
    await expectBad(
      await train(spec16, '--data', 'synthetic:shape=1x20x20', '--out', outDir()),
      /spec '.*tiny16\.json' takes 1x16x16 inputs but the .* images are 1x20x20/,
    );
  });

  it('bad options', async () => {
    const out = outDir();
    const bad = (...extra: string[]) => train(spec16, '--data', SYNTHETIC, '--out', out, ...extra);
    await expectBad(await train(spec16, '--out', out), /--data SOURCE is required/);
    await expectBad(await train(spec16, '--data', SYNTHETIC), /--out DIR is required/);
    await expectBad(await bad('--lr', 'fast'), /--lr must be a number > 0, got 'fast'/);
    await expectBad(await bad('--epochs', '0'), /--epochs must be an integer >= 1/);
    await expectBad(await bad('--optimizer', 'lbfgs'), /--optimizer must be sgd or adamw/);
    await expectBad(await bad('--schedule', 'exp'), /--schedule must be one of cosine, step, constant/);
    await expectBad(
      await bad('--optimizer', 'adamw', '--momentum', '0.8'),
      /--momentum and --nesterov apply to sgd/,
    );
    await expectBad(await bad('--flip', '--no-flip'), /--flip or --no-flip, not both/);
    await expectBad(await bad('--epochs', '2', '--warmup', '2'), /--warmup 2 must be shorter than the run/);
    await expectBad(await bad('--data', 'imagenet'), /unknown data source 'imagenet'/);
    await expectBad(
      await train('resnet2000', '--data', SYNTHETIC, '--out', out),
      /unknown model 'resnet2000'/,
    );
    if (!bindingBuilt())
      await expectBad(await bad('--backend', 'onednn'), /the native oneDNN backend is not built/);
    await expectBad(
      await bad('--backend', 'cuda'),
      /--backend must be one of onnxruntime, onednn, got 'cuda'/,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('a resume with no checkpoint, or an incompatible one', async () => {
    const empty = outDir();
    await expectBad(
      await train(spec16, '--data', SYNTHETIC, '--out', empty, '--resume'),
      /no checkpoint to resume/,
    );
    const out = outDir();
    const args = [spec16, '--data', SYNTHETIC, '--out', out, '--epochs', '1', '--batch', '64'];
    expect((await train(...args)).code).toBe(0);
    await expectBad(
      await train(...args, '--resume', '--lr', '0.5'),
      /--lr 0\.5 \(the checkpoint has 0\.1\).*only --epochs may change/,
    );
    await expectBad(
      await train(tinySpec('other', [1, 16, 16]), ...args.slice(1), '--resume'),
      /MODEL .*other\.json \(the checkpoint has .*tiny16\.json/,
    );
    // A finished run may be resumed to train longer, not shorter.
    const base = [spec16, '--data', SYNTHETIC, '--out', out, '--batch', '64', '--resume'];
    const longer = await train(...base, '--epochs', '2', '--json');
    expect(longer.code, longer.stderr).toBe(0);
    expect(JSON.parse(longer.stdout)).toMatchObject({ status: 'completed', epoch: 2, epochs: 2, step: 10 });
    await expectBad(await train(...base, '--epochs', '1'), /--epochs 1 is fewer than the 2 epochs/);
    // The same spec file, edited: its tensors no longer fit.
    const edited = tinySpec('edit', [1, 16, 16]);
    const run2 = outDir();
    expect(
      (await train(edited, '--data', SYNTHETIC, '--out', run2, '--epochs', '1', '--batch', '64')).code,
    ).toBe(0);
    tinySpec('edit', [1, 16, 16], 10, 4);
    await expectBad(
      await train(edited, '--data', SYNTHETIC, '--out', run2, '--epochs', '2', '--batch', '64', '--resume'),
      /checkpoint '.*' does not fit tiny trained with sgd: conv1\.weight is float32 \[8,1,3,3\], the model needs float32 \[4,1,3,3\]/,
    );
    writeFileSync(join(run2, FILES.checkpoint), 'corrupt');
    await expectBad(
      await train(edited, '--data', SYNTHETIC, '--out', run2, '--resume'),
      /checkpoint '.*': not a valid safetensors file/,
    );
  });
});

describe('convlab train: divergence and interruption', () => {
  it('stops on a NaN/Inf loss with exit 1, keeping the last good checkpoint', async () => {
    const out = outDir();
    const r = await train(
      spec16,
      '--data',
      SYNTHETIC,
      '--out',
      out,
      '--epochs',
      '2',
      '--batch',
      '32',
      '--lr',
      '1e6',
      '--warmup',
      '0',
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /^convlab train: the loss became (NaN|-?Infinity) at epoch 1, step \d+ .*training diverged.*checkpoint \(epoch 0, step 0\) is intact.*lower --lr/m,
    );
    const c = readCheckpoint(join(out, FILES.checkpoint));
    expect(c.state.step).toBe(0);
    for (const [, t] of c.tensors)
      if (t.dtype === 'float32') expect(t.data.every(Number.isFinite)).toBe(true);
    expect(existsSync(join(out, FILES.model))).toBe(false);
  });

  it('checkpoints on SIGINT and exits 130; --resume then ends exactly as an uninterrupted run', async () => {
    const source = 'synthetic:shape=1x16x16,train=640,test=100';
    const spec = tinySpec('wide', [1, 16, 16], 10, 16);
    const args = (out: string) => [spec, '--data', source, '--out', out, '--epochs', '2', '--batch', '16'];
    const stopped = outDir();
    // A real process, as a user runs it, interrupted once its first progress line appears.
    const script = join(root, 'train-cli.mts');
    writeFileSync(
      script,
      [
        `import { parseArgs } from 'node:util';`,
        `import { trainCommand } from ${JSON.stringify(join(ROOT, 'src/cli/train.ts'))};`,
        `const parsed = parseArgs({ args: process.argv.slice(2), options: trainCommand.options, allowPositionals: true });`,
        `const io = { stdout: (t: string) => process.stdout.write(t + '\\n'), stderr: (t: string) => process.stderr.write(t + '\\n') };`,
        `process.exitCode = await trainCommand.run(parsed.positionals, parsed.values as never, io);`,
      ].join('\n'),
    );
    // One process with tsx as a loader: tsx's own CLI wrapper SIGKILLs a child that has not answered
    // a forwarded signal within 60 ms, which a busy machine can make the training process miss.
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args(stopped)], {
      cwd: ROOT,
      detached: true,
    });
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (/^epoch 1\/2 step/m.test(stderr) && !sent) {
        sent = true;
        // Ctrl-C signals the whole process group, and a wrapper such as npx forwards it as well:
        // the request arrives twice, at once, and must still mean "stop after this step".
        process.kill(-child.pid!, 'SIGINT');
        process.kill(child.pid!, 'SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/SIGINT: stopping after this step/);
    expect(stderr).toMatch(/stopped by SIGINT at epoch \d, step \d+: checkpoint written to .*--resume/);
    const at = readCheckpoint(join(stopped, FILES.checkpoint)).state;
    expect(at.step).toBeGreaterThan(0);
    expect(at.step).toBeLessThan(80);

    const resumed = await train(...args(stopped), '--resume', '--json');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(new RegExp(`^resuming at epoch ${at.epoch}, step ${at.step}`));
    const straight = outDir();
    expect((await train(...args(straight))).code).toBe(0);
    expectSameCheckpoint(straight, stopped);
    expect(metricsOf(stopped)).toEqual(metricsOf(straight));
    expect(readFileSync(join(stopped, FILES.model)).equals(readFileSync(join(straight, FILES.model)))).toBe(
      true,
    );
  });
});

describe('--backend on the other commands that train', () => {
  it('bench train and experiment name the backend, and refuse one that is not built with one line', async () => {
    const one = (r: Run, pattern: RegExp) => {
      expect(r.code, r.stderr).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(pattern);
    };
    one(await cli('bench', 'infer', 'resnet20', '--backend', 'onednn'), /bench infer runs on onnxruntime/);
    if (bindingBuilt()) return; // then --backend onednn trains: the refusals below are for a machine without it
    one(await cli('bench', 'train', 'resnet20', '--backend', 'onednn'), /oneDNN backend is not built/);
    const out = outDir();
    one(
      await cli('experiment', 'degradation', '--out', out, '--backend', 'onednn'),
      /oneDNN backend is not built/,
    );
    expect(existsSync(out)).toBe(false);
  });
});
