import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inlineGatherer, threadGatherer } from '../../src/data/gather.js';
import { ROOT } from '../support/paths.js';
import { tempDir } from '../support/tmp.js';

const root = tempDir('gather');

const SAMPLE = 64;
const images = Uint8Array.from({ length: 100 * SAMPLE }, (_, i) => Math.floor(i / SAMPLE));

describe('batch gathering', () => {
  it.each([
    ['on a worker thread', threadGatherer],
    ['inline', inlineGatherer],
  ])('copies whole samples in the order asked for, %s', async (_, make) => {
    const g = make(images, SAMPLE);
    const order = new Int32Array([7, 0, 99, 7]);
    const out = await g.gather(order);
    await g.close();
    expect(out.length).toBe(order.length * SAMPLE);
    for (let j = 0; j < order.length; j++)
      expect(out.subarray(j * SAMPLE, (j + 1) * SAMPLE).every((v) => v === order[j])).toBe(true);
  });

  it('closing while a batch is in flight rejects it and lets the process go on to exit normally', () => {
    // Its own process: the failure this guards against is the event loop emptying while close() is
    // awaited (the worker's reply to the abandoned batch unref'ed it), which ends Node with code 13.
    const script = join(root, 'close-in-flight.mts');
    writeFileSync(
      script,
      [
        `import { threadGatherer } from ${JSON.stringify(join(ROOT, 'src/data/gather.ts'))};`,
        `const g = threadGatherer(new Uint8Array(1000 * 64), 64);`,
        `await g.gather(new Int32Array([1, 2, 3]));`,
        `const abandoned = g.gather(new Int32Array([4, 5, 6])).then(() => 'resolved', (e) => e.message);`,
        `for (let i = 0; i < 5; i++) await Promise.resolve();`,
        `// Block this thread while the worker answers, so its reply is queued when close() starts.`,
        `Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);`,
        `await g.close();`,
        `console.log('closed;', await abandoned);`,
      ].join('\n'),
    );
    const run = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout.trim()).toBe('closed; the data loader was closed');
  });
});
