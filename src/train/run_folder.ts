import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConvlabError } from '../ir/errors.js';

/** A run's output folder (--out): the files a run writes there, and the checks before it starts. */

export const FILES = {
  metrics: 'metrics.jsonl',
  checkpoint: 'checkpoint.safetensors',
  model: 'model.onnx',
  weights: 'model.safetensors',
} as const;

/** The output folder exists (created if need be) and takes files; a fresh run does not overwrite another. */
export function prepareOut(dir: string, resume: boolean): void {
  const why = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new ConvlabError(`cannot create the output folder --out '${dir}': ${why(e)}`);
  }
  if (!statSync(dir).isDirectory()) throw new ConvlabError(`--out '${dir}' is not a folder`);
  const probe = join(dir, `.convlab-write-test-${process.pid}`);
  try {
    writeFileSync(probe, '');
    rmSync(probe);
  } catch (e) {
    throw new ConvlabError(`cannot write into the output folder --out '${dir}': ${why(e)}`);
  }
  if (!resume && existsSync(join(dir, FILES.checkpoint))) {
    throw new ConvlabError(
      `--out '${dir}' already holds a training run (${FILES.checkpoint}): continue it with --resume, or choose another --out`,
    );
  }
}
