import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConvlabError } from '../../src/ir/errors.js';
import { writeSafetensors } from '../../src/runtime/safetensors.js';
import { readCheckpoint, writeCheckpoint, writeFileAtomic } from '../../src/train/checkpoint.js';
import { FILES } from '../../src/train/run_folder.js';
import { tempDir } from '../support/tmp.js';
import { tinyConfig as config } from './tiny.js';

const root = tempDir('checkpoint');
let runs = 0;
const freshDir = () => {
  const dir = join(root, `run${runs++}`);
  mkdirSync(dir);
  return dir;
};

describe('checkpoint files', () => {
  it('are written atomically, leaving no temporary file, and read back', () => {
    const dir = freshDir();
    const path = join(dir, 'c.safetensors');
    writeFileAtomic(path, Uint8Array.of(1, 2, 3));
    writeFileAtomic(path, Uint8Array.of(4, 5));
    expect([...readFileSync(path)]).toEqual([4, 5]);
    expect(readdirSync(dir)).toEqual(['c.safetensors']);
  });

  it('refuse a missing, corrupt or foreign file with a one-line user error', () => {
    const dir = freshDir();
    const missing = join(dir, 'none.safetensors');
    expect(() => readCheckpoint(missing)).toThrow(/no checkpoint to resume: .* does not exist/);
    const corrupt = join(dir, 'corrupt.safetensors');
    writeFileSync(corrupt, 'not a checkpoint at all');
    expect(() => readCheckpoint(corrupt)).toThrow(ConvlabError);
    const foreign = join(dir, 'weights.safetensors');
    writeFileSync(
      foreign,
      writeSafetensors([['w', { dtype: 'float32', shape: [1], data: Float32Array.of(1) }]]),
    );
    expect(() => readCheckpoint(foreign)).toThrow(/not a usable convlab training checkpoint: .*format/);
    const broken = join(dir, 'broken.safetensors');
    writeFileSync(
      broken,
      writeSafetensors([], { format: 'convlab-checkpoint', version: '1', state: '{"epoch": 1}' }),
    );
    expect(() => readCheckpoint(broken)).toThrow(/lacks the epoch/);
    for (const path of [missing, corrupt, foreign, broken]) {
      try {
        readCheckpoint(path);
      } catch (e) {
        expect((e as ConvlabError).exitCode).toBe(2);
        expect((e as Error).message).not.toContain('\n');
      }
    }
  });

  it('round-trip tensors of both dtypes and the state', () => {
    const dir = freshDir();
    const path = join(dir, FILES.checkpoint);
    const state = {
      config: config(),
      epoch: 1,
      step: 10,
      loader: { epoch: 1, batch: 0, order: [1, 2, 3, 4], augment: [5, 6, 7, 8], samples: 320, batchSize: 32 },
      partial: { steps: 0, loss: 0, correct: 0, seen: 0 },
      history: [],
      elapsed: 1.5,
      metricsBytes: 123,
    } as const;
    writeCheckpoint(path, state, [
      ['a.weight', { data: Float32Array.of(1, 2, 3, 4), shape: [2, 2] }],
      ['a.num_batches_tracked', { data: BigInt64Array.of(7n), shape: [] }],
    ]);
    const c = readCheckpoint(path);
    expect(c.state).toEqual(state);
    expect(c.tensors.get('a.weight')).toEqual({
      dtype: 'float32',
      shape: [2, 2],
      data: Float32Array.of(1, 2, 3, 4),
    });
    expect(c.tensors.get('a.num_batches_tracked')?.data).toEqual(BigInt64Array.of(7n));
  });
});
