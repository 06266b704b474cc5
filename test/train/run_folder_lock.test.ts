import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { ConvlabError } from '../../src/ir/errors.js';
import { readCheckpoint } from '../../src/train/checkpoint.js';
import { FILES, LOCK_FILE, lockRunFolder, prepareOut } from '../../src/train/run_folder.js';
import { ROOT } from '../support/paths.js';
import { tempDir } from '../support/tmp.js';

/**
 * Issue #18 case 3: a run directory is locked for a run's life; a second run on it exits 2 naming
 * the holder's pid; a killed holder's lock is taken over; nothing is written through a link; stale
 * temporary files are removed; an earlier run is not overwritten without --resume or --force.
 */

const root = tempDir('lock');
let dirs = 0;
const outDir = () => join(root, `out${dirs++}`);

async function cli(...argv: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (t) => (stdout += `${t}\n`), stderr: (t) => (stderr += `${t}\n`) });
  return { code, stdout, stderr };
}

/** A node process running TypeScript through tsx as a loader (its pid is the node process's own). */
function spawnTs(source: string, args: readonly string[]): ChildProcess & { output: () => string } {
  const script = join(root, `script${dirs++}.mts`);
  writeFileSync(script, source);
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  return Object.assign(child, { output: () => output });
}

const exited = (child: ChildProcess): Promise<number | null> =>
  child.exitCode !== null
    ? Promise.resolve(child.exitCode)
    : new Promise((r) => child.on('exit', (code) => r(code)));

async function until(what: () => boolean, timeoutMs = 120_000): Promise<void> {
  const start = Date.now();
  while (!what()) {
    if (Date.now() - start > timeoutMs) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const CLI_SCRIPT = [
  `import { main } from ${JSON.stringify(join(ROOT, 'src/cli/main.ts'))};`,
  `process.exitCode = await main(process.argv.slice(2));`,
].join('\n');

const HOLD_SCRIPT = [
  `import { lockRunFolder } from ${JSON.stringify(join(ROOT, 'src/train/run_folder.ts'))};`,
  `lockRunFolder(process.argv[2]!);`,
  `console.log('locked');`,
  `setInterval(() => {}, 1000);`,
].join('\n');

function tinySpec(): string {
  const file = join(root, `tiny${dirs++}.json`);
  const nodes = [
    { name: 'conv1', op: 'conv2d', out: 4, kernel: 3, padding: 1 },
    { name: 'relu1', op: 'relu' },
    { name: 'avgpool', op: 'adaptive_avgpool2d', output: 1 },
    { name: 'flatten', op: 'flatten' },
    { name: 'fc', op: 'linear', out: 10 },
  ];
  writeFileSync(file, JSON.stringify({ name: 'tiny', input: [1, 8, 8], nodes }));
  return file;
}

const noTemporaries = (dir: string) => readdirSync(dir).filter((n) => n.endsWith('.tmp'));

describe('the run folder lock', () => {
  it('a second run exits 2 at once naming the live holder; a holder killed with -9 is taken over', async () => {
    const out = outDir();
    const holder = spawnTs(HOLD_SCRIPT, [out]);
    await until(() => holder.output().includes('locked') || holder.exitCode !== null);
    expect(holder.output()).toContain('locked');
    const started = performance.now();
    let error: unknown;
    try {
      lockRunFolder(out);
    } catch (e) {
      error = e;
    }
    const ms = performance.now() - started;
    expect(error).toBeInstanceOf(ConvlabError);
    expect((error as ConvlabError).exitCode).toBe(2);
    expect((error as Error).message).toBe(
      `--out '${out}' is in use by another convlab run (pid ${holder.pid}); wait for it to end, or choose another --out`,
    );
    expect(ms).toBeLessThan(1000);

    holder.kill('SIGKILL');
    await exited(holder);
    expect(existsSync(join(out, LOCK_FILE))).toBe(true); // left behind by the killed holder
    const release = lockRunFolder(out);
    expect(readFileSync(join(out, LOCK_FILE), 'utf8')).toMatch(new RegExp(`^${process.pid} `));
    release();
    expect(existsSync(join(out, LOCK_FILE))).toBe(false);
  }, 180_000);

  it('a lock naming a dead or garbled process is stale and taken over', () => {
    for (const content of ['999999999 -\n', 'garbage', '']) {
      const out = outDir();
      mkdirSync(out);
      writeFileSync(join(out, LOCK_FILE), content);
      const release = lockRunFolder(out);
      expect(readFileSync(join(out, LOCK_FILE), 'utf8')).toMatch(new RegExp(`^${process.pid} `));
      release();
    }
  });

  it('temporary files a killed run left are removed when the next run starts', () => {
    const out = outDir();
    mkdirSync(out);
    for (const name of [`${FILES.checkpoint}.12345.tmp`, `${FILES.model}.999.tmp`, `${LOCK_FILE}.4242.tmp`])
      writeFileSync(join(out, name), 'partial');
    writeFileSync(join(out, 'notes.tmp'), 'mine'); // not convlab's: kept
    const release = lockRunFolder(out);
    expect(readdirSync(out).sort()).toEqual([LOCK_FILE, 'notes.tmp']);
    release();
  });

  it('never writes through a symbolic link', async () => {
    const out = outDir();
    mkdirSync(out);
    const victim = join(root, `victim${dirs++}.txt`);
    writeFileSync(victim, 'precious');
    symlinkSync(victim, join(out, FILES.metrics));
    const run = await cli(
      'train',
      tinySpec(),
      '--data',
      'synthetic:shape=1x8x8,train=64,test=32',
      '--out',
      out,
      '--batch',
      '16',
    );
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/holds metrics\.jsonl as a symbolic link; convlab never writes through it/);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(readFileSync(victim, 'utf8')).toBe('precious');
  });

  it('refuses to overwrite an earlier run without --resume or --force', () => {
    const out = outDir();
    mkdirSync(out);
    writeFileSync(join(out, FILES.model), 'old model');
    writeFileSync(join(out, FILES.metrics), '{"old":1}\n');
    expect(() => prepareOut(out, false)).toThrow(
      /already holds a training run \(metrics\.jsonl, model\.onnx\): replace it with --force, or choose another --out/,
    );
    expect(readFileSync(join(out, FILES.model), 'utf8')).toBe('old model');
    prepareOut(out, false, true);
    expect(existsSync(join(out, FILES.model))).toBe(false);
    lockRunFolder(out)();
  });

  it('a refused run leaves no folder behind', async () => {
    const out = join(outDir(), 'deeper');
    const run = await cli(
      'train',
      tinySpec(),
      '--data',
      'synthetic:shape=1x8x8,train=8',
      '--out',
      out,
      '--batch',
      '64',
    );
    expect(run.code).toBe(2);
    expect(existsSync(out)).toBe(false);
  });
});

describe('concurrent runs on one --out', () => {
  // Long enough (3 x 400 steps) that the winner cannot finish before a loser slowed by a loaded CI
  // machine has even reached the lock.
  const source = 'synthetic:shape=1x8x8,train=6400,test=64';

  it('exactly one runs, the other exits 2 naming its pid; kill -9 then --resume loses nothing', async () => {
    const spec = tinySpec();
    const out = outDir();
    const args = ['train', spec, '--data', source, '--out', out, '--epochs', '3', '--batch', '16'];
    const [a, b] = [spawnTs(CLI_SCRIPT, args), spawnTs(CLI_SCRIPT, args)];
    // The loser stops as soon as it finds the lock; the winner is killed in its second epoch.
    const first = await Promise.race([exited(a).then(() => a), exited(b).then(() => b)]);
    const winner = first === a ? b : a;
    expect(first.exitCode, first.output()).toBe(2);
    expect(first.output().trim()).toBe(
      `convlab train: --out '${out}' is in use by another convlab run (pid ${winner.pid}); wait for it to end, or choose another --out`,
    );
    await until(() => /epoch 2\/3 step/.test(winner.output()) || winner.exitCode !== null);
    expect(winner.exitCode, winner.output()).toBe(null);
    winner.kill('SIGKILL');
    await exited(winner);

    const resumed = await cli(...args, '--resume');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(noTemporaries(out)).toEqual([]);
    expect(existsSync(join(out, LOCK_FILE))).toBe(false);
    const state = readCheckpoint(join(out, FILES.checkpoint)).state;
    expect(state.epoch).toBe(3);
    const lines = readFileSync(join(out, FILES.metrics), 'utf8').trimEnd().split('\n');
    const records = lines.map((l) => JSON.parse(l) as { kind: string; step: number; epoch: number });
    const steps = records.filter((r) => r.kind === 'step').map((r) => r.step);
    expect(steps).toEqual(Array.from({ length: 1200 }, (_, i) => i + 1));
    expect(records.filter((r) => r.kind === 'epoch').map((r) => r.epoch)).toEqual([1, 2, 3]);
  }, 300_000);
});
