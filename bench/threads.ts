/**
 * Threads of a training run, measured: does `--threads T` give T busy compute threads, and do
 * onnxruntime's and oneDNN's (OpenMP's) pools ever spin at once? Runs `convlab train` (dist/, so
 * `npm run build` first) on synthetic data for each backend and thread count, lets it warm up,
 * then reads every thread's CPU time from /proc/PID/task/TID/stat over a window and prints, per
 * run: the CPU cores the process used (CPU seconds / wall seconds), the threads busy more than
 * 20% of the window, and each busy thread's share. Linux only (it reads /proc).
 *
 *   npx tsx bench/threads.ts [--model resnet20] [--threads 1,2] [--backend onednn,onnxruntime]
 *                            [--warmup 20] [--window 20] [--json]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'resnet20' },
    threads: { type: 'string', default: '1,2' },
    backend: { type: 'string', default: 'onednn,onnxruntime' },
    warmup: { type: 'string', default: '20' },
    window: { type: 'string', default: '20' },
    json: { type: 'boolean', default: false },
  },
});

const TICK = 100; // clock ticks per second (USER_HZ on Linux)
const root = join(import.meta.dirname, '..');

/** CPU seconds (user + system) of every thread of `pid`, by thread id. */
function threadTimes(pid: number): Map<number, { name: string; seconds: number }> {
  const out = new Map<number, { name: string; seconds: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(tid), { name, seconds: (Number(fields[11]) + Number(fields[12])) / TICK });
    } catch {
      // the thread ended between listing and reading
    }
  }
  return out;
}

const sleep = (s: number) => new Promise((r) => setTimeout(r, s * 1000));

interface Measurement {
  backend: string;
  threads: number;
  cores: number;
  busy: number;
  alive: number;
  shares: string[];
}

async function measure(backend: string, threads: number): Promise<Measurement> {
  const out = mkdtempSync(join(tmpdir(), 'convlab-threads-'));
  const child = spawn(
    process.execPath,
    [
      join(root, 'bin', 'convlab.js'),
      'train',
      values.model,
      '--data',
      'synthetic:shape=3x32x32,train=20000,test=500',
      '--epochs',
      '50',
      '--batch',
      '128',
      '--backend',
      backend,
      '--threads',
      String(threads),
      '--out',
      out,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  try {
    await sleep(Number(values.warmup));
    if (child.exitCode !== null) throw new Error(`convlab train exited early: ${stderr.trim()}`);
    const before = threadTimes(child.pid!);
    const start = performance.now();
    await sleep(Number(values.window));
    const after = threadTimes(child.pid!);
    const wall = (performance.now() - start) / 1000;
    const shares = [...after]
      .map(([tid, t]) => ({ tid, name: t.name, share: (t.seconds - (before.get(tid)?.seconds ?? 0)) / wall }))
      .sort((a, b) => b.share - a.share);
    const busy = shares.filter((s) => s.share > 0.2);
    return {
      backend,
      threads,
      cores: shares.reduce((sum, s) => sum + s.share, 0),
      busy: busy.length,
      alive: after.size,
      shares: shares
        .filter((s) => s.share > 0.02)
        .map((s) => `${s.name}#${s.tid} ${(100 * s.share).toFixed(0)}%`),
    };
  } finally {
    child.kill('SIGKILL');
    rmSync(out, { recursive: true, force: true });
  }
}

const rows: Measurement[] = [];
for (const backend of values.backend.split(','))
  for (const threads of values.threads.split(',').map(Number)) {
    const m = await measure(backend, threads);
    rows.push(m);
    if (!values.json)
      console.log(
        `${m.backend.padEnd(12)} --threads ${m.threads}: ${m.cores.toFixed(2)} cores, ${m.busy} threads busy >20% (of ${m.alive}): ${m.shares.join(', ')}`,
      );
  }
if (values.json) console.log(JSON.stringify(rows, null, 2));
