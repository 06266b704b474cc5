import {
  closeSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConvlabError, fileFailureExitCode } from '../ir/errors.js';

/**
 * A run's output folder (--out): the files a run writes there, and the checks before it starts.
 *
 * One run at a time: a run holds the folder's lock file (`convlab.pid`, its pid and start time)
 * for its whole life. The lock is created with link(2), which fails when the name exists, so two
 * runs started together cannot both take it. A lock whose process is gone (killed with -9) is
 * stale, and the next run takes it over. Under the lock, a run removes the temporary files a
 * killed run left, refuses to write through symbolic links, and refuses to overwrite an earlier
 * run unless told to continue it (--resume) or replace it (--force).
 */

export const FILES = {
  metrics: 'metrics.jsonl',
  checkpoint: 'checkpoint.safetensors',
  model: 'model.onnx',
  weights: 'model.safetensors',
} as const;

export const LOCK_FILE = 'convlab.pid';

const why = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/**
 * Create `dir` and its missing parents one at a time; returns the folders it created. (Node's
 * recursive mkdir loops forever under /proc, and reports ENOENT for a read-only filesystem; one
 * level at a time gives the real error.) `what` names the folder in the message.
 */
export function makeFolder(dir: string, what = `the output folder --out '${dir}'`): string[] {
  const missing: string[] = [];
  for (let p = resolve(dir); !existsSync(p); p = dirname(p)) {
    missing.unshift(p);
    if (dirname(p) === p) break;
  }
  const created: string[] = [];
  for (const p of missing) {
    try {
      mkdirSync(p);
      created.push(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
      const code = why(e);
      const hint =
        code === 'EROFS' ? ' (a read-only filesystem)' : code === 'EACCES' ? ' (permission denied)' : '';
      throw new ConvlabError(`cannot create ${what}: ${code}${hint}`, fileFailureExitCode(e));
    }
  }
  return created;
}

/** This process's start time in clock ticks since boot (/proc/PID/stat field 22), to tell a reused pid apart. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

interface Holder {
  readonly pid: number;
  readonly started: string | undefined;
}

const lockText = (h: Holder): string => `${h.pid} ${h.started ?? '-'}\n`;

function readHolder(path: string): Holder | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const m = /^(\d{1,10}) (\d+|-)\n$/.exec(text);
  return m ? { pid: Number(m[1]), started: m[2] === '-' ? undefined : m[2] } : undefined;
}

/** Whether the process a lock names still runs (the same process, not a later one given its pid). */
function isAlive(h: Holder): boolean {
  try {
    process.kill(h.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const now = startTime(h.pid);
  return h.started === undefined || now === undefined || now === h.started;
}

/** Remove the folders a refused run created, innermost first, while they are empty. */
function removeEmpty(created: readonly string[]): void {
  for (const folder of [...created].reverse()) {
    try {
      rmdirSync(folder);
    } catch {
      return; // not empty: something was written there
    }
  }
}

/** Locks this process holds, by the folder's real path. */
const held = new Map<string, () => void>();

/**
 * Take the folder's lock or exit 2 naming the holder; a stale lock is taken over. Releasing it
 * also removes the folders `created` for the run when they are still empty (a run refused early).
 */
function acquire(dir: string, real: string, created: readonly string[]): void {
  const lock = join(dir, LOCK_FILE);
  const me: Holder = { pid: process.pid, started: startTime(process.pid) };
  const mine = join(dir, `${LOCK_FILE}.${process.pid}.tmp`);
  rmSync(mine, { force: true });
  const fd = openSync(mine, 'wx');
  try {
    writeSync(fd, lockText(me));
  } finally {
    closeSync(fd);
  }
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(mine, lock);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 5) throw e;
      }
      const holder = readHolder(lock);
      if (holder && isAlive(holder)) {
        throw new ConvlabError(
          `--out '${dir}' is in use by another convlab run (pid ${holder.pid}); wait for it to end, or choose another --out`,
        );
      }
      takeOver(lock, holder);
    }
  } finally {
    rmSync(mine, { force: true });
  }
  const release = () => {
    const holder = readHolder(lock);
    if (holder?.pid === process.pid) rmSync(lock, { force: true });
    removeEmpty(created);
    held.delete(real);
    process.off('exit', release);
  };
  held.set(real, release);
  process.on('exit', release);
}

/**
 * Remove a stale lock. It is renamed away first, and put back if what was renamed is not the lock
 * judged stale (another run took it over in between), so a live run's lock is never removed.
 */
function takeOver(lock: string, stale: Holder | undefined): void {
  const aside = `${lock}.${process.pid}.stale.tmp`;
  try {
    renameSync(lock, aside);
  } catch {
    return; // gone already: try to link again
  }
  const moved = readHolder(aside);
  if (moved && stale && (moved.pid !== stale.pid || moved.started !== stale.started)) {
    try {
      linkSync(aside, lock);
    } catch {
      // a third run holds the name now; it is the holder either way
    }
  }
  rmSync(aside, { force: true });
}

/** Temporary files of atomic writes (`NAME.PID.tmp`) left by a killed run; safe to remove under the lock. */
function removeStaleTemporaries(dir: string): void {
  for (const name of readdirSync(dir)) {
    if (/\.\d+(\.stale)?\.tmp$/.test(name) || name.startsWith('.convlab-write-test-')) {
      rmSync(join(dir, name), { force: true });
    }
  }
}

/** The files a run writes must be regular files or absent: never links to somewhere else. */
function refuseLinks(dir: string): void {
  for (const name of Object.values(FILES)) {
    let stat: ReturnType<typeof lstatSync> | undefined;
    try {
      stat = lstatSync(join(dir, name));
    } catch {
      continue;
    }
    if (!stat.isFile()) {
      const what = stat.isSymbolicLink() ? 'a symbolic link' : 'not a regular file';
      throw new ConvlabError(
        `--out '${dir}' holds ${name} as ${what}; convlab never writes through it: remove it or choose another --out`,
      );
    }
  }
}

/**
 * Create `dir` if need be and lock it for this process's run (released when the process exits, or
 * by the function returned). Exit 2 when another live run holds it. Idempotent within a process.
 */
export function lockRunFolder(dir: string): () => void {
  const created = makeFolder(dir);
  if (!statSync(dir).isDirectory()) throw new ConvlabError(`--out '${dir}' is not a folder`);
  const real = realpathSync(dir);
  const already = held.get(real);
  if (already) return already;
  try {
    acquire(dir, real, created);
  } catch (e) {
    removeEmpty(created);
    if (e instanceof ConvlabError) throw e;
    throw new ConvlabError(
      `cannot write into the output folder --out '${dir}': ${why(e)}`,
      fileFailureExitCode(e),
    );
  }
  removeStaleTemporaries(dir);
  return held.get(real)!;
}

/**
 * The output folder is locked for this run and takes files; a fresh run does not overwrite an
 * earlier one unless `force` (whose files it then removes), and a resumed run needs its checkpoint.
 */
export function prepareOut(dir: string, resume: boolean, force = false): void {
  lockRunFolder(dir);
  refuseLinks(dir);
  if (resume) return;
  const earlier = Object.values(FILES).filter((name) => existsSync(join(dir, name)));
  if (earlier.length === 0) return;
  if (!force) {
    const hint = earlier.includes(FILES.checkpoint) ? 'continue it with --resume, ' : '';
    throw new ConvlabError(
      `--out '${dir}' already holds a training run (${earlier.join(', ')}): ${hint}replace it with --force, or choose another --out`,
    );
  }
  for (const name of earlier) rmSync(join(dir, name), { force: true });
}
