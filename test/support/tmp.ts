import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

/** The one place tests make temporary folders: every folder is `convlab-<tag>-XXXXXX`, easy to spot and clean. */
export interface TempDirOptions {
  /** In memory (/dev/shm) where the machine has a tmpfs: for tests that write hundreds of megabytes. */
  inMemory?: boolean;
}

/** A fresh temporary folder that the caller removes with removeTempDir. */
export function makeTempDir(tag: string, options: TempDirOptions = {}): string {
  const base = options.inMemory && existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  return mkdtempSync(join(base, `convlab-${tag}-`));
}

/** Remove a folder and everything in it; a folder already gone is fine. */
export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * A fresh temporary folder removed after the enclosing describe block, or after the test file when
 * called at the top level. Call it while collecting tests, not inside a test or a hook: vitest
 * registers the afterAll that removes it with the block being collected.
 */
export function tempDir(tag: string, options: TempDirOptions = {}): string {
  const dir = makeTempDir(tag, options);
  afterAll(() => removeTempDir(dir));
  return dir;
}

/** Run `f` with a fresh temporary folder, removed afterwards whether `f` succeeds or throws. */
export async function withTempDir<T>(tag: string, f: (dir: string) => T | Promise<T>): Promise<T> {
  const dir = makeTempDir(tag);
  try {
    return await f(dir);
  } finally {
    removeTempDir(dir);
  }
}
