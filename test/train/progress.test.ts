import { describe, expect, it } from 'vitest';
import { clock, lineSink, Progress, type ProgressSink } from '../../src/train/progress.js';

describe('progress', () => {
  const ESC = '\u001b';
  const capture = (tty: boolean) => {
    const out: string[] = [];
    const sink: ProgressSink = tty
      ? { tty, columns: 200, write: (t) => out.push(t) }
      : lineSink((l) => out.push(l));
    return { out, progress: new Progress(sink, { epochs: 2, stepsPerEpoch: 20, batch: 8 }) };
  };
  const update = (index: number) => ({ epoch: 1, index, loss: 1.5, accuracy: 0.25, lr: 0.1 });
  const summary = {
    epoch: 1,
    loss: 1,
    accuracy: 0.5,
    testLoss: 0.9,
    testAccuracy: 0.6,
    imagesPerSec: 100,
    time: 75,
  };

  it('prints plain lines, one per tenth of an epoch, when stderr is not a terminal', () => {
    const { out, progress } = capture(false);
    for (let i = 1; i <= 20; i++) progress.step(update(i));
    progress.epoch(summary);
    expect(out).toHaveLength(11);
    expect(out[0]).toMatch(
      /^epoch 1\/2 step 2\/20 loss 1\.5000 acc 25\.00% lr 0\.1 \S+ img\/s ETA \d+:\d\d$/,
    );
    expect(out[10]).toBe(
      'epoch 1/2: train loss 1.0000 acc 50.00%, test loss 0.9000 acc 60.00%, 100 img/s, 1:15 elapsed',
    );
    expect(out.join('')).not.toContain('\r');
    expect(out.join('')).not.toContain(ESC);
  });

  it('redraws one bar in place on a terminal', () => {
    const { out, progress } = capture(true);
    progress.step(update(1));
    progress.step(update(2)); // within 100 ms of the last draw: skipped
    progress.step(update(20)); // the epoch's last step is always drawn
    progress.epoch(summary);
    expect(out).toHaveLength(4);
    expect(out[0]).toMatch(/^\repoch 1\/2 \[=+ +\] 1\/20 loss 1\.5000 .* ETA \d+:\d\d/);
    expect(out[0]!.endsWith(`${ESC}[K`)).toBe(true);
    expect(out[1]).toMatch(/\[={30}\] 20\/20 /);
    expect(out[2]).toBe(`\r${ESC}[K`);
    expect(out[3]).toMatch(/^epoch 1\/2: train loss/);
  });

  it('formats durations', () => {
    expect([clock(5), clock(75), clock(3725), clock(Number.NaN)]).toEqual([
      '0:05',
      '1:15',
      '1:02:05',
      '--:--',
    ]);
  });
});
