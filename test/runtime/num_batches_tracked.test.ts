import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { readSafetensorsFile } from '../../src/runtime/safetensors.js';
import { ROOT } from '../support/paths.js';
import { tempDir } from '../support/tmp.js';

/**
 * Issue #18 case 6: a torchvision state_dict saved without `num_batches_tracked` (what many
 * converters and hubs write, and what PyTorch's BatchNorm loads, counting from 0) exports and runs,
 * with logits equal to PyTorch's.
 */

const PYTHON = '/usr/bin/python3';
const hasTorch = spawnSync(PYTHON, ['-c', 'import torchvision']).status === 0;
const dir = tempDir('nbt');

/** resnet18 (10 classes) with random BN statistics, its weights without the counters, an input and its logits. */
const FIXTURE = `
import sys, torch, torchvision
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[1] + "/tools")
from torch_to_safetensors import write_safetensors
torch.manual_seed(0)
m = torchvision.models.resnet18(num_classes=10)
for mod in m.modules():
    if isinstance(mod, torch.nn.BatchNorm2d):
        mod.running_mean.uniform_(-0.5, 0.5)
        mod.running_var.uniform_(0.5, 1.5)
        mod.weight.data.uniform_(0.5, 1.5)
        mod.bias.data.uniform_(-0.2, 0.2)
m.eval()
state = {k: v for k, v in m.state_dict().items() if not k.endswith("num_batches_tracked")}
assert len(state) < len(m.state_dict())
write_safetensors(sys.argv[2] + "/weights.safetensors", state)
m.load_state_dict(state, strict=True)  # PyTorch's BatchNorm loads it, counting from 0
x = torch.randn(2, 3, 64, 64)
with torch.no_grad():
    y = m(x)
write_safetensors(sys.argv[2] + "/io.safetensors", {"x": x, "logits": y})
`;

describe.skipIf(!hasTorch)('weights without num_batches_tracked', () => {
  it('a torchvision resnet18 state_dict without the counters exports and runs with PyTorch logits to 1e-4', async () => {
    const made = spawnSync(PYTHON, ['-c', FIXTURE, ROOT, dir], { encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    const weights = join(dir, 'weights.safetensors');
    const keys = [...readSafetensorsFile(weights).tensors.keys()];
    expect(keys.some((k) => k.endsWith('num_batches_tracked'))).toBe(false);

    const onnx = join(dir, 'resnet18.onnx');
    const io = { stdout: () => {}, stderr: (t: string) => errors.push(t) };
    const errors: string[] = [];
    const model = ['resnet18', '--classes', '10', '--input', '3x64x64', '--weights', weights];
    expect(await main(['export', ...model, '-o', onnx], io), errors.join('\n')).toBe(0);
    expect(await main(['run', ...model, '--random'], io), errors.join('\n')).toBe(0);

    const { x, logits } = Object.fromEntries(readSafetensorsFile(join(dir, 'io.safetensors')).tensors);
    const session = await ort.InferenceSession.create(readFileSync(onnx));
    const out = await session.run({
      [session.inputNames[0]!]: new ort.Tensor('float32', x!.data as Float32Array, [2, 3, 64, 64]),
    });
    const ours = out[session.outputNames[0]!]!.data as Float32Array;
    const theirs = logits!.data as Float32Array;
    expect(ours.length).toBe(20);
    const scale = Math.max(1, ...Array.from(theirs, Math.abs));
    const worst = Math.max(...Array.from(ours, (v, i) => Math.abs(v - theirs[i]!)));
    expect(worst / scale).toBeLessThan(1e-4);
  }, 180_000);
});
