/**
 * Training progress on stderr. On a terminal: one bar redrawn in place (at most ten times a second)
 * with the epoch's running loss and accuracy, images/s and the time left. Elsewhere (a log file, a
 * pipe, CI): plain lines, one per tenth of an epoch. Both print one summary line per epoch.
 */

export interface ProgressSink {
  /** True when `write` goes to a terminal that understands '\r' and erase-line. */
  readonly tty: boolean;
  /** Terminal width, for the bar. */
  readonly columns?: number;
  /** Writes text as is (no newline added). */
  write(text: string): void;
}

/** What `streamSink` needs of a stream such as process.stderr. */
export interface TextStream {
  readonly isTTY?: boolean;
  readonly columns?: number;
  write(text: string): unknown;
}

/** A sink for a stream such as process.stderr. */
export const streamSink = (stream: TextStream): ProgressSink => ({
  tty: stream.isTTY === true,
  // A pseudo-terminal without a size reports 0 columns.
  ...(stream.columns !== undefined && stream.columns > 0 && { columns: stream.columns }),
  write: (text) => {
    stream.write(text);
  },
});

/** A sink for a line-oriented logger (the CLI's io.stderr, which adds the newline). */
export const lineSink = (log: (line: string) => void): ProgressSink => {
  let pending = '';
  return {
    tty: false,
    write: (text) => {
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) log(line);
    },
  };
};

export interface StepUpdate {
  /** 1-based epoch. */
  readonly epoch: number;
  /** Steps done in this epoch. */
  readonly index: number;
  /** Mean loss and accuracy over the epoch so far. */
  readonly loss: number;
  readonly accuracy: number;
  readonly lr: number;
}

export interface EpochSummary {
  readonly epoch: number;
  readonly loss: number;
  readonly accuracy: number;
  readonly testLoss: number;
  readonly testAccuracy: number;
  readonly imagesPerSec: number;
  /** Seconds of the whole run so far. */
  readonly time: number;
}

/** 75 -> "1:15", 3725 -> "1:02:05". */
export function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.max(0, Math.round(seconds));
  const two = (n: number) => String(n).padStart(2, '0');
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}:${two(m)}:${two(s % 60)}` : `${m}:${two(s % 60)}`;
}

const percent = (x: number) => `${(100 * x).toFixed(2)}%`;
/** A learning rate in at most 8 characters: 0.1, 0.0133, 6.42e-5. */
const rate = (lr: number) =>
  lr >= 1e-3 || lr === 0 ? String(Number(lr.toPrecision(3))) : lr.toExponential(2);

export class Progress {
  private readonly started = performance.now();
  private stepsDone = 0;
  /** Recent (time, images) pairs for images/s. */
  private readonly window: number[] = [];
  private lastDraw = 0;
  private drawn = false;
  private barWidth: number | undefined;

  constructor(
    private readonly sink: ProgressSink,
    private readonly run: {
      readonly epochs: number;
      readonly stepsPerEpoch: number;
      readonly batch: number;
    },
  ) {}

  /** After every training step. */
  step(u: StepUpdate): void {
    const now = performance.now();
    this.stepsDone++;
    this.window.push(now);
    if (this.window.length > 20) this.window.shift();
    const { stepsPerEpoch } = this.run;
    const last = u.index === stepsPerEpoch;
    if (this.sink.tty) {
      if (now - this.lastDraw < 100 && !last) return;
      this.lastDraw = now;
      this.drawn = true;
      const text = this.line(u, true);
      const width = this.sink.columns ?? 100;
      this.sink.write(`\r${text.length > width - 1 ? text.slice(0, width - 1) : text}\x1b[K`);
      return;
    }
    const tenth = Math.max(1, Math.round(stepsPerEpoch / 10));
    if (u.index % tenth === 0 || last) this.sink.write(`${this.line(u, false)}\n`);
  }

  /** Before the test-set evaluation that ends an epoch. */
  evaluating(epoch: number): void {
    if (this.sink.tty) {
      this.clear();
      this.sink.write(`epoch ${epoch}/${this.run.epochs}: evaluating on the test set...`);
      this.drawn = true;
    }
  }

  epoch(s: EpochSummary): void {
    this.clear();
    this.sink.write(
      `epoch ${s.epoch}/${this.run.epochs}: train loss ${s.loss.toFixed(4)} acc ${percent(s.accuracy)}, ` +
        `test loss ${s.testLoss.toFixed(4)} acc ${percent(s.testAccuracy)}, ` +
        `${s.imagesPerSec.toFixed(0)} img/s, ${clock(s.time)} elapsed\n`,
    );
  }

  /** A message on its own line. */
  note(text: string): void {
    this.clear();
    this.sink.write(`${text}\n`);
  }

  private clear(): void {
    if (this.sink.tty && this.drawn) this.sink.write('\r\x1b[K');
    this.drawn = false;
  }

  private imagesPerSec(): number {
    const w = this.window;
    if (w.length < 2) return Number.NaN;
    return ((w.length - 1) * this.run.batch) / ((w[w.length - 1]! - w[0]!) / 1000);
  }

  private eta(u: StepUpdate): number {
    const { epochs, stepsPerEpoch } = this.run;
    const remaining = epochs * stepsPerEpoch - ((u.epoch - 1) * stepsPerEpoch + u.index);
    // The session's own pace, evaluations included, so the estimate covers them too.
    const perStep = (performance.now() - this.started) / 1000 / this.stepsDone;
    return remaining * perStep;
  }

  private line(u: StepUpdate, bar: boolean): string {
    const { epochs, stepsPerEpoch } = this.run;
    const speed = this.imagesPerSec();
    const where = `${bar ? '' : 'step '}${u.index}/${stepsPerEpoch}`;
    const rest =
      `loss ${u.loss.toFixed(4)} acc ${percent(u.accuracy)} lr ${rate(u.lr)} ` +
      `${Number.isFinite(speed) ? speed.toFixed(0) : '-'} img/s ETA ${clock(this.eta(u))}`;
    const text = `epoch ${u.epoch}/${epochs} ${where} ${rest}`;
    // The bar takes what the terminal has left (with room for the figures to grow), up to 30
    // characters, fixed on the first draw so it does not jitter; none on a narrow terminal.
    this.barWidth ??= Math.min(30, (this.sink.columns ?? 100) - 1 - text.length - 3 - 6);
    const width = bar ? this.barWidth : 0;
    if (width < 5) return text;
    const filled = Math.round((width * u.index) / stepsPerEpoch);
    return `epoch ${u.epoch}/${epochs} [${'='.repeat(filled)}${' '.repeat(width - filled)}] ${where} ${rest}`;
  }
}
