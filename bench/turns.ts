/**
 * What the side-by-side benches share: PyTorch as a peer process timing runs on request
 * (bench/torch_peer.py's --serve loop), engines taking turns so that whatever else the machine does
 * falls on all of them alike, and the printed table.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { median } from '../src/train/timing.js';

const here = dirname(fileURLToPath(import.meta.url));
export const PYTHON = '/usr/bin/python3';

/** Milliseconds of each of `count` runs. */
export async function timed(run: () => Promise<unknown>, count: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await run();
    out.push(performance.now() - t);
  }
  return out;
}

/** A bench/*.py script in --serve mode: `time(k)` runs k batches or steps there and returns their times. */
export class TorchPeer {
  private readonly lines: AsyncIterator<string>;
  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    this.lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  }

  static async start(script: string, args: readonly string[]): Promise<TorchPeer> {
    const child = spawn(PYTHON, [join(here, script), ...args, '--serve']);
    child.stderr.pipe(process.stderr);
    const peer = new TorchPeer(child);
    const first = await peer.lines.next();
    if (first.value !== 'ready') throw new Error(`${script} did not start: ${first.value}`);
    return peer;
  }

  async time(count: number): Promise<number[]> {
    this.child.stdin.write(`${count}\n`);
    const line = await this.lines.next();
    return JSON.parse(line.value as string) as number[];
  }

  stop(): void {
    this.child.stdin.end('\n');
  }
}

/** Runs `count` batches (or steps) and returns each one's milliseconds. */
export type Engine = (count: number) => Promise<number[]>;

/**
 * Warm each engine up, then let them take turns of about a second each for `seconds` (and until the
 * first has `minRuns` timed runs); every timed run of each engine, in order.
 */
export async function inTurns(
  engines: readonly Engine[],
  seconds: number,
  minRuns: number,
): Promise<number[][]> {
  const perTurn: number[] = [];
  for (const run of engines) {
    await run(2);
    perTurn.push(Math.max(1, Math.round(1000 / median(await run(1)))));
  }
  const times: number[][] = engines.map(() => []);
  const start = performance.now();
  while (performance.now() - start < seconds * 1000 || times[0]!.length < minRuns) {
    for (const [i, run] of engines.entries()) times[i]!.push(...(await run(perTurn[i]!)));
  }
  return times;
}

/** A table on stdout: the first column left-aligned, the rest right-aligned. */
export function printTable(header: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((l) => l[i]!.length)));
  for (const l of [header, ...rows]) {
    process.stdout.write(
      `${l.map((c, i) => (i ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ')}\n`,
    );
  }
}
