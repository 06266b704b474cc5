import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { LoaderState } from '../data/loader.js';
import { ConvlabError, fileFailureExitCode } from '../ir/errors.js';
import type { WeightData } from '../ir/init.js';
import { type HostTensor, hostTensor, parseSafetensors, writeSafetensors } from '../runtime/safetensors.js';
import type { TrainConfig } from './config.js';
import type { EpochRecord } from './metrics.js';

/**
 * A training checkpoint is ONE safetensors file, so that replacing it is one atomic rename:
 *
 * - tensors: every parameter and buffer under its state_dict name (`layer1.0.conv1.weight`,
 *   `bn1.running_mean`), and the optimiser's slots under the parameter's name plus the slot
 *   (`layer1.0.conv1.weight.momentum_buffer`, `fc.weight.exp_avg`, `fc.weight.exp_avg_sq`), as
 *   torch.optim names them;
 * - `__metadata__`: `format` ("convlab-checkpoint"), `version` ("1") and `state`, a JSON document
 *   (CheckpointState below): the run's configuration, the epoch and step reached, the data
 *   loader's random-generator state, the running sums of an epoch stopped half-way, the per-epoch
 *   history, and the length metrics.jsonl had, so a resumed run continues as if never stopped.
 *
 * Written to a temporary file in the same folder, fsync'ed, renamed over the old checkpoint, and
 * the folder fsync'ed: after a crash at any moment the file is the old checkpoint or the new one.
 */

export const CHECKPOINT_FORMAT = 'convlab-checkpoint';
export const CHECKPOINT_VERSION = '1';

/** Sums over the steps of the epoch in progress (all zero at an epoch boundary). */
export interface EpochProgress {
  readonly steps: number;
  /** Sum of the steps' mean losses. */
  readonly loss: number;
  /** Correctly classified training samples. */
  readonly correct: number;
  /** Training samples seen. */
  readonly seen: number;
}

export interface CheckpointState {
  readonly config: TrainConfig;
  /** Epochs completed. */
  readonly epoch: number;
  /** Steps completed, over all epochs. */
  readonly step: number;
  readonly loader: LoaderState;
  readonly partial: EpochProgress;
  readonly history: readonly EpochRecord[];
  /** Seconds spent training and evaluating so far, over every session of the run. */
  readonly elapsed: number;
  /** Bytes of metrics.jsonl that belong to the run up to this checkpoint. */
  readonly metricsBytes: number;
}

export interface Checkpoint {
  readonly state: CheckpointState;
  readonly tensors: ReadonlyMap<string, HostTensor>;
}

/** A tensor to save: its values and shape (the dtype follows the array). */
export interface SavedTensor {
  readonly data: WeightData;
  readonly shape: readonly number[];
}

/**
 * Replace `path` with `bytes` atomically and durably: a temporary file beside it, fsync, rename,
 * then fsync the folder so the rename itself survives a power cut.
 */
export function writeFileAtomic(path: string, bytes: Uint8Array): void {
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    const fd = openSync(temporary, 'wx'); // never through a link planted under the temporary's name
    try {
      for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
  } catch (e) {
    rmSync(temporary, { force: true });
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConvlabError(`cannot write '${path}': ${code ?? (e as Error).message}`, fileFailureExitCode(e));
  }
  try {
    const dir = openSync(dirname(path), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch {
    // Some filesystems cannot fsync a folder; the rename has happened either way.
  }
}

export function writeCheckpoint(
  path: string,
  state: CheckpointState,
  tensors: Iterable<readonly [string, SavedTensor]>,
): void {
  const list = [...tensors].map(([name, t]) => [name, hostTensor(t.data, t.shape)] as const);
  const metadata = { format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, state: JSON.stringify(state) };
  writeFileAtomic(path, writeSafetensors(list, metadata));
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const count = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;

/** Read and check a checkpoint; anything missing, corrupt or foreign is a ConvlabError (exit code 2). */
export function readCheckpoint(path: string): Checkpoint {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConvlabError(
      code === 'ENOENT'
        ? `no checkpoint to resume: '${path}' does not exist (run without --resume to start training)`
        : `cannot read checkpoint '${path}': ${code ?? (e as Error).message}`,
    );
  }
  const { tensors, metadata } = parseSafetensors(bytes, `checkpoint '${path}'`);
  const fail = (why: string): never => {
    throw new ConvlabError(`'${path}' is not a usable convlab training checkpoint: ${why}`);
  };
  if (metadata['format'] !== CHECKPOINT_FORMAT) fail(`its metadata has no format "${CHECKPOINT_FORMAT}"`);
  if (metadata['version'] !== CHECKPOINT_VERSION) {
    fail(`version ${metadata['version']}, this convlab reads version ${CHECKPOINT_VERSION}`);
  }
  let state: unknown;
  try {
    state = JSON.parse(metadata['state'] ?? '');
  } catch {
    fail('its state is not JSON');
  }
  if (!isRecord(state)) return fail('its state is not a JSON object');
  const partial = state['partial'];
  const valid =
    isRecord(state['config']) &&
    count(state['epoch']) &&
    count(state['step']) &&
    isRecord(state['loader']) &&
    isRecord(partial) &&
    ['steps', 'correct', 'seen'].every((k) => count(partial[k])) &&
    typeof partial['loss'] === 'number' &&
    Array.isArray(state['history']) &&
    typeof state['elapsed'] === 'number' &&
    count(state['metricsBytes']);
  if (!valid) fail('its state lacks the epoch, step, data-loader or history fields');
  return { state: state as unknown as CheckpointState, tensors };
}
