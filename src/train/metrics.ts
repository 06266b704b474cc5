import { closeSync, constants, fstatSync, fsyncSync, ftruncateSync, openSync, writeSync } from 'node:fs';

/** The records of metrics.jsonl: one line per training step, one per epoch. */

/** One line of metrics.jsonl per training step. */
export interface StepRecord {
  readonly kind: 'step';
  /** 1-based epoch the step belongs to. */
  readonly epoch: number;
  /** 1-based step over the whole run. */
  readonly step: number;
  /** The batch's mean loss (label smoothing and auxiliary heads included, as optimised). */
  readonly loss: number;
  /** The batch's accuracy (main head, training-mode forward, augmented images). */
  readonly accuracy: number;
  readonly lr: number;
  /** Seconds since the run started (over all sessions of a resumed run). */
  readonly time: number;
}

/** One line of metrics.jsonl per epoch, after its test-set evaluation. */
export interface EpochRecord {
  readonly kind: 'epoch';
  readonly epoch: number;
  /** Steps done by the end of the epoch. */
  readonly step: number;
  /** Mean of the epoch's batch losses and its training accuracy. */
  readonly loss: number;
  readonly accuracy: number;
  /** The learning rate of the epoch's last step. */
  readonly lr: number;
  readonly time: number;
  /** Cross-entropy (no smoothing) and accuracy of the inference model on the whole test split. */
  readonly testLoss: number;
  readonly testAccuracy: number;
  /** Training throughput of the epoch, evaluation excluded. */
  readonly imagesPerSec: number;
}

/**
 * metrics.jsonl, open for appending. A resumed run keeps only the bytes its checkpoint counted:
 * lines written after the checkpoint (a run killed without one) would otherwise appear twice.
 */
export class MetricsLog {
  private constructor(private readonly fd: number) {}

  static open(path: string, resume: boolean, bytes: number): MetricsLog {
    // O_NOFOLLOW: a metrics.jsonl planted as a link to another file is an error, never written through.
    const { O_WRONLY, O_CREAT, O_APPEND, O_TRUNC, O_NOFOLLOW } = constants;
    const fd = openSync(path, O_WRONLY | O_CREAT | O_NOFOLLOW | (resume ? O_APPEND : O_TRUNC), 0o644);
    if (fstatSync(fd).size > bytes) ftruncateSync(fd, bytes);
    return new MetricsLog(fd);
  }

  append(record: StepRecord | EpochRecord): void {
    writeSync(this.fd, `${JSON.stringify(record)}\n`);
  }

  /** Flush to disk; the bytes the log holds (a checkpoint's `metricsBytes`). */
  sync(): number {
    fsyncSync(this.fd);
    return fstatSync(this.fd).size;
  }

  close(): void {
    closeSync(this.fd);
  }
}
