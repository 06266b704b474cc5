import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/ir/init.js';
import { bindingBuilt } from '../../src/native/binding.js';
import { NCHWC_DOMAIN, nchwcBlockSize } from '../../src/runtime/nchwc.js';
import { hostTensor, readSafetensors, writeSafetensors } from '../../src/runtime/safetensors.js';
import type { StepSession } from '../../src/train/backend.js';
import { onednnBackend } from '../../src/train/native.js';
import { TrainingSession } from '../../src/train/step.js';
import { buildModel } from '../../src/zoo/index.js';
import { ROOT } from '../support/paths.js';
import { tempDir } from '../support/tmp.js';

/**
 * One full training step (train-mode forward, cross-entropy, backward, SGD with momentum and
 * weight decay) equals PyTorch's on the same weights and data: the loss, every updated weight and
 * every running statistic, to 1e-4 relative (max abs difference / max abs value).
 *
 * PyTorch computes the reference step in float64. Two float32 implementations differ by their own
 * rounding: BatchNorm's backward cancels catastrophically where a map is tiny (resnet18's layer4
 * at 2x2 after global pooling), and PyTorch 1.13's float32 step lands up to 5e-3 from the exact
 * one there while convlab's stays within 2e-4 (measured). Against the exact step, each is judged
 * by its own error.
 */
const python = '/usr/bin/python3';
const hasTorch = await promisify(execFile)(python, ['-c', 'import torch, torchvision'])
  .then(() => true)
  .catch(() => false);
const dir = tempDir('step');

const BATCH = 8;
const SIZE = 32;
const SGD = { lr: 0.1, momentum: 0.9, weightDecay: 5e-4 };

type Backend = 'onnxruntime' | 'onednn';

async function createSession(model: string, backend: Backend): Promise<StepSession> {
  const graph = buildModel(model, { input: [3, SIZE, SIZE], classes: 10 });
  const options = {
    batch: BATCH,
    optimizer: { kind: 'sgd', momentum: SGD.momentum, nesterov: false, weightDecay: SGD.weightDecay },
  } as const;
  if (backend === 'onednn') return onednnBackend.create(graph, options, { seed: 7 });
  const session = await TrainingSession.create(graph, options, { seed: 7 });
  // The step `convlab train` runs: its convolutions on onnxruntime's NCHWc kernels wherever this
  // machine's onnxruntime has them.
  const nchwc = (await nchwcBlockSize()) > 0;
  expect(Buffer.from(session.graph.model).includes(NCHWC_DOMAIN)).toBe(nchwc);
  return session;
}

async function compare(model: string, backend: Backend) {
  const session = await createSession(model, backend);
  const before = session.snapshot();
  const modelState = session.state.filter((s) => s.kind !== 'optimizer');
  const state = join(dir, `${model}.${backend}.state.safetensors`);
  writeFileSync(
    state,
    writeSafetensors(modelState.map((s) => [s.name, hostTensor(before.get(s.name)!, s.shape)] as const)),
  );
  const rng = new Rng(11, 'batch');
  const images = Float32Array.from({ length: BATCH * 3 * SIZE * SIZE }, () => rng.uniform() * 2 - 1);
  const labels = Int32Array.from({ length: BATCH }, (_, i) => (i * 3) % 10);
  const batch = join(dir, `${model}.${backend}.batch.safetensors`);
  writeFileSync(
    batch,
    writeSafetensors([
      ['input', { dtype: 'float32', shape: [BATCH, 3, SIZE, SIZE], data: images }],
      ['labels', { dtype: 'int64', shape: [BATCH], data: BigInt64Array.from(labels, (l) => BigInt(l)) }],
    ]),
  );
  const out = join(dir, `${model}.${backend}.torch.safetensors`);
  await promisify(execFile)(python, [
    join(ROOT, 'tools', 'train_step_fixture.py'),
    model,
    '--classes',
    '10',
    '--state',
    state,
    '--batch',
    batch,
    '--out',
    out,
    '--lr',
    String(SGD.lr),
    '--momentum',
    String(SGD.momentum),
    '--weight-decay',
    String(SGD.weightDecay),
    '--double',
  ]);
  const torch = readSafetensors(readFileSync(out));

  // `before` may view the session's own buffers, which the step overwrites: copy the weights first.
  const initial = new Map([...before].map(([k, v]) => [k, v.slice()]));
  const result = await session.step({ data: images, dims: [BATCH, 3, SIZE, SIZE] }, labels, SGD.lr, 1);
  const after = session.snapshot();
  await session.release();

  const relative = (ours: ArrayLike<number>, ref: ArrayLike<number>) => {
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < ref.length; i++) {
      diff = Math.max(diff, Math.abs(ours[i]! - ref[i]!));
      scale = Math.max(scale, Math.abs(ref[i]!));
    }
    return diff / Math.max(scale, 1e-12);
  };
  const lossRef = (torch.get('loss')!.data as Float32Array)[0]!;
  expect(Math.abs(result.loss - lossRef) / Math.abs(lossRef)).toBeLessThan(1e-4);
  let checked = 0;
  const failures: string[] = [];
  for (const s of modelState) {
    const ref = torch.get(s.name)!;
    if (ref.dtype === 'int64') {
      expect(after.get(s.name), s.name).toEqual(ref.data);
      continue;
    }
    const ours = after.get(s.name) as Float32Array;
    const weight = relative(ours, ref.data as Float32Array);
    if (!(weight < 1e-4)) failures.push(`${s.name}: ${weight.toExponential(2)}`);
    // The update itself (w' - w), a much stricter test of the gradient than the weight is.
    if (s.kind === 'param') {
      const w0 = initial.get(s.name) as Float32Array;
      const ourStep = ours.map((v, i) => v - w0[i]!);
      const refStep = (ref.data as Float32Array).map((v, i) => v - w0[i]!);
      const update = relative(ourStep, refStep);
      if (!(update < 2e-3)) failures.push(`${s.name} update: ${update.toExponential(2)}`);
    }
    checked++;
  }
  expect(failures).toEqual([]);
  return checked;
}

// Both training backends: onnxruntime everywhere, the native oneDNN one where its binding is built.
const backends: Backend[] = bindingBuilt() ? ['onnxruntime', 'onednn'] : ['onnxruntime'];

describe.skipIf(!hasTorch)('one training step equals PyTorch (Debian python3-torch)', () => {
  for (const backend of backends) {
    it(`resnet18 (${backend})`, async () => {
      expect(await compare('resnet18', backend)).toBeGreaterThan(100);
    }, 300_000);
    it(`densenet121 (${backend})`, async () => {
      expect(await compare('densenet121', backend)).toBeGreaterThan(600);
    }, 300_000);
  }
});
